"""Where the likeness warning's threshold sits, and what the likeness report costs.

The morph reports, per input photo, PSNR and SSIM of the rendered code against the crop the
encoder saw (`interp_cli/likeness.py`) and warns below `POOR_PSNR_DB`. This script runs the
CLI's own path (`Session.encode_image`, `Session.likeness`) on the shipped demo model for

- held-out demo faces (`weights/demo_faces.py`, data-set seed 1, never seen in training): what
  a good inversion scores;
- non-face images: uniform and blurred noise, stripes, checkerboards, flat colours, gradients,
  and face-free patches of real photos from the repository (backgrounds, clothes);
- real face photos (the examples' news photos, whole): a domain the cartoon model never saw;

and prints each group's PSNR / SSIM distribution and how many fall under the threshold. Then it
times the report's cost in a morph (the metrics of the morph's own end frames), and what rendering
the codes again cost before, against one frame's render, at 64 px (demo) and at 1024 px (a
random-weight FFHQ-size generator, as the CLI renders on this CPU).

    .venv/bin/python benchmarks/bench_likeness.py               # ~1-2 min on 2 cores
    .venv/bin/python benchmarks/bench_likeness.py --faces 50 --skip-1024
    .venv/bin/python benchmarks/bench_likeness.py --cost-only --repeats 7   # the report's cost only
    .venv/bin/python benchmarks/bench_likeness.py --identity-cost --repeats 5  # its identity part at 1024

`--identity-cost`: what the report's identity (dlib, `interp_cli/identity.py`) adds at 1024 px, where
a real face is in both images: two aligned 1024 px photo crops (Obama, Biden) measured against each
other, as a two-photo report measures crop against reconstruction, next to PSNR + SSIM of the same
pairs and one 1024 px frame of a random-weight generator (batch 1), interleaved; the same again with
the crops' descriptors remembered (a batch meeting the photos in another row); and once, the first
call, which loads dlib's models.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the interp command sets it (see benchmarks/bench.py)

import numpy as np
import torch
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interp_cli import likeness  # noqa: E402
from interp_cli.malloc import keep_freed_memory  # noqa: E402
from interp_cli.models.e4e import preprocess  # noqa: E402
from interp_cli.pipeline import Session  # noqa: E402
from interp_cli.render import to_uint8  # noqa: E402
from weights import demo_faces  # noqa: E402

PHOTOS = [ROOT / "tests/data/faces/obama_speech.jpg", ROOT / "tests/data/faces/two_people.jpg",
          ROOT / "examples/biden.jpg", ROOT / "examples/obama.jpg"]


def non_faces(size: int = 256, seed: int = 0) -> dict[str, Image.Image]:
    rng = np.random.default_rng(seed)
    out: dict[str, Image.Image] = {}
    for i in range(5):
        out[f"noise uniform {i}"] = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        blurred = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        out[f"noise blurred r{2 + 3 * i}"] = blurred.filter(ImageFilter.GaussianBlur(2 + 3 * i))
    yy, xx = np.mgrid[0:size, 0:size]
    colours = [(230, 230, 230), (20, 20, 20), (200, 60, 40), (40, 90, 200)]
    for period in (8, 16, 32, 64):
        for name, phase in (("horizontal", yy), ("vertical", xx), ("diagonal", xx + yy)):
            on = ((phase // (period // 2)) % 2).astype(bool)
            a, b = colours[period % 4], colours[(period // 8) % 4]
            out[f"stripes {name} {period}px"] = Image.fromarray(np.where(on[..., None], a, b).astype(np.uint8))
        board = (((xx // (period // 2)) + (yy // (period // 2))) % 2).astype(bool)
        out[f"checkerboard {period}px"] = Image.fromarray(np.where(board[..., None], 255, 0).repeat(3, -1)
                                                          .astype(np.uint8))
    for rgb in ((128, 128, 128), (0, 0, 0), (255, 255, 255), (224, 172, 125)):
        out[f"flat {rgb}"] = Image.new("RGB", (size, size), rgb)
    ramp = np.linspace(0, 255, size)
    out["gradient horizontal"] = Image.fromarray(np.stack([np.tile(ramp, (size, 1))] * 3, -1).astype(np.uint8))
    out["gradient vertical"] = Image.fromarray(np.stack([np.tile(ramp[:, None], (1, size))] * 3, -1).astype(np.uint8))
    # Face-free squares of real photos: the corners and the bottom edge (backgrounds, suits, flags).
    for photo in PHOTOS:
        image = Image.open(photo).convert("RGB")
        w, h = image.size
        s = min(w, h) // 3
        for where, (x, y) in {"top-left": (0, 0), "top-right": (w - s, 0), "bottom-left": (0, h - s),
                              "bottom-right": (w - s, h - s)}.items():
            out[f"photo patch {photo.stem} {where}"] = image.crop((x, y, x + s, y + s))
    return out


def score(session: Session, images: dict[str, Image.Image]) -> dict[str, dict]:
    results = {}
    for name, image in images.items():
        code = session.encode_image(image)
        target = to_uint8(preprocess(image, session.model.size))[0]
        results[name] = session.likeness([Path(name)], code[None], [target])[0]
    return results


def summary(label: str, results: dict[str, dict]) -> dict:
    p = np.array([r["psnr"] for r in results.values()])
    s = np.array([r["ssim"] for r in results.values()])
    poor = int(sum(r["poor"] for r in results.values()))
    q = np.percentile(p, [0, 5, 50, 95, 100])
    print(f"{label:<28} n={len(p):<4} PSNR min {q[0]:5.1f}  p5 {q[1]:5.1f}  median {q[2]:5.1f}  p95 {q[3]:5.1f}  "
          f"max {q[4]:5.1f} dB | SSIM median {np.median(s):.2f} (min {s.min():.2f}, max {s.max():.2f}) | "
          f"below {likeness.POOR_PSNR_DB:g} dB: {poor}/{len(p)}")
    return {"n": len(p), "poor": poor, "scores": {name: [r["psnr"], r["ssim"]] for name, r in results.items()}}


def time_cost(size: int, repeats: int, session: Session | None = None) -> dict:
    """The report's cost per morph against the morph's cost per frame, timed interleaved.

    A morph of 8 codes rendered at batch 4 whose first and last codes are the two photos' codes:
    the report keeps those two frames as they pass (`pipeline._EndFrames`) and measures PSNR and
    SSIM of each, which is what `morph` does now; "rerender" is what it did before: the two codes
    rendered again as one batch, then measured. `session` gives the demo model; otherwise a
    random-weight generator of `size`.
    """
    from interp_cli.models.stylegan2 import Generator, GeneratorConfig
    from interp_cli.pipeline import _EndFrames
    from interp_cli.render import render_frames

    if session is not None:
        generator = session.model.generator
    else:
        torch.manual_seed(0)
        generator = Generator(GeneratorConfig(size=size)).eval()
    rng = np.random.default_rng(0)
    w = generator.mean_latent(2048).detach().numpy().reshape(1, -1)
    codes = [np.tile(w + 0.5 * rng.standard_normal(w.shape), (generator.n_latent, 1)).astype(np.float32)
             for _ in range(8)]
    ends_codes = np.stack([codes[0], codes[-1]])
    targets = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2)]
    list(render_frames(generator, codes[:4], batch_size=4))  # warm-up
    likeness_s, rerender_s, frame_s = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ends = _EndFrames(ends_codes, targets)
        for _ in ends.keep(render_frames(generator, ends.watch(iter(codes)), batch_size=4)):
            pass
        t1 = time.perf_counter()
        assert sorted(ends.frames) == [0, 1]
        for i, target in enumerate(targets):
            likeness.measure(ends.frames[i], target)
        t2 = time.perf_counter()
        for render, target in zip(render_frames(generator, list(ends_codes), batch_size=4), targets):
            likeness.measure(render, target)
        t3 = time.perf_counter()
        frame_s.append((t1 - t0) / len(codes))  # includes keeping the two frames
        likeness_s.append(t2 - t1)
        rerender_s.append(t3 - t2)
    return {"size": size, "likeness_per_morph_s": likeness_s, "rerender_per_morph_s": rerender_s,
            "frame_s": frame_s}


def time_identity(repeats: int) -> dict:
    """See `--identity-cost` in the module doc."""
    from interp_cli import identity
    from interp_cli.align import align_face
    from interp_cli.models.stylegan2 import Generator, GeneratorConfig
    from interp_cli.render import render_frames

    if not identity.available():
        raise SystemExit("--identity-cost needs the align extra with dlib-bin")
    crops = [np.asarray(align_face(Image.open(ROOT / "tests/data/faces" / name).convert("RGB"),
                                   output_size=1024).image) for name in ("obama.jpg", "biden.jpg")]
    pairs = [(crops[0], crops[1]), (crops[1], crops[0])]
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(size=1024)).eval()
    code = [np.tile(generator.mean_latent(2048).detach().numpy(), (generator.n_latent, 1)).astype(np.float32)]
    t0 = time.perf_counter()
    identity.measure_many(pairs)
    first = time.perf_counter() - t0
    list(render_frames(generator, code, batch_size=1))  # warm-up
    frame_s, metrics_s, identity_s, again_s = [], [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        list(render_frames(generator, code, batch_size=1))
        t1 = time.perf_counter()
        for crop, other in pairs:
            likeness.psnr(other, crop), likeness.ssim(other, crop)
        identity._CROPS.clear()  # a new morph's crops: nothing remembered
        t2 = time.perf_counter()
        identity.measure_many(pairs)  # as the report measures a morph's photos: together
        t3 = time.perf_counter()
        identity.measure_many(pairs)  # a batch row meeting the same photos again
        t4 = time.perf_counter()
        frame_s.append(t1 - t0)
        metrics_s.append(t2 - t1)
        identity_s.append(t3 - t2)
        again_s.append(t4 - t3)
    return {"frame_s": frame_s, "psnr_ssim_s": metrics_s, "identity_s": identity_s, "identity_again_s": again_s,
            "first_call_s": first}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=200, help="held-out demo faces (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (default 3)")
    parser.add_argument("--cost-only", action="store_true", help="only time the report's cost")
    parser.add_argument("--skip-1024", action="store_true", help="skip the 1024 px cost measurement")
    parser.add_argument("--identity-cost", action="store_true", help="only time the identity part at 1024 px")
    parser.add_argument("--json", type=Path, default=None, help="also write every score to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.identity_cost:
        keep_freed_memory()
        c = time_identity(args.repeats)
        frame = np.median(c["frame_s"])

        def spread(values):
            low, mid, high = min(values), np.median(values), max(values)
            return f"{low:.2f} / {mid:.2f} / {high:.2f} s = {mid / frame:.2f} frames"

        print(f"at 1024 px, two photos: identity {spread(c['identity_s'])} (crops met again: "
              f"{spread(c['identity_again_s'])}); PSNR + SSIM {spread(c['psnr_ssim_s'])}; "
              f"a frame {spread(c['frame_s'])}; the first identity call (loading the models too) "
              f"{c['first_call_s']:.2f} s")
        return 0

    keep_freed_memory()  # as the interp command does
    session = Session("demo", "cpu", log=lambda message: None, progress=False)
    print(f"demo model, {session.model.size} px, threshold {likeness.POOR_PSNR_DB:g} dB PSNR")
    report = {}
    if not args.cost_only:
        faces = demo_faces.make_dataset(args.faces, demo_faces.HELDOUT_SEED)
        report = {
            "demo faces": summary("held-out demo faces", score(session, {f"face {i}": Image.fromarray(f)
                                                                         for i, f in enumerate(faces)})),
        }
        others = score(session, non_faces())
        report["non-faces"] = summary("non-face images", others)
        for name, r in sorted(others.items(), key=lambda kv: -kv[1]["psnr"]):
            if not r["poor"]:
                print(f"    not caught: {name}: {r['psnr']:.1f} dB, SSIM {r['ssim']:.2f}")
        photos = score(session, {f"photo {p.stem}": Image.open(p).convert("RGB") for p in PHOTOS})
        report["real photos"] = summary("real face photos (whole)", photos)

    costs = [time_cost(session.model.size, args.repeats, session)]
    if not args.skip_1024:
        costs.append(time_cost(1024, args.repeats))
    for c in costs:
        like, old, frame = (np.array(c[k]) for k in ("likeness_per_morph_s", "rerender_per_morph_s", "frame_s"))
        ratio, old_ratio = like / frame, old / frame
        print(f"likeness at {c['size']} px, per two-photo morph: {np.median(like):.3f} s = {np.median(ratio):.3f} "
              f"frames (min {ratio.min():.3f}, max {ratio.max():.3f}); rendering the codes again, as before: "
              f"{np.median(old_ratio):.2f} frames (min {old_ratio.min():.2f}, max {old_ratio.max():.2f}); a frame "
              f"{np.median(frame):.3f} s at batch 4, n={len(ratio)}")
    report["cost"] = costs
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
