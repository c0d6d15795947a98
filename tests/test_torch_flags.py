"""Process-wide torch settings held by reference count (`interp_cli.torch_flags`); their overlap in threads is in
tests/test_refine.py (cuDNN) and tests/test_render.py (strict fp32)."""

from __future__ import annotations

import pytest
import torch

from interp_cli import torch_flags
from tests.races import Stopped, stop_inside


def test_a_stop_as_cudnn_is_pinned_puts_the_callers_flags_back(monkeypatch):
    """A Python caller's SIGTERM handler raising its own exception as a seeded refinement pinned cuDNN (a real
    SIGTERM, landing inside the write of the flags): they were changed with no holder counted to put them back, so
    the caller's process kept deterministic cuDNN (and no benchmark) until some later holder left.
    Now a stop there still reaches the caller, and the flags are the caller's again."""
    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "deterministic", False)
    monkeypatch.setattr(cudnn, "benchmark", True)
    with stop_inside(torch_flags, "_set_cudnn_choice"), pytest.raises(Stopped):
        with torch_flags.deterministic_cudnn():
            pass
    assert (cudnn.deterministic, cudnn.benchmark) == (False, True)
    with torch_flags.deterministic_cudnn():  # and held again as usual by the next one
        assert (cudnn.deterministic, cudnn.benchmark) == (True, False)
    assert (cudnn.deterministic, cudnn.benchmark) == (False, True)


@pytest.fixture
def callers_tf32():
    """Set the process's two TF32 switches as a caller would; put back what they were after the test (torch's
    cuBLAS switch is a property of a module object, which monkeypatch cannot set)."""
    was = torch_flags._tf32()
    yield torch_flags._set_tf32
    torch_flags._set_tf32(was)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_a_stage_on_cuda_computes_in_strict_fp32_and_gives_the_callers_tf32_back(callers_tf32, device):
    """A Python caller who turned TF32 on for its own work: an interp stage on a CUDA device turns both switches
    off while it runs (else its "fp32" convolutions and matmuls use 10-bit mantissas), and the caller has its TF32
    again afterwards. The switches are plain process flags, so this runs without a GPU."""
    callers_tf32((True, True))
    with torch_flags.strict_fp32(device):
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (False, False)
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "meta", None])
def test_a_stage_off_cuda_leaves_the_callers_tf32_alone(callers_tf32, device):
    """TF32 is CUDA's: a stage on the CPU (or with no device named) leaves a caller's TF32 choice as it is."""
    callers_tf32((True, False))
    with torch_flags.strict_fp32(device):
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, False)
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, False)
