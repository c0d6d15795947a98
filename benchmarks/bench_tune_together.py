"""Two `--tune` morphs of one pair started together on one cache: the CPU seconds both take, and the wall time of
the one that finishes last, in this tree (the second waits for the first's tuning and reuses it) against a tree
that tunes in both (a `git archive` of the code before the wait), timed in the same run.

    .venv/bin/python benchmarks/bench_tune_together.py --baseline /tmp/old-tree --repeat 3 --tune 50

Each round, per tree (alternated, so drift hits both): a fresh cache dir, then two processes of
`interp demo_a.png demo_b.png --weights demo --tune N -o ...` started at once (the encoding is cached by
neither yet: both encode, as two commands typed together do). CPU is user + system of both processes, from
the kernel's accounting (`os.wait4`); "last" is the wall time of the later of the two to end. Prints min /
median / max per tree and the medians' ratio for each figure, and how many of each tree's runs tuned.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.spread import versus  # noqa: E402

DEMO = [str(ROOT / "examples" / "demo_a.png"), str(ROOT / "examples" / "demo_b.png")]


def together(tree: str, steps: int, scratch: Path) -> tuple[float, float, int]:
    """Two morphs of one pair at once with `tree`'s code: (CPU seconds of both, wall seconds of the later to end,
    how many of the two tuned)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(scratch / "cache"), PYTHONPATH=tree)
    logs = [scratch / f"{n}.err" for n in range(2)]
    started = time.perf_counter()
    children = []
    for n, log in enumerate(logs):
        with open(log, "w") as stderr:  # run in `scratch`: `-m` puts the working folder first on the path
            children.append(subprocess.Popen([sys.executable, "-m", "interp_cli", *DEMO, "--weights", "demo", "--tune",
                                              str(steps), "-o", str(scratch / f"{n}.gif")], env=env,
                                             cwd=scratch, stdout=subprocess.DEVNULL, stderr=stderr))
    cpu, last = 0.0, 0.0
    for child, log in zip(children, logs):
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{tree}: exit {child.returncode}: {log.read_text()}")
        cpu += usage.ru_utime + usage.ru_stime
        last = max(last, time.perf_counter() - started)
    tuned = sum(f"tuning: {steps}/{steps} steps" in log.read_text() for log in logs)
    return cpu, last, tuned


def _options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--baseline", required=True, help="a tree of the code in which both runs tune")
    options.add_argument("--repeat", type=int, default=3, help="rounds, each tree once a round")
    options.add_argument("--tune", type=int, default=50, help="the morphs' --tune steps")
    return options


def main() -> None:
    args = _options().parse_args()
    trees = {"this": str(ROOT), "baseline": str(Path(args.baseline).resolve())}
    cpu: dict[str, list[float]] = {label: [] for label in trees}
    wall: dict[str, list[float]] = {label: [] for label in trees}
    tuned: dict[str, list[int]] = {label: [] for label in trees}
    for round_ in range(args.repeat):
        for label in (trees if round_ % 2 == 0 else reversed(list(trees))):
            with tempfile.TemporaryDirectory(prefix="bench_tune_together.") as scratch:
                seconds, last, count = together(trees[label], args.tune, Path(scratch))
            cpu[label].append(seconds)
            wall[label].append(last)
            tuned[label].append(count)
    print(f"two --tune {args.tune} morphs of one pair at once, {args.repeat} rounds per tree")
    print("CPU seconds, both processes:\n" + versus(cpu, "{:.1f}"))
    print("wall seconds, the later to end:\n" + versus(wall, "{:.1f}"))
    print("runs that tuned, per round: " + ", ".join(f"{label} {counts}" for label, counts in tuned.items()))


if __name__ == "__main__":
    main()
