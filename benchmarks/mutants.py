"""A small seeded mutation runner: what would the tests of a pure module NOT notice?

Covered is not checked: a line can run under a test that never looks at what it did. This makes one small
change at a time to a module (a comparison flipped, a `<` made `<=`, a number moved by one, `and` made `or`, a
return value replaced by None, an `if` branch removed, a `not` dropped), in a COPY of the tree under a temp dir,
and runs the module's own test files there with `-x` and a timeout. A mutant the tests fail on is killed; one
they pass is a survivor: a gap in the tests, an equivalent change, or code that does nothing.

    python benchmarks/mutants.py interp_cli/names.py                # its own tests (MODULE_TESTS)
    python benchmarks/mutants.py interp_cli/npy.py --max 40 --seed 1 -j 2
    python benchmarks/mutants.py pkg/mod.py --root DIR --tests tests/test_mod.py

Only for the torch-free modules, where a test run takes seconds: each mutant is a fresh pytest process.
The mutated module is written by `ast.unparse`, so its comments are gone and its lines renumbered; the report
names each mutant by its line in the original file.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each pure module and the test files that are its own (not every file that happens to import it).
MODULE_TESTS = {
    "interp_cli/blend.py": ["tests/test_blend.py"],
    "interp_cli/output_paths.py": ["tests/test_write.py"],
    "interp_cli/manifest.py": ["tests/test_manifest.py"],
    "interp_cli/batch_plan.py": ["tests/test_batch_plan.py"],
    "interp_cli/npy.py": ["tests/test_npy.py"],
    "interp_cli/options.py": ["tests/test_input_limits.py"],
    "interp_cli/names.py": ["tests/test_names.py"],
    "interp_cli/limits.py": ["tests/test_input_limits.py"],
    "interp_cli/layers.py": ["tests/test_blend.py"],
    "interp_cli/inputs.py": ["tests/test_inputs.py"],
}

# A comparison's opposite (flipped) and its neighbour at the boundary.
_FLIP = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}


@dataclass(frozen=True)
class Mutant:
    index: int  # the site's place in the walk: the same source gives the same numbering
    line: int  # in the original file
    what: str


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants, which no mutation touches."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str, object]]:
    """Every (node, description, change) the walk finds, in a fixed order. `change` is applied by `_apply`."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                name = _SYMBOL[type(op)]
                yield node, f"`{name}` -> `{_SYMBOL[_FLIP[type(op)]]}`", ("op", k, _FLIP[type(op)])
                if type(op) in _BOUNDARY:
                    yield node, f"`{name}` -> `{_SYMBOL[_BOUNDARY[type(op)]]}`", ("op", k, _BOUNDARY[type(op)])
        elif isinstance(node, ast.BoolOp):
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield node, f"`{type(node.op).__name__.lower()}` -> `{other.__name__.lower()}`", ("boolop", other)
        elif isinstance(node, ast.Constant) and id(node) not in skip:
            if isinstance(node.value, bool):
                yield node, f"`{node.value}` -> `{not node.value}`", ("const", not node.value)
            elif isinstance(node.value, (int, float)):
                for step in (1, -1):
                    yield node, f"`{node.value!r}` -> `{node.value + step!r}`", ("const", node.value + step)
        elif isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                yield node, "return value -> None", ("return",)
        elif isinstance(node, ast.If):
            yield node, "`if` branch removed", ("if",)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "`not` dropped", ("not",)


class _DropNot(ast.NodeTransformer):
    def __init__(self, target: ast.AST):
        self.target = target

    def visit_UnaryOp(self, node):  # ast calls it by this name
        self.generic_visit(node)
        return node.operand if node is self.target else node


def _apply(tree: ast.Module, node: ast.AST, change: tuple) -> ast.Module:
    kind = change[0]
    if kind == "op":
        node.ops[change[1]] = change[2]()
    elif kind == "boolop":
        node.op = change[1]()
    elif kind == "const":
        node.value = change[1]
    elif kind == "return":
        node.value = ast.Constant(None)
    elif kind == "if":
        # Never taken; an `else:` (elif) stays, as when the branch's lines are deleted.
        node.test = ast.Constant(False)
    elif kind == "not":
        tree = _DropNot(node).visit(tree)
    return ast.fix_missing_locations(tree)


def mutants(source: str) -> list[Mutant]:
    return [Mutant(i, node.lineno, what) for i, (node, what, _) in enumerate(_sites(ast.parse(source)))]


def mutate(source: str, index: int) -> str:
    """`source` with mutant `index` applied (parsed afresh, so each mutant is one change)."""
    tree = ast.parse(source)
    for i, (node, _, change) in enumerate(_sites(tree)):
        if i == index:
            return ast.unparse(_apply(tree, node, change)) + "\n"
    raise IndexError(index)


def _copy_tree(root: Path, dest: Path) -> None:
    """The files git would see (tracked, and new ones not ignored): no caches, no virtual environments. A root
    outside git (tests/test_mutants.py's) is copied whole."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=root, capture_output=True)
    if listing.returncode:
        shutil.copytree(root, dest, ignore=shutil.ignore_patterns("__pycache__"))
        return
    listed = listing.stdout.split(b"\0")
    for rel in filter(None, (name.decode() for name in listed)):
        src = root / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _preload(names: tuple[str, ...]) -> None:
    """Import what every test process would import first (torch: seconds), once, before the forks below: each
    mutant's pytest then starts in a forked copy of this process, where only the tree's own modules are new."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as tests/conftest.py sets it before torch loads
    for name in ("pytest", *names):
        try:
            __import__(name)
        except ImportError:
            pass


def _temp_of(tree: Path) -> Path:
    """The temp folder (TMPDIR) of the pytest runs in `tree`, beside it, emptied after each (`_fresh_temp`)."""
    return tree.with_name(f"{tree.name}-tmp")


def _fresh_temp(tree: Path) -> None:
    """Empty `tree`'s temp folder. A run ends by `os._exit` (or a timeout's SIGKILL), so no atexit callback of its
    own cleans up after it: tests/conftest.py's cache dir and pytest's base temp stayed in the temp folder, one
    per mutant (1,738 of them, 18 GB, had gathered in /tmp)."""
    temp = _temp_of(tree)
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()


# The stops (Ctrl-C, `_stop_on_sigterm`'s SIGTERM), held while a run is forked and recorded (`_launch`).
_STOPS = {signal.SIGINT, signal.SIGTERM}


def _launch(running: dict, tree: Path, tests: list[str], mutant: Mutant | None) -> None:
    """`_start` a run and record it in `running` (pid -> (mutant, tree, start)), with the stops held meanwhile. A
    stop landing inside os.fork ran its handler in an at-fork hook (logging's, which pytest and torch import), where
    Python ignores what a hook raises: the stop was lost, and `_stop_on_sigterm` ignored every SIGTERM after it. One
    landing before the pid was recorded left that run going, with no one to end it. Held, it lands after."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        running[_start(tree, tests, held)] = (mutant, tree, time.perf_counter())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _start(tree: Path, tests: list[str], mask: set = frozenset()) -> int:
    """A forked pytest over `tests` in `tree`, in its own session (a timeout ends it and what it started, and
    nothing else), with `tree`'s own temp folder; `mask`, the signals it blocks (this process's, before `_launch`
    held the stops). Nothing of `tree` is imported in this process, so the child imports the mutant fresh."""
    pid = os.fork()
    if pid:
        return pid
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # this process's stop (`_stop_on_sigterm`) is not the run's
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.setsid()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.chdir(tree)
        sys.path.insert(0, str(tree))
        sys.dont_write_bytecode = True
        os.environ.update(PYTHONPATH=str(tree), HF_HUB_OFFLINE="1", TMPDIR=str(_temp_of(tree)))
        tempfile.tempdir = None  # this process's cached temp folder (the run's): read TMPDIR again
        import pytest

        code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests]))
    except BaseException:
        code = 99
    os._exit(code)


def _finish(pids: dict[int, float], limit: float) -> tuple[int, str]:
    """Wait for one of the children in `pids` (pid: start time) to end or to pass `limit` seconds:
    its pid and 'passed', 'failed' or 'timeout'."""
    while True:
        for pid, started in pids.items():
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return pid, "passed" if os.waitstatus_to_exitcode(status) == 0 else "failed"
            if time.perf_counter() - started > limit:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return pid, "timeout"
        time.sleep(0.02)


def run(module: str, tests: list[str], *, root: Path = ROOT, max_mutants: int | None = None, seed: int = 0,
        jobs: int = 1, timeout: float | None = None, preload: tuple[str, ...] = ("numpy", "torch"),
        log=print) -> dict:
    """Mutate `module` (a path relative to `root`) and run `tests` against each mutant.
    Returns {"mutants", "killed", "survived", "timed_out": counts, "survivors": [Mutant], "baseline_s"}."""
    source = (root / module).read_text()
    found = mutants(source)
    if max_mutants is not None and len(found) > max_mutants:
        found = sorted(random.Random(seed).sample(found, max_mutants), key=lambda m: m.index)
    _preload(preload)
    counts = {"killed": 0, "survived": 0, "timed_out": 0}
    survivors = []
    with tempfile.TemporaryDirectory(prefix="interp-mutants-") as tmp:
        trees = [Path(tmp) / f"tree{j}" for j in range(max(1, jobs))]
        for tree in trees:
            _copy_tree(root, tree)
            _fresh_temp(tree)
        running = {}  # pid -> (mutant, tree, start)
        try:
            # The unmutated tree must pass, and its time sets the timeout: a mutant that loops is not a survivor.
            started = time.perf_counter()
            _launch(running, trees[0], tests, None)
            pid, outcome = _finish({p: r[2] for p, r in running.items()}, timeout or 600)
            running.pop(pid)
            _fresh_temp(trees[0])
            baseline = time.perf_counter() - started
            if outcome != "passed":
                raise RuntimeError(f"{', '.join(tests)} do not pass on the unmutated {module}: {outcome}")
            limit = timeout or 3 * baseline + 10
            todo, free = list(found), list(trees)
            while todo or running:
                while todo and free:
                    m, tree = todo.pop(0), free.pop()
                    (tree / module).write_text(mutate(source, m.index))
                    _launch(running, tree, tests, m)
                pid, outcome = _finish({p: r[2] for p, r in running.items()}, limit)
                m, tree, _ = running.pop(pid)
                (tree / module).write_text(source)
                _fresh_temp(tree)
                free.append(tree)
                key = {"failed": "killed", "passed": "survived", "timeout": "timed_out"}[outcome]
                counts[key] += 1
                if key == "survived":
                    survivors.append(m)
                log(f"  {module}:{m.line}: {m.what}: {key}")
        finally:
            # A stop (Ctrl-C, or SIGTERM: `main`) ends the runs still going, each in its own session where no
            # signal to this process reaches it, before their trees and temp folders are removed under them.
            for pid in running:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:  # forked a moment ago, not yet in its own session
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    survivors.sort(key=lambda m: m.index)
    return {"mutants": len(found), **counts, "survivors": survivors, "baseline_s": baseline}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C is (`_stop_on_sigterm`)."""


def _stop_on_sigterm() -> None:
    """Make SIGTERM (a cancelled CI job, `timeout`) unwind as Ctrl-C does, once: `run` then ends the pytest runs and
    removes the trees and their temp folders; killed by the signal, it left both (and a looping mutant's run
    going). Not interp_cli.stops' `raise_on_sigterm`: importing interp_cli here would hand every forked run this
    checkout's modules in place of its tree's mutant."""
    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise _Terminated

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as stop:
        print("mutants: stopped; the trees and temp folders were removed", file=sys.stderr)
        return 143 if isinstance(stop, _Terminated) else 130


def _main(argv: list[str] | None = None) -> int:
    _stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="paths relative to --root (default: every module of MODULE_TESTS)")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--tests", nargs="+", help="the test files to run (default: MODULE_TESTS' for the module)")
    parser.add_argument("--max", type=int, default=None, help="at most this many mutants a module, drawn by --seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant (default: 3x baseline + 10)")
    parser.add_argument("--preload", default="numpy,torch", help="modules the tests import, imported once (commas)")
    args = parser.parse_args(argv)
    rows = []
    for module in args.modules or list(MODULE_TESTS):
        tests = args.tests or MODULE_TESTS.get(module)
        if not tests:
            parser.error(f"no test files known for {module}: name them with --tests")
        print(f"{module} ({', '.join(tests)})", flush=True)
        result = run(module, tests, root=args.root, max_mutants=args.max, seed=args.seed, jobs=args.jobs,
                     timeout=args.timeout, preload=tuple(filter(None, args.preload.split(","))),
                     log=lambda line: print(line, flush=True))
        rows.append((module, result))
    print(f"\n{'module':32} {'mutants':>7} {'killed':>6} {'survived':>8} {'timed out':>9}")
    for module, r in rows:
        print(f"{module:32} {r['mutants']:7} {r['killed']:6} {r['survived']:8} {r['timed_out']:9}")
    for module, r in rows:
        for m in r["survivors"]:
            print(f"survivor {module}:{m.line}: {m.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
