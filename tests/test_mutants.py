"""benchmarks/mutants.py, the mutation runner, on a module of two functions: it must find what a test does not
check, kill what it does, and end a mutant that loops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULE = '''
def is_adult(age):
    return age >= 18


def countdown(n):
    while n > 0:
        n -= 1
    return n
'''

# No test of the boundary: is_adult(18) and is_adult(17) are never asked.
TESTS = '''
from mod import countdown, is_adult


def test_is_adult():
    assert is_adult(30) and not is_adult(5)


def test_countdown():
    assert countdown(3) == 0
'''


def test_the_runner_reports_the_untested_boundary_and_ends_a_mutant_that_loops(tmp_path):
    (tmp_path / "mod.py").write_text(MODULE)
    (tmp_path / "test_mod.py").write_text(TESTS)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mutants.py"), "mod.py", "--root", str(tmp_path),
                           "--tests", "test_mod.py", "--timeout", "2", "--preload", "", "-j", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    row = [line.split() for line in done.stdout.splitlines() if line.startswith("mod.py ")][-1]  # the table
    assert row == ["mod.py", "12", "8", "3", "1"]  # mutants, killed, survived, timed out
    survivors = sorted(line for line in done.stdout.splitlines() if line.startswith("survivor "))
    assert survivors == ["survivor mod.py:3: `18` -> `17`", "survivor mod.py:3: `18` -> `19`",
                         "survivor mod.py:3: `>=` -> `>`"]
    assert "mod.py:8: `1` -> `0`: timed_out" in done.stdout  # `n -= 0` never ends
    assert (tmp_path / "mod.py").read_text() == MODULE  # mutants are made in a copy


def _mutants(root: Path, *args) -> list[str]:
    (root / "mod.py").write_text(MODULE)
    return [sys.executable, str(ROOT / "benchmarks" / "mutants.py"), "mod.py", "--root", str(root), "--tests",
            "test_mod.py", "--preload", "", *args]


# A test run that leaves a folder in its temp folder, as tests/conftest.py's cache dir is left by a run that ends
# without its atexit callbacks (every run here ends by os._exit, a looping one by SIGKILL).
LEAVES_A_FOLDER = '''
import tempfile

tempfile.mkdtemp(prefix="left-by-a-run-")
''' + TESTS


def test_the_runs_leave_nothing_in_the_temp_folder(tmp_path):
    """Each mutant's pytest run left its temp things (tests/conftest.py's cache dir, 85 MB once the landmark model
    is parsed into it, and pytest's base temp) in the temp folder: 1,738 cache dirs, 18 GB, had gathered in /tmp."""
    root, temp = tmp_path / "root", tmp_path / "temp"
    root.mkdir()
    temp.mkdir()
    (root / "test_mod.py").write_text(LEAVES_A_FOLDER)
    done = subprocess.run(_mutants(root, "--timeout", "2", "-j", "2"), capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, TMPDIR=str(temp)))
    assert done.returncode == 0, done.stderr
    assert "mod.py:8: `1` -> `0`: timed_out" in done.stdout  # a run ended by SIGKILL among them
    assert sorted(p.name for p in temp.iterdir()) == []


# The unmutated tree's run: says it has started (its pid, in a file beside its tree), then takes its time.
SLOW = '''
import os
import tempfile
import time


def test_slow():
    with open(os.path.join(tempfile.gettempdir(), "started"), "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(60)
'''


def test_sigterm_ends_the_runs_and_removes_the_trees(tmp_path):
    """Killed by SIGTERM (a cancelled CI job, `timeout`), the runner left its trees and temp folders, and its pytest
    runs (each in its own session, which the signal never reached) went on."""
    root, temp = tmp_path / "root", tmp_path / "temp"
    root.mkdir()
    temp.mkdir()
    (root / "test_mod.py").write_text(SLOW)
    runner = subprocess.Popen(_mutants(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, TMPDIR=str(temp)))
    deadline = time.monotonic() + 60
    while not (started := list(temp.rglob("started"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started, runner.communicate(timeout=5)
    time.sleep(0.2)  # the pid written
    pid = int(started[0].read_text())
    runner.send_signal(signal.SIGTERM)
    try:
        _, err = runner.communicate(timeout=30)
        running = _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert runner.returncode == 143, err
    assert err.strip() == "mutants: stopped; the trees and temp folders were removed"
    assert not running
    assert sorted(p.name for p in temp.iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Imported by the runner before it forks (--preload), as logging is by pytest and torch: an at-fork hook that runs in
# the runner after each fork, here slowly, once, saying when it has begun.
SLOW_FORK_HOOK = '''
import os
import time


def _after_in_parent():
    if not os.path.exists(os.environ["SLOW_FORK_FLAG"]):
        open(os.environ["SLOW_FORK_FLAG"], "w").close()
        time.sleep(3)


os.register_at_fork(after_in_parent=_after_in_parent)
'''


def test_sigterm_while_the_runner_forks_a_run_still_stops_it(tmp_path):
    """A SIGTERM that landed as the runner forked a run (inside the at-fork hooks logging registers: Python ignores an
    exception raised there, "Exception ignored in: <function _releaseLock ...>") was lost, and the handler had
    already made every later SIGTERM ignored: the runner went on through every mutant, unstoppable but by SIGKILL.
    Now the signal waits until the fork is done, then stops the runner as at any other time."""
    root, temp, hooks = tmp_path / "root", tmp_path / "temp", tmp_path / "hooks"
    for folder in (root, temp, hooks):
        folder.mkdir()
    (root / "test_mod.py").write_text(SLOW)
    (hooks / "slow_fork_hook.py").write_text(SLOW_FORK_HOOK)
    flag = tmp_path / "forked"
    env = dict(os.environ, TMPDIR=str(temp), PYTHONPATH=str(hooks), SLOW_FORK_FLAG=str(flag))
    runner = subprocess.Popen([*_mutants(root)[:-1], "slow_fork_hook"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    pids = []
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert flag.exists(), runner.communicate(timeout=5)
        runner.send_signal(signal.SIGTERM)  # while the hook sleeps, inside os.fork
        try:
            _, err = runner.communicate(timeout=30)
        finally:
            pids = [int(p.read_text()) for p in temp.rglob("started") if p.read_text()]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
        for pid in pids:
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
    assert runner.returncode == 143, err
    assert err.strip() == "mutants: stopped; the trees and temp folders were removed"
    assert sorted(p.name for p in temp.iterdir()) == []
