"""What the development scripts (tools/, benchmarks/) leave in the temp folder when they are stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
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
