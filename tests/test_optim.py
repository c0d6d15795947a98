"""interp_cli/optim.py: FlatAdam, the optimiser of --refine and --tune."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from interp_cli.optim import FlatAdam
from interp_cli.tune import tunable_parameters

ROOT = Path(__file__).resolve().parents[1]


def _tiny():
    from tests.conftest import build_tiny_model

    return build_tiny_model()[0]


def test_flat_adam_takes_torch_adams_steps():
    """FlatAdam (one flat buffer, gradients accumulated into it) moves the weights as torch.optim.Adam
    does, through changing learning rates, and the parameters stay the model's own."""
    mine, theirs = _tiny(), _tiny()
    params = [p for _, p in tunable_parameters(mine)]
    reference = [p for _, p in tunable_parameters(theirs)]
    flat = FlatAdam(params, lr=1e-2)
    adam = torch.optim.Adam(reference, lr=1e-2, foreach=False)
    codes = torch.randn(2, mine.n_latent, mine.style_dim)
    for lr in [1e-2, 3e-3, 2e-2, 1e-3, 5e-3]:
        flat.lr = lr
        for group in adam.param_groups:
            group["lr"] = lr
        flat.zero_grad()
        adam.zero_grad()
        mine(codes).square().mean().backward()
        theirs(codes).square().mean().backward()
        flat.step()
        adam.step()
    start = [p for _, p in tunable_parameters(_tiny())]
    moved = max(float((a - b).detach().abs().max()) for a, b in zip(params, start))
    worst = max(float((a - b).detach().abs().max()) for a, b in zip(params, reference))
    assert moved > 1e-3 and worst < 1e-6 * max(1.0, moved), (moved, worst)
    # the model renders with the stepped weights: they are its parameters, not copies
    with torch.no_grad():
        assert torch.allclose(mine(codes), theirs(codes), atol=1e-5)
    flat.release()
    assert all(p.grad is None for p in params)


def test_a_plain_leaf_tensor_is_stepped_too():
    """--refine steps codes (and noise maps), leaf tensors that are not module parameters."""
    codes = torch.zeros(2, 3, 4, requires_grad=True)
    reference = torch.zeros(2, 3, 4, requires_grad=True)
    flat, adam = FlatAdam([codes], lr=0.1), torch.optim.Adam([reference], lr=0.1, foreach=False)
    target = torch.arange(1.0, 25.0).view(2, 3, 4)
    for _ in range(3):
        flat.zero_grad()
        adam.zero_grad()
        (codes - target).square().sum().backward()
        (reference - target).square().sum().backward()
        flat.step()
        adam.step()
    assert codes.shape == (2, 3, 4) and codes.abs().min() > 0.2
    assert torch.allclose(codes, reference, atol=1e-6)


def test_neither_refining_nor_tuning_imports_torch_dynamo():
    """torch.optim's first optimiser imports torch._dynamo (1.4 s: a fifth of a bare --tune at 64 px,
    a tenth of a two-face --refine 100): refining and tuning must not need it."""
    script = ("import sys, torch\n"
              "from interp_cli.models.checkpoint import load_model\n"
              "from interp_cli.weights import resolve_weights\n"
              "from interp_cli.refine import refine_codes\n"
              "from interp_cli.tune import tune_generator\n"
              "g = load_model(resolve_weights('demo').path).generator\n"
              "codes = torch.randn(2, g.n_latent, g.style_dim) * 0.1\n"
              "targets = torch.zeros(2, 3, g.size, g.size)\n"
              "refine_codes(g, targets, codes, steps=2)\n"
              "tune_generator(g, targets, codes, steps=2)\n"
              "print('torch._dynamo' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_the_step_takes_its_square_root_from_torchs_own_ieee_arithmetic(monkeypatch):
    """torch's CPU float `sqrt` is MKL's vector sqrt, which in fresh processes on a loaded machine now and then
    returned one thread's whole chunk to ~1e-4 instead of to an ulp: the same `--tune` then gave weights up to
    9e-4 apart (benchmarks/README.md, "--tune"). The step takes its root as 1 / rsqrt, torch's own IEEE
    square root and division, and is still Adam's."""
    import numpy as np

    grad = torch.cat([torch.zeros(3), torch.logspace(-30, 3, 4093)])  # zeros, denormal squares, large ones
    codes = torch.zeros_like(grad, requires_grad=True)
    flat = FlatAdam([codes], lr=0.1)
    flat.grad.copy_(grad)

    def refuse(*args, **kwargs):
        raise AssertionError("the step called torch's (MKL's) sqrt")

    monkeypatch.setattr(torch.Tensor, "sqrt", refuse)
    monkeypatch.setattr(torch, "sqrt", refuse)
    flat.step()
    v = (1 - 0.999) * grad.double().numpy() ** 2
    expected = -0.1 / (1 - 0.9) * (1 - 0.9) * grad.double().numpy() / (np.sqrt(v / (1 - 0.999)) + 1e-8)
    assert np.allclose(codes.detach().double().numpy(), expected, rtol=1e-6, atol=0)
