"""What glibc's malloc settings (`interp_cli.malloc.keep_freed_memory`) cost a Python process that goes on after
them: the `interp` command makes them for its own process; `cli.main` in a caller's process once made them too,
and glibc has no call to read a setting back, so they could not be restored on return.

    .venv/bin/python benchmarks/bench_caller_malloc.py            # 5 fresh processes each way, alternating

Each run is a fresh process, with glibc's default malloc or after `keep_freed_memory()`, doing what a caller
might do next: (1) allocate, fill and free 3 x 256 MB NumPy arrays, then read its resident set (VmRSS) above
where it started: memory it holds without using it; (2) the same block filled and freed 10 times, in seconds a
round (fresh pages fault in on every round by default); (3) two threads each making 200,000 small torch tensors
(one malloc arena under the settings, where glibc gives each thread its own). Linux with glibc only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.spread import spread  # noqa: E402

CHILD = """
import sys, threading, time
import numpy as np, torch
sys.path.insert(0, sys.argv[2])
from benchmarks.bench_repeat import rss_mib
from interp_cli.malloc import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
torch.set_num_threads(1)
start = rss_mib()
blocks = [np.ones(256 << 20, np.uint8) for _ in range(3)]
del blocks
held = rss_mib() - start
rounds = []
for _ in range(10):
    t = time.perf_counter()
    block = np.ones(256 << 20, np.uint8)
    del block
    rounds.append(time.perf_counter() - t)
def small():
    for _ in range(200_000):
        torch.empty(64).add_(1)
workers = [threading.Thread(target=small) for _ in range(2)]
t = time.perf_counter()
for w in workers:
    w.start()
for w in workers:
    w.join()
print(held, sorted(rounds)[5], time.perf_counter() - t)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, ...]]] = {"default": [], "kept": []}
    for _ in range(args.runs):
        for mode in results:  # alternating, so the VM's drift falls on both alike
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(ROOT)], capture_output=True, text=True,
                                 check=True).stdout
            results[mode].append(tuple(float(v) for v in out.split()))
    for mode, rows in results.items():
        held, per_round, threads = zip(*rows)
        print(f"{mode:8} RSS held after freeing 768 MB: {spread(held, '{:.0f}')} MiB; a 256 MB block filled and "
              f"freed: {spread(per_round, '{:.1f}', scale=1e3)} ms; 2 threads x 200k small tensors: "
              f"{spread(threads, '{:.2f}')} s")


if __name__ == "__main__":
    main()
