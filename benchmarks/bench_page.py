"""Which image format and quality the HTML page (`-o morph.html`, interp_cli/page.py) embeds.

For three sets of frames it encodes every frame as JPEG (Pillow, optimised Huffman tables, 4:2:0 and
4:4:4 chroma) and WebP (Pillow's libwebp, lossy) at several qualities, and prints per setting the
PSNR to the lossless frame (min / median over the frames), the median bytes per frame and the median
encode time. Then it writes the page itself at every --quality the CLI takes and compares its size
with the same frames written as .jpg files at the same JPEG quality (the goal: within 1.5x).

- demo64: the shipped demo model's 60-frame morph of examples/demo_a.png -> demo_b.png, 64 px;
- demo256: the same at --size 256 (as `make demo` writes it);
- photo1024: a 12-frame cross-fade between the FFHQ-aligned 1024 px crops of examples/obama.jpg and
  examples/biden.jpg: real photographic detail at the FFHQ model's size (its weights are not here).

    .venv/bin/python benchmarks/bench_page.py            # ~1 min on 2 cores
    .venv/bin/python benchmarks/bench_page.py --browser /usr/bin/chromium   # + what Chromium shows

With --browser, each page written at the default --quality 8 is opened in that headless Chromium
(Playwright) at every frame, and the frame it draws is compared with the lossless one.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from interp_cli import likeness, pipeline  # noqa: E402
from interp_cli.page import PageWriter, encode_jpeg, jpeg_quality  # noqa: E402
from tests.browser import OFFLINE_ARGS, shown_frame  # noqa: E402


def _quiet(message: str) -> None:
    pass


def frame_sets(scratch: Path) -> dict[str, list[np.ndarray]]:
    sets = {}
    for name, size in (("demo64", None), ("demo256", 256)):
        out = scratch / name
        pipeline.morph([ROOT / "examples/demo_a.png", ROOT / "examples/demo_b.png"], f"{out}/", steps=60,
                       weights="demo", size=size, log=_quiet, progress=False)
        sets[name] = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.glob("frame_*.png"))]
    crops = []
    for photo in ("obama.jpg", "biden.jpg"):
        pipeline.align(ROOT / "examples" / photo, scratch / f"{photo}.png", size=1024, log=_quiet)
        crops.append(np.asarray(Image.open(scratch / f"{photo}.png").convert("RGB"), dtype=np.float32))
    sets["photo1024"] = [np.round(crops[0] * (1 - t) + crops[1] * t).astype(np.uint8) for t in np.linspace(0, 1, 12)]
    return sets


def encoders():
    for q in (75, 85, 90, 95):
        for sub in ("4:2:0", "4:4:4"):
            yield f"JPEG q{q} {sub}", (lambda im, q=q, sub=sub: _jpeg(im, q, sub))
    for q in (75, 85, 90, 95):
        yield f"WebP q{q}", (lambda im, q=q: _save(im, "WEBP", quality=q, method=4))


def _jpeg(image, quality, subsampling):
    return _save(image, "JPEG", quality=quality, subsampling=subsampling, optimize=True)


def _save(image, fmt, **options):
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    return buf.getvalue()


def measure_formats(name: str, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    print(f"\n{name}: {len(frames)} frames of {w}x{h}")
    print(f"{'format':<20} {'PSNR min':>8} {'median':>7} {'bytes/frame':>12} {'encode ms':>10}")
    for label, encode in encoders():
        psnrs, sizes, times = [], [], []
        for frame in frames:
            started = time.perf_counter()
            data = encode(frame)
            times.append((time.perf_counter() - started) * 1000)
            decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            psnrs.append(likeness.psnr(decoded, frame))
            sizes.append(len(data))
        print(f"{label:<20} {min(psnrs):8.2f} {statistics.median(psnrs):7.2f} {statistics.median(sizes):12,.0f} "
              f"{statistics.median(times):10.2f}")


def measure_page(name: str, frames: list[np.ndarray], scratch: Path) -> None:
    print(f"\n{name}: the page against the same frames as .jpg files (JPEG 4:2:0, optimised)")
    print(f"{'--quality':>9} {'JPEG q':>6} {'page bytes':>11} {'jpg files':>10} {'ratio':>6} {'per frame':>10}")
    about = {"inputs": [], "title": name}
    for quality in (0, 5, 8, 10):
        q = jpeg_quality(quality)
        files = sum(len(encode_jpeg(frame, q)) for frame in frames)
        path = scratch / f"{name}-{quality}.html"
        with PageWriter(path, fps=30, quality=quality, about=about) as writer:
            for frame in frames:
                writer.write(frame)
        page = path.stat().st_size
        print(f"{quality:9d} {q:6d} {page:11,d} {files:10,d} {page / files:6.3f} {page / len(frames):10,.0f}")


def measure_browser(executable: str, sets: dict[str, list[np.ndarray]], scratch: Path) -> None:
    from playwright.sync_api import sync_playwright

    print("\nwhat Chromium shows at --quality 8 (JPEG q90), against the lossless frame")
    print(f"{'frames':<10} {'PSNR min':>8} {'median':>7} {'max':>7}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=OFFLINE_ARGS)
        page = browser.new_page()
        for name, frames in sets.items():
            url = (scratch / f"{name}-8.html").as_uri()
            page.goto(f"{url}#frame=0")
            psnrs = []
            for i, frame in enumerate(frames):
                page.evaluate(f"() => {{ location.hash = '#frame={i}'; }}")
                page.wait_for_timeout(20)
                number, shown = shown_frame(page)
                assert number == i, (name, i, number)  # the page followed the fragment
                psnrs.append(likeness.psnr(shown, frame))
            print(f"{name:<10} {min(psnrs):8.2f} {statistics.median(psnrs):7.2f} {max(psnrs):7.2f}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--browser", metavar="PATH", help="a Chromium executable: also measure what it shows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        sets = frame_sets(scratch)
        for name, frames in sets.items():
            measure_formats(name, frames)
        for name, frames in sets.items():
            measure_page(name, frames, scratch)
        if args.browser:
            measure_browser(args.browser, sets, scratch)


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_page"))
