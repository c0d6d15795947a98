"""Every development script (benchmarks/, tools/) still starts: its `--help`, in a process of its own.

The lab notes (benchmarks/README.md) and the issues quote these scripts' command lines; a function that moved or an
option that was renamed in interp_cli breaks them at import, which nothing else in the suite runs. `--help` imports
what the script imports (torch, for 15 of them) and runs nothing. Eight at a time: most of the cost is torch's
import, about 2 s of CPU and 230 MB each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Imported by the others, with no command line of its own.
MODULES = {"spread.py"}


def scripts() -> list[Path]:
    return sorted(p for folder in ("benchmarks", "tools") for p in (ROOT / folder).glob("*.py")
                  if p.name not in MODULES)


def test_every_script_answers_help_without_running(tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TMPDIR=str(temp), PYTHONPATH=str(ROOT))

    def help_of(script: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    with ThreadPoolExecutor(8) as pool:
        done = dict(zip(scripts(), pool.map(help_of, scripts())))
    # A usage line naming the script: what argparse prints, and what a script that ran instead does not.
    failed = [f"{script.relative_to(ROOT)}: exit {run.returncode}, stdout {run.stdout[:200]!r}, "
              f"stderr {run.stderr[-400:]!r}" for script, run in done.items()
              if run.returncode != 0 or not run.stdout.startswith(f"usage: {script.name} ")]
    assert not failed, "\n".join(failed)
    assert len(done) >= 40  # the glob found the scripts
    assert sorted(os.listdir(temp)) == []  # nothing was made: nothing ran
