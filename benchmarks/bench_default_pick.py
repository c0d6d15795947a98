"""What counting every face costs the default pick: `interp align PHOTO` on a big photo with one big face.

Usage: python benchmarks/bench_default_pick.py --baseline DIR [--mp 24 48] [--runs 3]

DIR holds another tree of the project (e.g. `git archive 2c5b09e | tar -x -C DIR`), whose default pick skipped
the second, finer search when the first found one face. Each photo (3:2, noisy grey, one test photo's face with its
surroundings pasted with dlib's box a quarter of the height wide, JPEG) is aligned by
`python -m interp_cli align PHOTO -o out.png --size 256 -q` with each tree in turn, `--runs` times, baseline and
this tree alternating; prints each run's wall time and each pair's ratio (this tree / baseline), then the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.bench_small_faces import face_patches  # noqa: E402


def one_face_photo(megapixels: float, path: Path) -> None:
    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(width / 1.5)
    rng = np.random.default_rng(0)
    canvas = Image.fromarray(rng.normal(128, 12, (height, width, 3)).clip(0, 255).astype(np.uint8))
    side = height // 2  # the patch is twice dlib's box
    canvas.paste(face_patches()[0].resize((side, side), Image.Resampling.LANCZOS), ((width - side) // 2, height // 4))
    canvas.save(path, quality=90)


def align_wall(tree: Path, photo: Path, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    run_child([sys.executable, "-m", "interp_cli", "align", str(photo), "-o", str(out), "--size", "256", "-q"],
              env=env, check=True, cwd=tree)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--mp", type=float, nargs="+", default=[24, 48])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for megapixels in args.mp:
            photo = Path(tmp) / f"one{megapixels:g}.jpg"
            one_face_photo(megapixels, photo)
            ratios = []
            for run in range(args.runs):
                base = align_wall(args.baseline.resolve(), photo, Path(tmp) / "base.png")
                now = align_wall(ROOT, photo, Path(tmp) / "now.png")
                ratios.append(now / base)
                print(f"{megapixels:g} MP run {run + 1}: baseline {base:.2f} s, this tree {now:.2f} s, "
                      f"ratio {now / base:.2f}", flush=True)
            print(f"{megapixels:g} MP: ratio median {statistics.median(ratios):.2f} "
                  f"(min {min(ratios):.2f}, max {max(ratios):.2f})", flush=True)


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_default_pick"))
