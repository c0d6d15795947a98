"""What the development scripts (tools/, benchmarks/) leave in the temp folder when they are stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_check_wheel_stopped_by_sigterm_removes_its_venv(tmp_path):
    """`make test-wheel` (tools/check_wheel.py) works in a temp folder: a venv with torch (1 GB on PyPI's CPU
    index, 5 GB with CUDA's packages), the sdist and wheel. Killed by SIGTERM (a cancelled CI job), it left all of
    it. Stopped here while pip waits for an index that never answers, the venv made."""
    temp = tmp_path / "temp"
    temp.mkdir()
    with socket.socket() as index:
        index.bind(("127.0.0.1", 0))
        index.listen()
        index.settimeout(120)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
        env.update(TMPDIR=str(temp), HOME=str(tmp_path / "home"), PIP_NO_CACHE_DIR="1",
                   PIP_INDEX_URL=f"http://127.0.0.1:{index.getsockname()[1]}/simple")
        script = subprocess.Popen([sys.executable, str(ROOT / "tools" / "check_wheel.py")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            asked, _ = index.accept()  # pip, in the new venv, upgrading itself: never answered
            with asked:
                assert list(temp.glob("interp-wheel-check-*/venv/bin/python"))
                script.send_signal(signal.SIGTERM)
                out, err = script.communicate(timeout=60)
        finally:
            script.kill()
            script.wait()
    assert script.returncode == 143, err
    assert err.splitlines()[-1] == "check_wheel: terminated; its temporary files were removed"
    assert sorted(p.name for p in temp.iterdir()) == []


def test_a_benchmark_stopped_by_sigterm_removes_its_temp_folder(tmp_path):
    """benchmarks/bench_latent_cache.py, as most of the benchmarks do, works in a temporary directory and runs
    `interp` in a child. Killed by SIGTERM (a cancelled job, `timeout`), it left the folder: its photos, the
    child's cache and outputs. Stopped here while the child's batch writes its rows."""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp), HF_HUB_OFFLINE="1")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    # Files, not pipes: a child left running by a killed script would hold a pipe open. Its own session, so that
    # such a child is ended with it at the end.
    with out.open("w") as stdout, err.open("w") as stderr:
        script = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bench_latent_cache.py"), "--rows",
                                   "400"], env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not list(temp.glob("bench_latent_cache.*/out/*.gif")):  # the batch has begun writing rows
            assert script.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the batch wrote no row in 240 s"
            time.sleep(0.05)
        script.send_signal(signal.SIGTERM)
        script.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)
        script.wait()
    assert script.returncode == 143, err.read_text()
    assert err.read_text().splitlines() == ["bench_latent_cache: terminated; its temporary files were removed"]
    assert sorted(p.name for p in temp.iterdir()) == []
