"""What a morph costs a Python caller whose process holds many objects of its own: `E4EModel.drop_encoder` once
ran a full garbage collection per morph, which walks every object of the process (the `interp` command freezes
its own, `interp_cli/malloc.py`; a caller's are not frozen).

    .venv/bin/python benchmarks/bench_caller_morphs.py --baseline /tmp/base   # /tmp/base: another tree

Each round is a fresh process per tree (this one, then --baseline's, alternating) that makes `--objects` small
dicts (a caller's own data), then morphs examples/demo_a.png into demo_b.png with `weights="demo", steps=2,
cache=False` `--morphs` times through `interp_cli.pipeline.morph`; the first morph (model load, warm-up) is
dropped. Reported: CPU seconds per morph, min / median / max over every kept morph of every round.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import spread  # noqa: E402

CHILD = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from interp_cli import pipeline
caller = [{"row": i, "name": str(i)} for i in range(int(sys.argv[2]))]
out = sys.argv[5]
examples = os.path.join(sys.argv[3], "examples")
for i in range(int(sys.argv[4])):
    t = time.process_time()
    pipeline.morph([os.path.join(examples, "demo_a.png"), os.path.join(examples, "demo_b.png")],
                   os.path.join(out, f"m{i}.gif"), weights="demo", steps=2, cache=False)
    print(time.process_time() - t)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout of interp to time against")
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--morphs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.morphs < 2:  # the first is a warm-up, not timed: none were left, and spread() failed on them
        parser.error(f"--morphs {args.morphs}: at least 2 (the first warms up and is not counted)")
    trees = {"this tree": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    times: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():  # alternating, so the VM's drift falls on both alike
            # Run from a temp folder: `python -c` imports the working folder's package ahead of sys.path.
            # The morphs' GIFs go to a folder this process removes, also when stopped (a killed child cannot).
            with tempfile.TemporaryDirectory(prefix="bench-caller-morphs-") as gifs:
                out = run_child([sys.executable, "-c", CHILD, str(tree), str(args.objects), str(ROOT),
                                 str(args.morphs), gifs], capture_output=True, text=True, check=True,
                                cwd=Path(sys.prefix), env={"HF_HUB_OFFLINE": "1", "PATH": ""}).stdout
            times[name] += [float(v) for v in out.split()[1:]]
    for name, values in times.items():
        print(f"{name:10} a 2-step demo morph with {args.objects:,} of the caller's objects alive: "
              f"{spread(values)} s CPU ({len(values)} morphs)")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_caller_morphs"))
