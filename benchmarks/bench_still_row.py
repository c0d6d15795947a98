"""How long `interp batch` takes to refuse a row naming one photo N times (a still), with this checkout and another.

Such a row (the fuzzer's, or a spreadsheet's fill-down slip) used to decode every input before the names alone said
the morph would be a still. This script writes the row, then runs `interp batch ROW.csv --weights demo --outdir OUT`
with each checkout on PYTHONPATH in turn, `--repeats` times interleaved, and prints each one's wall time
(min / median / max), its exit code and the ratio of the medians.

    nice -n 5 .venv/bin/python benchmarks/bench_still_row.py --baseline /tmp/old-checkout --inputs 200000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import versus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (e.g. a git archive of main)")
    parser.add_argument("--inputs", type=int, default=200_000, help="how many times the row names the photo")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "examples" / "demo_a.png", folder / "a.png")
        (folder / "row.csv").write_text(",".join(["a.png"] * args.inputs) + ",out.gif\n")
        times: dict[str, list[float]] = {"this": [], "baseline": []}
        codes: dict[str, set[int]] = {"this": set(), "baseline": set()}
        for _ in range(args.repeats):
            for label, tree in (("this", ROOT), ("baseline", args.baseline)):
                env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1",
                       "INTERP_CACHE_DIR": str(folder / "cache")}
                started = time.perf_counter()
                done = run_child([sys.executable, "-m", "interp_cli", "batch", "row.csv", "--weights", "demo",
                                  "--outdir", "out"], cwd=folder, env=env, capture_output=True, text=True)
                times[label].append(time.perf_counter() - started)
                codes[label].add(done.returncode)
        print(versus(times))
        print(f"exit codes: {codes}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_still_row"))
