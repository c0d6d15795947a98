"""Temp ownership by lock (interp_cli/files.py) on a local disk: is a live temp ever lost, is a dead one ever left?

    python benchmarks/bench_temp_locks.py [--folder DIR] [--writers 6] [--seconds 20] [--repeats 5] [--code DIR]

(--code: the checkout whose interp_cli the stress runs, e.g. an older one to compare with.)

Stress: WRITERS processes, each in its own PID namespace where `unshare --pid` is permitted (so the
same pids recur in every writer, as in host-network pods), loop over `atomic_write` of small files
into one folder, holding each temp a random 0-20 ms; as many sweepers, in namespaces of their own,
call `clean_stale_temps` on that folder non-stop. A writer whose temp vanished fails its commit
(FileNotFoundError): that is a lost temp. Every round some writers are SIGKILLed mid-write; at the
end one fresh sweep must leave no temp behind.

Cost: `atomic_write` of a 4 KB file with the lock, against the same write with the lock switched
off (files.fcntl = None), timed back to back in one process, REPEATS rounds: ratio min/median/max.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# A stop ends each child's group and waits for it before the temp folder goes (stdlib only: not `--code`'s checkout).
from interp_cli.stops import end_groups, run_script, script_temp, start_child  # noqa: E402

WRITER = r"""
import os, random, sys, time
from interp_cli import files
folder, until, me = sys.argv[1], float(sys.argv[2]), sys.argv[3]
made = lost = 0
rng = random.Random(me)
while time.time() < until:
    target = os.path.join(folder, f"{me}-{made}.bin")
    try:
        with files.atomic_write(target) as fh:
            fh.write(b"x" * 4096)
            time.sleep(rng.random() * 0.02)
        made += 1
    except Exception as err:
        lost += 1
        print(f"lost {target}: {err}", file=sys.stderr)
print(made, lost)
"""

SWEEPER = r"""
import sys, time
from interp_cli import files
folder, until = sys.argv[1], float(sys.argv[2])
sweeps = removed = 0
while time.time() < until:
    files._cleaned.clear()
    removed += len(files.clean_stale_temps(folder))
    sweeps += 1
print(sweeps, removed)
"""


def namespace_prefix() -> list[str]:
    if shutil.which("unshare") and subprocess.run(["unshare", "--pid", "--fork", "true"],
                                                  capture_output=True).returncode == 0:
        return ["unshare", "--pid", "--fork", "sh", "-c", '"$@"; :', "sh"]
    return []


def stress(folder: Path, writers: int, seconds: float, code: Path = ROOT, kills: bool = True) -> dict:
    children: list[subprocess.Popen] = []
    try:
        return _stress(folder, writers, seconds, code, kills, children)
    except BaseException:  # a stop: its writers and sweepers went on until `seconds` ran out, into a removed folder
        end_groups(children, grace=1.0)  # a sweeper is its namespace's init, which SIGTERM does not end
        raise


def _stress(folder: Path, writers: int, seconds: float, code: Path, kills: bool, children: list) -> dict:
    prefix = namespace_prefix()
    env = dict(os.environ, PYTHONPATH=str(code))
    until = time.time() + seconds

    def spawn(prefix, code, *args):
        return start_child([*prefix, sys.executable, "-c", code, str(folder), str(until), *args], into=children,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    # Writers are pid 2 of their namespaces (under sh), sweepers pid 1 of theirs: no writer's pid
    # exists where a sweeper looks, which is what a pid-based liveness test gets wrong.
    steady = [spawn(prefix, WRITER, f"w{i}") for i in range(writers)]
    sweepers = [spawn(prefix[:3], SWEEPER) for _ in range(writers)]
    killed = 0
    while kills and time.time() < until - 1:  # writers killed mid-write, as by the OOM killer or KillWait
        victim = spawn([], WRITER, f"k{killed}")
        time.sleep(0.8)
        victim.kill()
        victim.wait()
        killed += 1
    made = lost = sweeps = removed = 0
    for child in steady:
        out, err = child.communicate()
        m, lo = map(int, out.split())
        made, lost = made + m, lost + lo
        if err.strip():
            print(err.strip(), file=sys.stderr)
    for child in sweepers:
        s, r = map(int, child.communicate()[0].split())
        sweeps, removed = sweeps + s, removed + r
    final = subprocess.run([sys.executable, "-c", SWEEPER, str(folder), str(time.time() + 0.5)], env=env,
                           capture_output=True, text=True)
    removed += int(final.stdout.split()[1])
    left = [n for n in os.listdir(folder) if n.startswith(".")]
    return {"namespaces": bool(prefix), "commits": made, "lost": lost, "sweeps": sweeps, "killed": killed,
            "removed_by_sweeps": removed, "left_after_a_last_sweep": len(left)}


def cost(folder: Path, repeats: int, n: int = 300) -> list[float]:
    from interp_cli import files

    def burst() -> float:
        started = time.perf_counter()
        for i in range(n):
            with files.atomic_write(folder / f"c{i}.bin") as fh:
                fh.write(b"x" * 4096)
        return time.perf_counter() - started

    locking = files.fcntl
    ratios = []
    for _ in range(repeats):
        files.fcntl = None
        plain = burst()
        files.fcntl = locking
        locked = burst()
        ratios.append(locked / plain)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=None, help="where to write (default: a temp folder)")
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose interp_cli the stress runs")
    args = parser.parse_args()
    with script_temp("bench-locks-", args.folder) as base:
        (base / "stress").mkdir()
        print("stress:", stress(base / "stress", args.writers, args.seconds, args.code))
        (base / "cost").mkdir()
        ratios = cost(base / "cost", args.repeats)
        print(f"atomic_write, locked / unlocked: min {min(ratios):.3f}, median {statistics.median(ratios):.3f}, "
              f"max {max(ratios):.3f} over {len(ratios)} rounds of 300 writes")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_temp_locks"))
