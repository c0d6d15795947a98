"""How long `images.load_image` takes on a large CMYK JPEG with an embedded press profile, and on the same
inks untagged, against an RGB JPEG of the same size decoded in the same run (the baseline ratios are taken
against: this VM drifts 10-20% between runs).

    .venv/bin/python benchmarks/bench_cmyk.py --size 4000x3000 --repeat 7

Prints min / median / max seconds per load and the ratio of each median to the RGB one's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.spread import spread
from interp_cli.images import load_image
from interp_cli.stops import run_script
from tests.icc import cmyk_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the photos (default 4000x3000, 12 MP)")
    parser.add_argument("--repeat", type=int, default=7, help="loads of each photo (default 7)")
    args = parser.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    rng = np.random.default_rng(0)
    # Smooth content (a photo's, not noise), so the JPEG decode costs what a photo's does.
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 4), np.float32)
    inks = np.clip(ramp * rng.uniform(0.3, 1.0, 4) + rng.normal(0, 4, (height, width, 4)), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        photos = {"rgb": Path(folder) / "rgb.jpg", "cmyk untagged": Path(folder) / "untagged.jpg",
                  "cmyk profiled": Path(folder) / "profiled.jpg"}
        Image.fromarray(inks[..., :3], "RGB").save(photos["rgb"], quality=90)
        Image.fromarray(inks, "CMYK").save(photos["cmyk untagged"], quality=90)
        Image.fromarray(inks, "CMYK").save(photos["cmyk profiled"], quality=90, icc_profile=cmyk_profile())
        times: dict[str, list[float]] = {name: [] for name in photos}
        for _ in range(args.repeat):  # interleaved, so drift falls on every photo alike
            for name, path in photos.items():
                started = time.perf_counter()
                load_image(path)
                times[name].append(time.perf_counter() - started)
    base = statistics.median(times["rgb"])
    print(f"{width}x{height}, {args.repeat} loads each: min / median / max seconds, median / rgb's")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"  {name:14} {spread(seconds)}   x{median / base:.2f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_cmyk"))
