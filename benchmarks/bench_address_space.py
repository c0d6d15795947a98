"""How much address space (`ulimit -v`, RLIMIT_AS) torch's import and a small morph need, and what interp says below.

    .venv/bin/python benchmarks/bench_address_space.py                   # this Python's torch, to 10 MB
    /tmp/floor/bin/python benchmarks/bench_address_space.py --step-mb 5

For `import torch` and for a 3-frame 64 px demo morph (`--weights demo`, the shipped photos, GIF), each in a fresh
process under the limit, the smallest limit (bisected from 100 MB to 8 GB, to --step-mb) under which it succeeds;
then the morph's stderr's last line at a few limits below that, so the messages a user meets there can be read.
A limit is no time: one figure each, and what a rerun finds may move by a step (the loader's layout varies).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)
MB = 2 ** 20


def _run(limit: int, args: list[str], env: dict) -> subprocess.CompletedProcess:
    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

    return run_child([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600,
                     preexec_fn=limited)


def smallest(args: list[str], env: dict, step: int) -> int:
    low, high = 100 * MB, 8192 * MB
    while high - low > step:
        middle = (low + high) // 2
        if _run(middle, args, env).returncode == 0:
            high = middle
        else:
            low = middle
    return high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step-mb", type=int, default=10)
    options = parser.parse_args()
    step = options.step_mb * MB
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=os.path.join(scratch, "c"),
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        examples = ROOT / "examples"
        morph = ["-m", "interp_cli", str(examples / "demo_a.png"), str(examples / "demo_b.png"), "--weights", "demo",
                 "--steps", "3", "--size", "64", "-q", "-o", os.path.join(scratch, "out.gif")]
        import torch

        print(f"torch {torch.__version__}, Python {sys.version.split()[0]}")
        loads = smallest(["-c", "import torch"], env, step)
        print(f"import torch: needs {loads / MB:.0f} MB of address space")
        morphs = smallest(morph, env, step)
        print(f"demo morph:   needs {morphs / MB:.0f} MB")
        for limit in sorted({max(100 * MB, loads - 200 * MB), loads - step, (loads + morphs) // 2, morphs - step}):
            done = _run(limit, morph, env)
            last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            print(f"  at {limit // 1024} KB: exit {done.returncode}: {last[:200]}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_address_space"))
