"""What recording the model in a `.npy` code costs: the mapping network's digest against one rendered frame.

    .venv/bin/python benchmarks/bench_code_record.py               # a random full-size (1024 px) generator
    .venv/bin/python benchmarks/bench_code_record.py --size 64     # the demo model's size

`interp encode` and `interp mix -o x.npy` append a record of the model that made the code
(`interp_cli.npy.record_bytes`), and every verb that reads a code compares it with its own model's
(`interp_cli.session.w_space`, a sha256 of the mapping network's tensors): once per process. Printed:
min / median / max seconds of that digest and of one frame rendered from a code, over `--repeats`
runs in one process, and their ratio (medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import numpy as np
    import torch

    from benchmarks.bench import random_generator
    from benchmarks.spread import spread
    from interp_cli.render import render_frames
    from interp_cli.session import w_space

    generator = random_generator(args.size, torch.device("cpu"))
    code = np.zeros((generator.n_latent, generator.style_dim), np.float32)
    next(render_frames(generator, [code], batch_size=1))  # warm-up
    rows = {"w_space digest": timed(lambda: w_space(generator), args.repeats),
            "one frame": timed(lambda: next(render_frames(generator, [code], batch_size=1)), args.repeats)}
    for name, seconds in rows.items():
        print(f"{name:>15}: {spread(seconds, '{:8.1f}', scale=1e3)} ms (min / median / max of {args.repeats})")
    ratio = statistics.median(rows["w_space digest"]) / statistics.median(rows["one frame"])
    print(f"digest / frame: {ratio:.4f} (medians), {args.size} px generator")


if __name__ == "__main__":
    main()
