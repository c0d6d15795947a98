"""How long `images.upright_size` (--paste's frame-size check, before the model loads) takes on a 12 MP PNG, with
this checkout and another, each in a process of its own, `--repeats` calls each, interleaved by round.

    nice -n 5 .venv/bin/python benchmarks/bench_upright_size.py --baseline /tmp/old-checkout --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import versus  # noqa: E402

_TIME = """
import json, sys, time
from interp_cli.images import upright_size
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    size = upright_size(sys.argv[1])
    times.append(time.perf_counter() - started)
print(json.dumps({"size": size, "times": times}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (e.g. a git archive of main)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="calls per process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "12mp.png"
        blocks = np.random.default_rng(0).integers(0, 256, (375, 500, 3), dtype=np.uint8)
        Image.fromarray(blocks.repeat(8, 0).repeat(8, 1)).save(photo)  # 4000x3000, compresses as photos do
        times: dict[str, list[float]] = {"this": [], "baseline": []}
        for _ in range(args.rounds):
            for label, tree in (("this", ROOT), ("baseline", args.baseline)):
                done = run_child([sys.executable, "-c", _TIME, str(photo), str(args.repeats)], check=True,
                                 capture_output=True, text=True, cwd=tmp,
                                 env={**os.environ, "PYTHONPATH": str(tree)})
                result = json.loads(done.stdout)
                times[label] += result["times"]
                assert result["size"] == [4000, 3000], result
        print(versus(times, scale=1e3, unit="ms"))


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_upright_size"))
