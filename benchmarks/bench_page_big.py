"""A big, long morph as a page, a GIF and an MP4 (`--steps 240 --size 1024`): what each weighs and what
opening and scrubbing it costs in a headless Chromium.

Two sets of 240 frames at 1024 px, each written by interp's own writers as morph.html, morph.gif and morph.mp4:

- demo: the shipped demo model's morph of examples/demo_a.png -> demo_b.png at --size 1024 (a 64 px model
  drawn large: smooth, so it compresses far better than a real one);
- photos: a cross-fade between tests/data/faces/obama.jpg and biden.jpg, cropped square and resized to
  1024 px (real photographic detail, the weight an FFHQ morph has; its weights are not here).

For each file, opened from file:// (the page itself, the GIF and the MP4 in a one-line page), --repeat times
in a fresh tab, it prints min / median / max of:
- first: ms from the navigation's start to the first frame painted (the page and the GIF: the largest
  contentful paint, the <img>; the MP4: its first frame decoded, `loadeddata`);
- ready: ms to scrub-ready (the page: DOMContentLoaded, when its player has run over every frame; the GIF and
  the MP4 are not scrubbable in a page without a player of their own);
- tab MB: the peak resident memory of the tab's renderer process (Linux's VmHWM) once every frame was shown;
- step ms: scrubbing, per step of a sweep over every frame: the page, from the slider's input event to the
  new frame ready to paint (drawn into the player's canvas; before 2026-12-07 an <img>'s `decode()`); the MP4,
  from setting `currentTime` to `seeked` (what a video player's scrub bar does). Over 16.7 ms is a dropped
  frame on a 60 Hz screen.

    .venv/bin/python benchmarks/bench_page_big.py                 # ~3 min on 2 cores
    .venv/bin/python benchmarks/bench_page_big.py --steps 60 --repeat 3

Timings drift 10-20 % on a shared VM: compare the rows of one run (they alternate file by file).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from interp_cli import pipeline  # noqa: E402
from interp_cli.write import open_writer  # noqa: E402
from benchmarks.spread import spread  # noqa: E402
from tests.browser import OFFLINE_ARGS, chromium, chromium_processes, peak_mb  # noqa: E402

# Recorded from the navigation's start, before the page's own scripts run (Playwright's init script is not
# subject to the page's Content-Security-Policy).
_WATCH = """
window.__first = null;
new PerformanceObserver(list => { for (const e of list.getEntries()) window.__first = window.__first ||
    e.renderTime || e.loadTime; }).observe({type: "largest-contentful-paint", buffered: true});
document.addEventListener("loadeddata", () => { window.__first = window.__first || performance.now(); }, true);
"""

# Moves the slider to each frame in `targets` in turn; per move, ms from its input event to the frame ready
# (an <img>'s decode() resolved; the player's canvas drawn, its data-drawn attribute naming the frame).
PAGE_SWEEP = """async (targets) => {
    const slider = document.getElementById("slider"), steps = [];
    const ready = async (i) => {
        const shown = document.getElementById("frame");
        if (shown.tagName === "IMG") return shown.decode();
        if (shown.getAttribute("data-drawn") === String(i)) return;
        await new Promise(done => {
            const watch = new MutationObserver(() => {
                if (shown.getAttribute("data-drawn") === String(i)) { watch.disconnect(); done(); }
            });
            watch.observe(shown, {attributes: true, attributeFilter: ["data-drawn"]});
        });
    };
    for (const i of targets) {
        const t = performance.now();
        slider.value = String(i);
        slider.dispatchEvent(new Event("input"));
        await ready(i);
        steps.push(performance.now() - t);
        await new Promise(requestAnimationFrame);
    }
    return steps;
}"""

_VIDEO_SWEEP = """async (n) => {
    const video = document.querySelector("video"), steps = [];
    for (let i = 1; i < n; i++) {
        const t = performance.now();
        const seeked = new Promise(done => video.addEventListener("seeked", done, {once: true}));
        video.currentTime = (i + 0.5) / 30;
        await seeked;
        steps.push(performance.now() - t);
        await new Promise(requestAnimationFrame);
    }
    return steps;
}"""


def _quiet(message: str) -> None:
    pass


def write_sets(scratch: Path, steps: int) -> dict[str, Path]:
    """Each set's three files, written by interp's writers; returns {set: folder}."""
    folders = {}
    demo = scratch / "demo"
    demo.mkdir()
    for suffix in ("html", "gif", "mp4"):
        pipeline.morph([ROOT / "examples/demo_a.png", ROOT / "examples/demo_b.png"], demo / f"morph.{suffix}",
                       steps=steps, weights="demo", size=1024, log=_quiet, progress=False)
    folders["demo"] = demo
    photos = scratch / "photos"
    photos.mkdir()
    for suffix in ("html", "gif", "mp4"):
        with open_writer(photos / f"morph.{suffix}", fps=30, quality=8) as writer:
            for frame in photo_frames(steps):
                writer.write(frame)
    folders["photos"] = photos
    return folders


def photo_frames(steps: int, size: int = 1024):
    """The "photos" set, one frame at a time: a cross-fade of two real face photos, cropped square, `size` px."""
    ends = []
    for name in ("obama.jpg", "biden.jpg"):
        image = Image.open(ROOT / "tests/data/faces" / name).convert("RGB")
        side = min(image.size)
        image = image.crop((0, 0, side, side)).resize((size, size), Image.Resampling.LANCZOS)
        ends.append(np.asarray(image, dtype=np.float32))
    for t in np.linspace(0, 1, steps):
        yield np.round(ends[0] * (1 - t) + ends[1] * t).astype(np.uint8)


def visit(browser, path: Path, steps: int) -> dict:
    """One fresh tab opening `path` (a page, or a GIF or an MP4 in a one-line page): its numbers."""
    if path.suffix == ".html":
        url = path.as_uri()
    else:
        tag = '<img src="{}">' if path.suffix == ".gif" else '<video src="{}" preload="auto" muted></video>'
        wrapper = path.with_suffix(path.suffix + ".html")
        wrapper.write_text("<!DOCTYPE html>" + tag.format(path.name), encoding="utf-8")
        url = wrapper.as_uri()
    before = chromium_processes()
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    page.add_init_script(_WATCH)
    try:
        page.goto(url, wait_until="load", timeout=120_000)
        first = None
        for _ in range(1200):
            first = page.evaluate("window.__first")
            if first:
                break
            page.wait_for_timeout(50)
        ready = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        if path.suffix == ".html":
            sweep = page.evaluate(PAGE_SWEEP, list(range(1, steps)))
        elif path.suffix == ".mp4":
            sweep = page.evaluate(_VIDEO_SWEEP, steps)
        else:
            sweep = []
        memory = peak_mb(chromium_processes() - before)
    finally:
        context.close()
    return {"first": first, "ready": ready if path.suffix == ".html" else None, "memory": memory, "sweep": sweep}


def _spread(values) -> str:
    values = [v for v in values if v is not None]
    return f"{spread(values, '{:.0f}') if values else '-':>20}"


def arguments(description: str, name: str, fresh: str, parser=None):
    """--steps and --repeat (on `parser`, which may hold more) parsed, and the Chromium to run: this script's and
    bench_page_player.py's."""
    parser = parser or argparse.ArgumentParser()
    parser.description = description
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--steps", type=int, default=240)
    parser.add_argument("--repeat", type=int, default=3, help=f"fresh {fresh} per file (default 3)")
    args = parser.parse_args()
    executable = chromium()
    if executable is None:
        sys.exit(f"{name}: no Chromium on PATH (apt-get install chromium)")
    return args, executable


def main() -> None:
    args, executable = arguments(__doc__, "bench_page_big.py", "tabs")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="interp-bench-page-big-") as scratch:
        started = time.perf_counter()
        folders = write_sets(Path(scratch), args.steps)
        print(f"{args.steps} frames at 1024 px, written in {time.perf_counter() - started:.0f} s; "
              f"min / median / max over {args.repeat} fresh tabs, headless Chromium")
        print(f"{'file':<20} {'MB':>6}   {'first ms':>20}   {'ready ms':>20}   {'tab MB':>20}   "
              f"{'step ms (all sweeps)':>20}  >16.7 ms")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=OFFLINE_ARGS)
            try:
                for name, folder in folders.items():
                    files = [folder / f"morph.{suffix}" for suffix in ("html", "gif", "mp4")]
                    runs = {path: [] for path in files}
                    for _ in range(args.repeat):  # alternated, so drift hits every file alike
                        for path in files:
                            runs[path].append(visit(browser, path, args.steps))
                    for path in files:
                        seen = runs[path]
                        steps = [s for run in seen for s in run["sweep"]]
                        slow = f"{sum(s > 1000 / 60 for s in steps) / len(steps):7.0%}" if steps else ""
                        print(f"{name + '/' + path.name:<20} {path.stat().st_size / 1e6:6.1f}   "
                              f"{_spread(r['first'] for r in seen)}   {_spread(r['ready'] for r in seen)}   "
                              f"{_spread(r['memory'] for r in seen)}   {_spread(steps)}  {slow}")
            finally:
                browser.close()


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_page_big"))
