"""A hub preset's first download through interp, against a hub on 127.0.0.1 (tests/hub_server.py): what interp adds.

    python benchmarks/bench_download.py [--mb 300] [--repeats 5] [--workers 3]

Each round, in fresh HF_HOMEs: `interp weights download big` (interp's HEAD, the room check, hf_hub_download, the
sha256 of the file) against a bare `hf_hub_download` of the same file, each a process of its own, back to back;
the wall-time ratio interp / bare, min/median/max over REPEATS rounds. Then WORKERS `interp weights download big`
started at once on one fresh cache, as a job array's first tasks, REPEATS times: the GETs the hub saw, their wall
time against one alone, and the CPU seconds (user + system) of the WORKERS together, min/median/max.

    python benchmarks/bench_download.py --workers-only   # the workers' part alone (each round: a fresh cache)
    python benchmarks/bench_download.py --workers-only --cached   # the file in the HF cache, no sha256 record yet:
                                                                  # only the workers' verification of it
    python benchmarks/bench_download.py --workers-only --against /tmp/base   # and a base checkout's workers, in
                                                                  # turns with this one's, with the ratio per round
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from interp_cli.stops import end_groups, run_child, run_script, script_temp, start_child, wait_usage  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import spread  # noqa: E402
from tests.hub_server import LocalHub  # noqa: E402

REPO, FILENAME = "someone/big", "big.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--workers-only", action="store_true", help="only the workers started at once")
    parser.add_argument("--against", metavar="CHECKOUT",
                        help="the workers of another checkout too (a change's base), in turns with this one's")
    parser.add_argument("--cached", action="store_true",
                        help="the workers find the file in the HF cache (filled once), with a fresh sha256 record")
    args = parser.parse_args()

    payload = os.urandom(args.mb * 1_000_000)
    hub = LocalHub()
    sha256 = hub.put(REPO, FILENAME, payload)
    preset = dict(name="big", repo_id=REPO, filename=FILENAME, revision=None, sha256=sha256, size=len(payload),
                  license="benchmark", description="random bytes")
    base = dict(os.environ, PYTHONPATH=str(ROOT), HF_ENDPOINT=hub.endpoint, INTERP_TEST_PRESETS=json.dumps([preset]))
    base.pop("HF_HUB_OFFLINE", None)
    interp = [sys.executable, "-m", "tests.hub_server", "weights", "download", "big"]
    bare = [sys.executable, "-c", f"import huggingface_hub; huggingface_hub.hf_hub_download({REPO!r}, {FILENAME!r})"]

    def timed(command: list[str], scratch: Path) -> float:
        env = dict(base, HF_HOME=str(scratch / "hf"), INTERP_CACHE_DIR=str(scratch / "interp"))
        start = time.perf_counter()
        run_child(command, cwd=ROOT, env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    if not args.workers_only:
        ratios, interp_s, bare_s = [], [], []
        for _ in range(args.repeats):
            with script_temp("bench-download-") as one, script_temp("bench-download-") as two:
                bare_s.append(timed(bare, one))
                interp_s.append(timed(interp, two))
            ratios.append(interp_s[-1] / bare_s[-1])
        two = "{:.2f}"
        print(f"{args.mb} MB, {args.repeats} rounds: bare hf_hub_download {spread(bare_s, two)} s, interp weights "
              f"download {spread(interp_s, two)} s, ratio {spread(ratios, two)}")

    # The workers of this checkout, and with --against those of another (the base of a change), round by round
    # in turns, so that both meet the same drift of this VM.
    trees = {"this": ROOT, **({"against": Path(args.against).resolve()} if args.against else {})}
    walls, cpus, gets = ({name: [] for name in trees} for _ in range(3))
    with script_temp("bench-download-") as filled:
        if args.cached:
            timed(interp, filled)
        for turn in range(args.repeats):
            for name, tree in list(trees.items())[::1 if turn % 2 == 0 else -1]:
                with script_temp("bench-download-") as shared:
                    hf_home = (filled if args.cached else shared) / "hf"
                    env = dict(base, PYTHONPATH=str(tree), HF_HOME=str(hf_home),
                               INTERP_CACHE_DIR=str(shared / "interp"))
                    before = hub.gets
                    start = time.perf_counter()
                    workers: list = []
                    try:  # a stop, or one worker failing, ends the others before their folder goes
                        for _ in range(args.workers):
                            start_child(interp, into=workers, cwd=tree, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                        cpu = 0.0
                        for worker in workers:
                            usage = wait_usage(worker)  # the worker's own CPU seconds, its threads' included
                            if worker.returncode != 0:
                                raise SystemExit(f"a worker of {tree} exited {worker.returncode}")
                            cpu += usage.ru_utime + usage.ru_stime
                    except BaseException:
                        end_groups(workers)
                        raise
                    walls[name].append(time.perf_counter() - start)
                    cpus[name].append(cpu)
                    gets[name].append(hub.gets - before)
    two = "{:.2f}"
    where = "the file cached, no sha256 record" if args.cached else "a fresh cache"
    for name, tree in trees.items():
        alone = ("" if args.workers_only or name != "this"
                 else f" ({statistics.median(walls[name]) / statistics.median(interp_s):.2f}x one alone)")
        print(f"{args.workers} workers at once ({tree}), {where}, {args.repeats} rounds: GETs "
              f"{sorted(set(gets[name]))}, wall {spread(walls[name], two)} s{alone}, CPU (user + sys, all workers) "
              f"{spread(cpus[name], two)} s")
    if args.against:
        ratio = {what: [a / b for a, b in zip(values["this"], values["against"])]
                 for what, values in (("wall", walls), ("CPU", cpus))}
        print(f"this / against, round by round: wall {spread(ratio['wall'], two)}, CPU {spread(ratio['CPU'], two)}")
    hub.close()



if __name__ == "__main__":
    sys.exit(run_script(main, "bench_download"))
