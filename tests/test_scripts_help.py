"""Every development script (benchmarks/, tools/) still starts: its `--help`, in a process of its own.

The lab notes (benchmarks/README.md) and the issues quote these scripts' command lines; a function that moved or an
option that was renamed in interp_cli breaks them at import, which nothing else in the suite runs. `--help` imports
what the script imports (torch included, for most) and runs nothing; they start together, as the checks are
independent and most of the time is torch's import.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
    runs = {script: subprocess.Popen([sys.executable, str(script), "--help"], cwd=tmp_path, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for script in scripts()}
    failed = []
    for script, run in runs.items():
        out, err = run.communicate(timeout=300)
        name = script.relative_to(ROOT)
        # A usage line naming the script: what argparse prints, and what a script that ran instead does not.
        if run.returncode != 0 or not out.startswith(f"usage: {script.name} "):
            failed.append(f"{name}: exit {run.returncode}, stdout {out[:200]!r}, stderr {err[-400:]!r}")
    assert not failed, "\n".join(failed)
    assert len(runs) >= 40  # the glob found the scripts
    assert sorted(os.listdir(temp)) == []  # nothing was made: nothing ran
