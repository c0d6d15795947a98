"""Memory of a Python caller that morphs many times in one process: does it grow with the count?

    .venv/bin/python benchmarks/bench_repeat.py                 # 20 demo morphs each way, 64 px
    .venv/bin/python benchmarks/bench_repeat.py --weights /tmp/bench/e4e_random_1024.pt --count 6 --steps 8
    .venv/bin/python benchmarks/bench_repeat.py --runs 5 --refine 2 --tune 2  # 5 fresh processes, the ratios' spread

Three loops in one process, one after another, over the two shipped demo photos (or any `--inputs`):
`morph()` with no session (each call loads the model), `morph(session=s)` on one Session, and
`Session.morph_frames` drained. After each call the process's resident set (VmRSS) is read; per loop it
prints the RSS after its first call, after its last, and the largest step between consecutive calls
(min / median / max). A loop that leaks grows by about the same step each call; one that does not
levels off after its first call or two (allocator caches, the latent cache's reads), so each loop also
prints the ratio of the RSS after its last call to that after its second. `--runs N` runs the whole script
N times, each in a fresh process, and prints each loop's ratio as min / median / max over the runs. Every
call passes cache=False, so every call encodes (and tunes, with `--tune`). Linux only (/proc/self/status).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import spread  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="demo")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--inputs", nargs=2, default=[str(ROOT / "examples" / "demo_a.png"),
                                                     str(ROOT / "examples" / "demo_b.png")])
    parser.add_argument("--refine", type=int, default=0)
    parser.add_argument("--tune", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1, help="fresh processes, each running every loop")
    parser.add_argument("--json", action="store_true", help="one JSON line of each loop's RSS after each call")
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count must be at least 2 (the ratio is against the second call)")
    if args.runs > 1:
        return over_runs(args)

    from interp_cli.pipeline import Session, morph

    options = dict(steps=args.steps, cache=False, align=False, refine=args.refine, tune=args.tune)
    every = {}
    with tempfile.TemporaryDirectory() as out:
        session = Session(args.weights, "cpu")
        loops = {
            "morph() alone": lambda i: morph(args.inputs, f"{out}/a{i}.gif", weights=args.weights, device="cpu",
                                             **options),
            "morph(session=)": lambda i: morph(args.inputs, f"{out}/b{i}.gif", session=session, **options),
            "morph_frames": lambda i: sum(1 for _ in session.morph_frames(args.inputs, **options)),
        }
        for name, call in loops.items():
            seen = []
            for i in range(args.count):
                call(i)
                gc.collect()
                seen.append(rss_mib())
            every[name] = seen
            if args.json:
                continue
            steps = [b - a for a, b in zip(seen, seen[1:])]
            print(f"{name:16s} RSS after call 1 {seen[0]:7.1f} MiB, after call {args.count} {seen[-1]:7.1f} MiB "
                  f"({seen[-1] / seen[1]:.3f}x call 2's); step between calls {spread(steps, '{:+.1f}')} MiB "
                  f"(min / median / max)", flush=True)
    if args.json:
        print(json.dumps(every))


def over_runs(args) -> None:
    """The script `args.runs` times in fresh processes: per loop, RSS after the last call / after the second."""
    command = [sys.executable, __file__, "--json", "--runs", "1", "--weights", args.weights, "--count",
               str(args.count), "--steps", str(args.steps), "--refine", str(args.refine), "--tune", str(args.tune),
               "--inputs", *args.inputs]
    ratios: dict[str, list[float]] = {}
    firsts: dict[str, list[float]] = {}
    for _ in range(args.runs):
        run = run_child(command, capture_output=True, text=True, check=True)
        for name, seen in json.loads(run.stdout.strip().splitlines()[-1]).items():
            ratios.setdefault(name, []).append(seen[-1] / seen[1])
            firsts.setdefault(name, []).append(seen[1])
    for name, values in ratios.items():
        print(f"{name:16s} RSS after call {args.count} / after call 2: {spread(values, '{:.3f}')} "
              f"(call 2: {spread(firsts[name], '{:.1f}')} MiB; min / median / max of {args.runs} processes)")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_repeat"))
