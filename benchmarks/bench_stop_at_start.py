"""A Ctrl-C in the command's first tenth of a second: where does it land, and what does the user see?

    python benchmarks/bench_stop_at_start.py --baseline /tmp/base [--tries 10] [--pairs 20]

(--baseline: another checkout of interp, e.g. a `git archive` of the commit before, its .py files compiled as an
install's are: `python -m compileall -q /tmp/base/interp_cli`.)

Three parts, each tree in turn (this one, then the baseline, alternating):
- the window, from strace's clock (`-ttt -e trace=execve,rt_sigaction,openat`): from the exec to Python's own SIGINT
  handler (before it, SIGINT kills silently) and to the first read of interp_cli's files (Python's own start-up), and
  from there to interp's hold of SIGTERM (`hold_stops_at_start`; before it, SIGINT is Python's KeyboardInterrupt
  wherever it lands), for the console script (the venv's `interp`, as pip wrote it) and `python -m interp_cli`;
  min / median / max over `--tries`;
- a real SIGINT at 0, 10, ... 150 ms after the start (the start of `--tries` morphs on the demo model per moment and
  entry): how many ended with interp's "interp: interrupted" and exit 130, with Python's traceback (in interp's code,
  in `site`, or elsewhere: runpy's own import), killed silently (-2, nothing printed), or otherwise;
- a Python caller's `python -c "import interp_cli"`, `--pairs` pairs, wall seconds and the ratio this / baseline.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from spread import spread  # noqa: E402

from interp_cli.stops import run_script  # noqa: E402

SCRIPT = Path(sys.executable).with_name("interp")  # the console script pip wrote from setup.cfg's entry point
ENTRIES = {"script": [str(SCRIPT)], "-m": [sys.executable, "-m", "interp_cli"]}
DEMO = [str(ROOT / "examples/demo_a.png"), str(ROOT / "examples/demo_b.png"), "--weights", "demo", "--steps", "6"]


def env_for(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1")


def window(tree: Path, entry: str, work: Path) -> tuple[float, float, float]:
    """Seconds from the exec to Python's SIGINT handler and to the first read of interp_cli (Python's own start-up:
    site and the .pth files), and from there to the first handler set for SIGTERM (interp's hold)."""
    trace = work / "trace"
    subprocess.run(["strace", "-f", "-ttt", "-e", "trace=execve,rt_sigaction,openat", "-o", str(trace),
                    *ENTRIES[entry], "--version"], env=env_for(tree), cwd=work, capture_output=True,
                   check=True)
    execs, python_int, package, held = None, None, None, None
    for line in trace.read_text().splitlines():
        stamp = re.search(r"^\d+\s+([\d.]+) (\w+)\((.*)", line)
        if not stamp:
            continue
        at, call, args = float(stamp[1]), stamp[2], stamp[3]
        if call == "execve" and execs is None:
            execs = at
        elif call == "openat" and package is None and f"{tree}/interp_cli/" in args:
            package = at
        elif call == "rt_sigaction" and "sa_handler=0x" in args:
            if args.startswith("SIGINT") and python_int is None:
                python_int = at
            if args.startswith("SIGTERM") and held is None:
                held = at
    return python_int - execs, package - execs, held - package


def sigint_at(tree: Path, entry: str, delay: float, work: Path) -> str:
    child = subprocess.Popen([*ENTRIES[entry], *DEMO, "-o", str(work / "m.gif")], env=env_for(tree), cwd=work,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    child.send_signal(2)
    _, err = child.communicate(timeout=300)
    if child.returncode == 130 and err == "interp: interrupted\n":
        return "130"
    if "Traceback" in err:  # where: the last frame of interp's own, or of Python's start-up (site, runpy)
        if "<frozen site>" in err:
            return "traceback in site"
        return "traceback in interp_cli" if "/interp_cli/" in err else "traceback elsewhere"
    if child.returncode == -2 and not err:
        return "silent"
    return f"other {child.returncode} {err.strip()[-80:]!r}"


def import_cost(tree: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import interp_cli"], env=env_for(tree), check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    # Started in the background by a shell without job control, this process ignores SIGINT and so would every
    # morph it starts (an ignored signal stays ignored across exec): give them the default, as a terminal's command.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    trees = {"this": ROOT, "baseline": args.baseline}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for entry in ENTRIES:
            found = {name: [] for name in trees}
            for _ in range(args.tries):
                for name, tree in trees.items():
                    found[name].append(window(tree, entry, work))
            for name, found_here in found.items():
                parts = [spread([each[i] for each in found_here], "{:.1f}", scale=1e3) for i in range(3)]
                print(f"window {entry:6} {name:8}: exec to Python's SIGINT handler {parts[0]} ms, to interp_cli's "
                      f"first read {parts[1]} ms, from there to interp's hold {parts[2]} ms", flush=True)
        for entry in ENTRIES:
            for delay_ms in range(0, 160, 10):
                counts = {name: {} for name in trees}
                for _ in range(args.tries):
                    for name, tree in trees.items():
                        seen = sigint_at(tree, entry, delay_ms / 1e3, work)
                        counts[name][seen] = counts[name].get(seen, 0) + 1
                print(f"SIGINT {entry:6} at {delay_ms:3} ms: " +
                      "; ".join(f"{name} {dict(sorted(c.items()))}" for name, c in counts.items()), flush=True)
        costs = {name: [] for name in trees}
        for _ in range(args.pairs):
            for name, tree in trees.items():
                costs[name].append(import_cost(tree))
        ratios = [a / b for a, b in zip(costs["this"], costs["baseline"])]
        print(f"import interp_cli: this {spread(costs['this'], '{:.1f}', scale=1e3)} ms, baseline "
              f"{spread(costs['baseline'], '{:.1f}', scale=1e3)} ms, ratio {spread(ratios, '{:.3f}')}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_stop_at_start"))
