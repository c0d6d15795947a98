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


def test_a_dry_run_goes_through_every_step_and_writes_the_tables(tmp_path, capsys, monkeypatch):
    """The dry run takes the real run's paths: every mode of the sweep (TF32 and fp16 too, which it used to
    skip off CUDA), the CLI at the real run's precisions (it ran fp32 only), --tune on the large-model path
    (image at a smaller size, one image per backward pass; the 16 px toy used to stay on the small one).
    A mode that fails (here fp16, as bf16 does on a GPU without it: "Current CUDA Device does not support
    bfloat16") is a finding in the report, not the end of the check; a compiled row that fell back to eager
    is labelled so and never "best"."""
    import device_check

    from interp_cli import render, tune

    real_autocast, real_tune = render.autocast, tune.tune_generator
    one_pass_up_to = []

    def autocast(device, dtype):
        if dtype == torch.float16:
            raise RuntimeError("Current CUDA Device does not support float16 (a stand-in)")
        return real_autocast(device, dtype)

    def tune_generator(generator, *args, **kwargs):
        one_pass_up_to.append((generator.size, tune.ONE_PASS_UP_TO))
        return real_tune(generator, *args, **kwargs)

    monkeypatch.setattr(render, "autocast", autocast)
    monkeypatch.setattr(tune, "tune_generator", tune_generator)
    assert device_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    for mode, layout, upsampling in [("fp32", "channels_last", "blur"), ("bf16", "nchw", "folded"),
                                     ("fp32", "auto", "folded"), ("tf32", "nchw", "blur"),
                                     ("bf16+compile (fell back to eager)", "auto", "blur")]:
        assert f"| {mode} | {layout} | {upsampling} |" in report, report
    assert "| fp32 | channels_last | blur | " in report and "| 0 | 100.0 |" in report  # the reference itself
    assert "| fp16 |" not in report
    failed, = [line for line in report.splitlines() if line.startswith("failed: ")]
    assert [part.split(" (")[0] for part in failed[len("failed: "):].split("; ")] == [
        f"fp16/{layout}/{up}" for layout in device_check.LAYOUTS for up in device_check.UPSAMPLINGS]
    assert "(RuntimeError: Current CUDA Device does not support float16 (a stand-in))" in failed or (
        "cannot autocast to fp16 on CPU" in failed)  # torch 2.1: refused before it runs
    best, = [line for line in report.splitlines() if line.startswith("best:")]
    assert "compile" not in best
    low = device_check.dry_run_low_precision()  # fp16, as the real run, where this torch's CPU autocast takes it
    assert "| --precision auto |" in report and f"| --precision {low} |" in report and "failed:" not in report.split(
        "| CLI morph")[1]
    assert f"2 rows of 4 frames, --precision {low}" in report and "2 made" in report
    assert "--tune at 16 px, two faces: one step" in report  # issue 31's GPU figure, where there is a GPU
    assert one_pass_up_to and all(size > most for size, most in one_pass_up_to)  # as a 1024 px model is tuned
    assert tune.ONE_PASS_UP_TO == 256  # put back
    assert "FELL BACK to eager" in capsys.readouterr().out  # the dry run's compiler fails on purpose


def test_a_check_killed_in_the_middle_of_the_sweep_keeps_the_rows_it_measured(tmp_path, monkeypatch):
    """The sweep's table was written only once the whole sweep had run: a GPU session's timeout during it
    (24 configurations x 3 batches at 1024 px) lost every row measured."""
    import device_check

    class Killed(BaseException):  # as `timeout` ends it: no `except Exception` sees it
        pass

    calls = []
    real = device_check.seconds_per_call

    def timed(*args, **kwargs):
        calls.append(1)
        if len(calls) > 7:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(device_check, "seconds_per_call", timed)
    with pytest.raises(Killed):
        device_check.main(["--dry-run", "--no-compile", "--out", str(tmp_path)])
    report = (tmp_path / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| fp32 |")]
    assert len(rows) == 2 and rows[0].startswith("| fp32 | channels_last | blur | ") and "| - |" not in rows[0]
    assert "note: the generator sweep: started, not finished" in report


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
    assert "| --precision auto |" in report and "2 rows of 4 frames" in report and "2 made" in report
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
    assert "| --precision auto (PNG frames, no MP4) |" in report and "failed" not in report.split("| CLI morph")[1]
    assert "(PNG frames, no MP4): 2 made" in report
    assert "| fp32 | channels_last | blur | " in report  # the steps that need no ffmpeg all ran
