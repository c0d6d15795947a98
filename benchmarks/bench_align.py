"""Time face alignment (detection + landmarks + FFHQ crop) on a ~1000 px photo.

Usage: python benchmarks/bench_align.py [--image PATH] [--long-side 1000] [--size 1024] [--runs 7]

Prints the median wall time per image over the runs, split into its stages, after one warm-up
run (the warm-up pays for loading the landmark model, which happens once per process). CPU time
is printed too: on a busy machine it is the steadier number.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interp_cli.align import align_face, alignment_available  # noqa: E402
from interp_cli.align.detect import dlib_grey, find_faces, haar_boxes  # noqa: E402
from interp_cli.align.ffhq import ffhq_quad, render_aligned  # noqa: E402
from interp_cli.align.landmarks import load_shape_predictor  # noqa: E402


def _timed(fn, *args, **kwargs):
    """(result, wall seconds, process CPU seconds) of fn(*args, **kwargs)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT / "tests/data/faces/obama.jpg"))
    parser.add_argument("--long-side", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024, help="aligned output size")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not alignment_available():
        print("alignment extra not installed: pip install 'interp-cli[align]'")
        return 1

    image = ImageOps.exif_transpose(Image.open(args.image)).convert("RGB")
    scale = args.long_side / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    _, load_seconds, _ = _timed(load_shape_predictor)
    print(f"image {Path(args.image).name} resized to {image.width}x{image.height}, output {args.size}px")
    print(f"landmark model load (once per process): {load_seconds * 1000:.0f} ms")

    predictor = load_shape_predictor()
    rgb = np.asarray(image)
    align_face(image, output_size=args.size)  # warm-up: cascade load, first-call allocations
    stages = {"total align_face": [], "  grey": [], "  haar": [], "  detect+landmarks": [], "  ffhq crop": []}
    cpu_totals = []
    for _ in range(args.runs):
        _, seconds, cpu = _timed(align_face, image, output_size=args.size)
        stages["total align_face"].append(seconds)
        cpu_totals.append(cpu)
        grey, seconds, _ = _timed(dlib_grey, rgb)
        stages["  grey"].append(seconds)
        _, seconds, _ = _timed(haar_boxes, grey)
        stages["  haar"].append(seconds)
        faces, seconds, _ = _timed(find_faces, predictor, grey)
        stages["  detect+landmarks"].append(seconds)
        quad = ffhq_quad(faces[0].landmarks)
        _, seconds, _ = _timed(render_aligned, rgb, quad, args.size)
        stages["  ffhq crop"].append(seconds)
    for stage, values in stages.items():
        print(f"{stage:20s} median {statistics.median(values) * 1000:7.1f} ms  (min {min(values) * 1000:.1f})")
    print(f"{'total CPU time':20s} median {statistics.median(cpu_totals) * 1000:7.1f} ms (all threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
