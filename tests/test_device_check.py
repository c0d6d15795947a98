"""benchmarks/device_check.py, the prepared GPU check: its CPU-safe parts, so a typo cannot waste a
GPU session. --dry-run runs every step (sweep, compile fallback, CLI morph, batch) at toy sizes."""

from __future__ import annotations

import json
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


def test_each_part_is_in_the_report_before_the_next_starts(tmp_path, monkeypatch):
    """The CLI, batch and --tune steps run before the sweep and torch.compile (whose first call has no time
    limit), and report.md / report.json are written after each part: a check killed during compile used to
    lose everything, the CLI rows included, since the files were written only at the very end."""
    import device_check

    class Killed(Exception):
        pass

    def killed(*args, **kwargs):
        raise Killed  # as `timeout` would, in the middle of the sweep

    monkeypatch.setattr(device_check, "sweep", killed)
    with pytest.raises(Killed):
        device_check.main(["--dry-run", "--out", str(tmp_path)])
    report = (tmp_path / "report.md").read_text()
    assert "| --precision fp32 |" in report and "2 rows of 4 frames" in report and "2 made" in report
    assert "--tune at 16 px, two faces: one step" in report
    assert "note: the generator sweep: started, not finished" in report
    assert "the generator sweep" in json.loads((tmp_path / "report.json").read_text())["notes"][-1]


@pytest.mark.skipif((ROOT / ".whl").exists(), reason="with .whl/ here the script installs imageio-ffmpeg from it")
def test_without_imageio_ffmpeg_the_cli_steps_write_frames_and_the_report_says_why(tmp_path):
    """The device image has no imageio-ffmpeg; without .whl/ (or pip) the CLI steps used to fail. Now the
    report says why in one line and the CLI and batch steps write PNG frames to a folder, labelled so."""
    hidden = tmp_path / "hidden"
    (hidden / "imageio_ffmpeg").mkdir(parents=True)
    (hidden / "imageio_ffmpeg" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out),
               PYTHONPATH=os.pathsep.join([str(hidden), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh"), "--dry-run", "--no-compile"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = (out / "report.md").read_text()
    notes = [line for line in report.splitlines() if line.startswith("note:")]
    assert notes == ["note: no MP4 writer (imageio-ffmpeg is not installed and .whl/ holds no wheel of it "
                     "(carry=[\".whl\"], see benchmarks/README.md)): the CLI steps write PNG frames to a folder "
                     "instead of MP4"], report
    assert "| --precision fp32 (PNG frames, no MP4) |" in report and "failed" not in report
    assert "--precision fp32 (PNG frames, no MP4): 2 made" in report
    assert "| fp32 | channels_last | blur | " in report  # the steps that need no ffmpeg all ran
