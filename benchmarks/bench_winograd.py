"""Per-shape timings behind the Winograd window in interp_cli/models/winograd.py.

    .venv/bin/python benchmarks/bench_winograd.py [--repeats N]

For each stride-1 3x3 conv shape the networks run (one image, in == out channels unless
shown), the median ms of oneDNN's direct conv in NHWC and NCHW and of NNPACK's Winograd
(NCHW), interleaved so machine drift hits all three alike, and whether `winograd.applies`
picks NNPACK for it. Also the NHWC -> NCHW transpose a layout change would cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as the CLI runs

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from interp_cli.models import winograd

# (in channels, out channels, px): generator 3x3 layers from 32 px up, then the encoder's
SHAPES = [(512, 512, 32), (512, 512, 64), (256, 256, 128), (128, 128, 256), (64, 64, 512), (32, 32, 1024),
          (64, 64, 256), (64, 64, 128), (64, 128, 128), (128, 128, 64), (128, 256, 64), (256, 256, 32),
          (512, 512, 16), (32, 32, 128)]


def time_shape(cin: int, cout: int, px: int, repeats: int) -> tuple[dict, str]:
    """Median ms of each way to run the conv (and of the transpose), and what interp uses."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, cin, px, px, generator=gen)
    w = torch.randn(cout, cin, 3, 3, generator=gen) / (3 * cin ** 0.5)
    x_nhwc = x.contiguous(memory_format=torch.channels_last)
    runs = {"nhwc": lambda: F.conv2d(x_nhwc, w, padding=1), "nchw": lambda: F.conv2d(x, w, padding=1),
            "nnpack": lambda: winograd.conv3x3(x, w), "transpose": lambda: x_nhwc.contiguous()}
    times: dict = {k: [] for k in runs}
    for fn in runs.values():
        fn()
    for _ in range(repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return ms, "Winograd" if winograd.applies(x, cin) else "direct"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if not winograd.nnpack_ready():
        print("NNPACK is not usable on this CPU: the direct conv is always used.")
        return 0
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ms per conv, median of {args.repeats}")
    print(f"{'in->out @ px':>16} {'oneDNN NHWC':>12} {'oneDNN NCHW':>12} {'NNPACK':>8} {'NHWC->NCHW':>11}  used")
    for cin, cout, px in SHAPES:
        ms, used = time_shape(cin, cout, px, args.repeats)
        print(f"{f'{cin}->{cout} @ {px}':>16} {ms['nhwc']:12.2f} {ms['nchw']:12.2f} {ms['nnpack']:8.2f} "
              f"{ms['transpose']:11.2f}  {used}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
