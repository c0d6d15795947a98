"""What finding the weights in the HF cache costs a run, and what looking for leftovers of killed downloads adds.

    python benchmarks/bench_cached_weights.py [--calls 3000] [--repeats 6] [--against /tmp/base]

Every morph resolves its weights first: a hub preset found in the HF cache is `weights.resolve_weights` without a
request. Since 2026-12-06 that also lists the file's `blobs/` folder for the partial files of killed downloads
(`hub_download._remove_abandoned_partials`). Each round, a fresh process per checkout (this one, and `--against`'s in
turn, so drift hits both alike) fills a fresh cache from tests/hub_server.py, then times CALLS resolves
(`verify=False`: the hash is remembered anyway); printed: microseconds per call, min/median/max over REPEATS rounds,
and the ratio now / base per round.

    python benchmarks/bench_cached_weights.py --partials 3   # with 3 recent partial files there (listed, kept)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import spread  # noqa: E402

# One round in a process of its own, with CHECKOUT first on sys.path: seconds per resolve of a cached hub preset.
_ROUND = """
import os, sys, time
from pathlib import Path
checkout, calls, partials, home = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
sys.path.insert(0, checkout)
os.environ.update(HF_HOME=str(home / "hf"), INTERP_CACHE_DIR=str(home / "interp"))
os.environ.pop("HF_HUB_OFFLINE", None)
from tests.hub_server import LocalHub
hub = LocalHub()
payload = os.urandom(3_000_000)
sha256 = hub.put("someone/tiny", "ckpt/tiny.pt", payload)
os.environ["HF_ENDPOINT"] = hub.endpoint
from interp_cli import weights
weights.PRESETS["tiny"] = weights.Preset("tiny", "someone/tiny", "ckpt/tiny.pt", None, sha256, len(payload), "", "")
blob = weights.resolve_weights("tiny", progress=False).path.resolve()
for number in range(partials):
    (blob.parent / f"{blob.name}.{number:08x}.incomplete").write_bytes(b"x")
started = time.perf_counter()
for _ in range(calls):
    weights.resolve_weights("tiny", progress=False, verify=False)
print((time.perf_counter() - started) / calls)
hub.close()
"""


def one_round(checkout: Path, calls: int, partials: int) -> float:
    # The round's HF and interp caches: this process removes them, also when stopped (a killed round cannot).
    with tempfile.TemporaryDirectory(prefix="bench-cached-weights-") as home:
        done = run_child([sys.executable, "-c", _ROUND, str(checkout), str(calls), str(partials), home],
                         capture_output=True, text=True, check=True, timeout=600)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--partials", type=int, default=0, help="recent partial files put beside the blob")
    parser.add_argument("--against", type=Path, help="a base checkout, timed in turns with this one")
    args = parser.parse_args()
    now, base = [], []
    for _ in range(args.repeats):
        if args.against is not None:
            base.append(one_round(args.against, args.calls, args.partials))
        now.append(one_round(ROOT, args.calls, args.partials))
    print(f"this checkout: {spread(now, '{:.0f}', scale=1e6)} us per resolve (min / median / max)")
    if base:
        print(f"{args.against}: {spread(base, '{:.0f}', scale=1e6)} us per resolve")
        print(f"now / base per round: {spread([n / b for n, b in zip(now, base)], '{:.2f}')}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_cached_weights"))
