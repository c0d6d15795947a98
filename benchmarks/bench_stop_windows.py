"""What holding the stop signals where a thing is made costs (interp_cli/stops.py `deferred`, interp_cli/files.py).

    python benchmarks/bench_stop_windows.py --baseline /tmp/base [--rounds 9] [--number 2000]

(--baseline: another checkout of interp, e.g. a `git archive` of the commit before, timed against this one.)

Each round runs one fresh process per tree (this one, then the baseline, alternating), which times three things
in a folder of its own, `--number` times each, best of 3: an empty `with deferred():` block (a main thread with
Python handlers, as in the CLI), an `atomic_write` of a 4 KB file (temp made, written, committed) and a batch
row's `claimed()` block. Printed: each one's microseconds per call, min / median / max over the rounds, and the
ratio this tree / baseline of each round, as a spread (the VM drifts 10-20%).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from spread import spread  # noqa: E402

from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

_TIMED = """
import json, os, sys, timeit
from interp_cli import files
from interp_cli.stops import deferred
try:
    from interp_cli.claims import claimed
except ImportError:  # a baseline from before claims.py (2026-12-07) kept them in files.py
    claimed = files.claimed

number = int(sys.argv[1])
folder = sys.argv[2]
data = os.urandom(4096)

def empty():
    with deferred():
        pass

def write():
    with files.atomic_write(os.path.join(folder, "out.bin")) as fh:
        fh.write(data)

def claim():
    with claimed(os.path.join(folder, "row.gif")):
        pass

print(json.dumps({name: min(timeit.repeat(work, number=number, repeat=3)) / number * 1e6
                  for name, work in (("deferred", empty), ("atomic_write", write), ("claimed", claim))}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of interp to time against")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    trees = {"this tree": ROOT, "baseline": args.baseline.resolve()}
    seen: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            # The timed writes' folder: this process removes it, also when stopped (a killed child cannot).
            with tempfile.TemporaryDirectory(prefix="bench-stop-windows-") as folder:
                done = run_child([sys.executable, "-c", _TIMED, str(args.number), folder], cwd=tree, check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
            seen[name].append(json.loads(done.stdout))
    for what in ("deferred", "atomic_write", "claimed"):
        here = [each[what] for each in seen["this tree"]]
        there = [each[what] for each in seen["baseline"]]
        print(f"{what:>12}: this tree {spread(here, '{:.1f}')} us, baseline {spread(there, '{:.1f}')} us, "
              f"ratio {spread([a / b for a, b in zip(here, there)], '{:.2f}')}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_stop_windows"))
