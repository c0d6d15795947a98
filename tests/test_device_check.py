"""benchmarks/device_check.py, the prepared GPU check: its CPU-safe parts, so a typo cannot waste a
GPU session. --dry-run runs every step (sweep, compile fallback, CLI morph, batch) at toy sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="says so only where there is no CUDA")
def test_without_cuda_the_script_says_so_and_exits_cleanly():
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("OUT", None)
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no CUDA device" in result.stdout and "pending" in result.stdout


def test_a_dry_run_goes_through_every_step_and_writes_the_tables(tmp_path, capsys):
    import device_check

    assert device_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    for mode, layout, upsampling in [("fp32", "channels_last", "blur"), ("bf16", "nchw", "folded"),
                                     ("fp32", "auto", "folded"), ("bf16+compile", "auto", "blur")]:
        assert f"| {mode} | {layout} | {upsampling} |" in report, report
    assert "| fp32 | channels_last | blur | " in report and "| 0 | 100.0 |" in report  # the reference itself
    assert "| --precision fp32 |" in report and "failed" not in report
    assert "2 rows of 4 frames" in report and "2 made" in report
    assert "--tune at 16 px, two faces: one step" in report  # issue 31's GPU figure, where there is a GPU
    assert "FELL BACK to eager" in capsys.readouterr().out  # the dry run's compiler fails on purpose
