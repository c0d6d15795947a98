"""What a run of the suite leaves on the disk (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_the_suite_on(tests, tmpdir):
    env = dict(os.environ, TMPDIR=str(tmpdir))
    env.pop("INTERP_CACHE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_run_removes_the_cache_dir_it_made(tmp_path):
    """Each run makes its own cache dir under the temp folder (85 MB once the landmark model is parsed into it);
    a run's leftovers add up where many runs go (benchmarks/mutants.py starts one per mutant)."""
    done = _run_the_suite_on(["tests/test_names.py", "-k", "utf8_text"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("interp-test-cache-")] == []
