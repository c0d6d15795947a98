"""What a tuned-weights cache hit costs now that a hit sweeps dead writers' temps from tuned/, against a tree
without the sweep (a `git archive` of the code before it), timed in the same run.

    .venv/bin/python benchmarks/bench_tuned_hit.py --baseline /tmp/old-tree --repeat 15 --entries 20

A cache dir holds `--entries` demo-sized entries (10.6 MB each; the bound raised to keep them), one of them the
entry looked up. Each round starts a fresh process per tree, alternated so that drift hits both (the sweep runs
once per process, so only a process's first lookup pays it): it loads the demo model, then times
`TunedCache.load(key, generator)`, the hit a `--tune` morph makes (the listing for the bound, the sweep, the
read of the entry, the copy of the generator). Prints min / median / max per tree and the medians' ratio, and
the sweep alone, timed once more in this tree's process after its hit (the per-process memo cleared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.spread import spread, versus  # noqa: E402

_HIT = """
import json, sys, time
from interp_cli.session import Session
from interp_cli.tune import TunedCache
base = Session("demo").model.generator
cache = TunedCache(sys.argv[1])
started = time.perf_counter()
tuned = cache.load("k0", base)
hit = time.perf_counter() - started if tuned is not None else None
sweep = None
try:
    from interp_cli import files
    files._cleaned.clear()  # as in a new process: the sweep alone, as the hit above paid it (this tree only)
    started = time.perf_counter()
    files.clean_stale_temps(sys.argv[1])
    sweep = time.perf_counter() - started
except AttributeError:
    pass
print(json.dumps([hit, sweep]))
"""

_FILL = """
import sys
from interp_cli.session import Session
from interp_cli.tune import TunedCache
base = Session("demo").model.generator
cache = TunedCache(sys.argv[1])
for n in range(int(sys.argv[2])):
    cache.put(f"k{n}", base)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="a tree of the code without the sweep on a hit")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--entries", type=int, default=20)
    args = parser.parse_args()
    trees = {"this": str(ROOT), "baseline": str(Path(args.baseline).resolve())}
    with tempfile.TemporaryDirectory(prefix="bench_tuned_hit.") as scratch:
        folder = Path(scratch, "tuned")
        env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_TUNE_CACHE_MB=str(20 * (args.entries + 1)))
        subprocess.run([sys.executable, "-c", _FILL, str(folder), str(args.entries)], check=True,
                       env={**env, "PYTHONPATH": trees["this"]})
        times: dict[str, list[float]] = {label: [] for label in trees}
        sweeps: list[float] = []
        for round_ in range(args.repeat):
            order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for label in order:
                done = subprocess.run([sys.executable, "-c", _HIT, str(folder)], check=True, capture_output=True,
                                      text=True, env={**env, "PYTHONPATH": trees[label]})
                seconds, sweep = json.loads(done.stdout)
                if seconds is None:
                    raise SystemExit(f"{label}: the entry was not found")
                times[label].append(seconds)
                if label == "this":
                    sweeps.append(sweep)
        print(f"a tuned-weights cache hit, {args.entries} entries in tuned/, {args.repeat} processes per tree")
        print(versus(times, "{:.1f}", scale=1e3, unit="ms"))
        alone = spread(sweeps, "{:.3f}", scale=1e3)
        print(f"the sweep alone (clean_stale_temps of tuned/, nothing to remove): {alone} ms")


if __name__ == "__main__":
    main()
