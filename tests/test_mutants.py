"""benchmarks/mutants.py, the mutation runner, on a module of two functions: it must find what a test does not
check, kill what it does, and end a mutant that loops."""

from __future__ import annotations

import subprocess
import sys
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
