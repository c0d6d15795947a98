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
