"""Winograd (NNPACK) 3x3 convs: same function as the direct conv, used only where intended.

`interp_cli/models/winograd.py` routes some stride-1 3x3 convs to NNPACK on x86 CPUs. These
tests widen its size/width window so small random networks take that path, and check the
results against the reference transcriptions, and that autograd, autocast, strided convs and
the off switch keep the direct conv. Skipped where NNPACK cannot run. No timings here.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from interp_cli.models import winograd
from interp_cli.models.e4e import BottleneckIR, Encoder4Editing, EncoderConfig
from interp_cli.models.stylegan2 import Generator, GeneratorConfig
from tests.test_stylegan2_fast import SMALL, assert_close, randomize, reference_generator


@pytest.fixture(scope="module")
def small_generator():
    torch.manual_seed(4)
    return randomize(Generator(GeneratorConfig(**SMALL)))


@pytest.fixture
def winograd_calls(monkeypatch):
    """Winograd on from 8 px and 8 channels up; records the input shape of every NNPACK conv."""
    if not winograd.nnpack_ready():
        pytest.skip("NNPACK is not usable on this CPU")
    monkeypatch.setattr(winograd, "MIN_SIZE", 8)
    monkeypatch.setattr(winograd, "MAX_SIZE", 4096)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 8)
    calls = []
    nnpack = torch._nnpack_spatial_convolution

    def recording(x, *args):
        calls.append(tuple(x.shape))
        return nnpack(x, *args)

    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", recording)
    return calls


@pytest.mark.parametrize("batch", [1, 3])
def test_generator_with_winograd_matches_the_reference(small_generator, winograd_calls, batch, monkeypatch):
    gen = small_generator
    monkeypatch.setattr(gen, "PER_FRAME_FROM", 8)   # a batch finishes frame by frame, as on CPU at 1024
    latent = torch.randn(batch, gen.n_latent, gen.style_dim)
    noise = gen.make_noise("random", seed=5)
    with torch.no_grad():
        expected = reference_generator(gen, latent, noise)
        image = gen(latent, noise=noise)
    # the 3x3 conv after each upsampling, one frame at a time: blocks at 8, 16 and 32 px
    assert sorted(set(winograd_calls)) == [(1, 8, 32, 32), (1, 16, 16, 16), (1, 24, 8, 8)]
    assert len(winograd_calls) == 3 * batch
    assert image.is_contiguous()
    assert_close(image, expected, tol=1e-4)


def test_winograd_is_off_for_autograd_autocast_and_when_disabled(small_generator, winograd_calls, monkeypatch):
    gen = small_generator
    latent = torch.randn(1, gen.n_latent, gen.style_dim, requires_grad=True)
    gen(latent).sum().backward()                      # code refinement: exact gradients, direct conv
    conv = gen.convs[1]                               # a 3x3 conv fed fp32 under autocast, which
    x = torch.randn(1, conv.conv.in_channel, 8, 8)    # NNPACK would silently run in fp32
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(x, latent[:, 0], None).dtype == torch.bfloat16
        gen(latent)
    monkeypatch.setattr(winograd, "ENABLED", False)
    with torch.no_grad():
        gen(latent)
    assert winograd_calls == []


def test_window_limits_are_respected(small_generator, winograd_calls, monkeypatch):
    monkeypatch.setattr(winograd, "MIN_SIZE", 16)
    monkeypatch.setattr(winograd, "MAX_SIZE", 16)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 16)
    with torch.no_grad():
        small_generator(torch.randn(1, small_generator.n_latent, small_generator.style_dim))
    assert winograd_calls == [(1, 16, 16, 16)]       # not 8 px (too small) nor 32 px (too big)


def test_encoder_unit_with_winograd_matches_the_direct_conv(winograd_calls, monkeypatch):
    torch.manual_seed(9)
    unit = BottleneckIR(16, 24, stride=2).eval()
    with torch.no_grad():
        for m in unit.modules():                      # non-trivial batch-norm statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
        x = torch.randn(1, 16, 20, 20)
        fast = unit(x)
        assert winograd_calls == [(1, 16, 20, 20)]   # the stride-1 conv; the stride-2 one stays direct
        monkeypatch.setattr(winograd, "ENABLED", False)
        direct = unit(x)
    assert_close(fast, direct, tol=1e-4)


def test_encoder_with_winograd_matches_and_keeps_its_state_dict(winograd_calls, monkeypatch):
    torch.manual_seed(10)
    config = EncoderConfig(stylegan_size=16, style_dim=32, widths=(16, 32, 48, 64), units=(1, 2, 1, 1),
                           input_size=64)
    encoder = Encoder4Editing(config).eval()
    assert "body.0.res_layer.1.weight" in encoder.state_dict()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        fast = encoder(x)
        assert winograd_calls                          # used from 8 px and 8 channels up
        monkeypatch.setattr(winograd, "ENABLED", False)
        direct = encoder(x)
    assert_close(fast, direct, tol=1e-4)


@pytest.mark.parametrize("value, enabled", [("0", False), ("1", True)])
def test_environment_switch(value, enabled):
    env = {**os.environ, "INTERP_WINOGRAD": value}
    probe = "from interp_cli.models import winograd; print(winograd.ENABLED)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(enabled)


def _nnpack_can_run_here() -> bool:
    """An x86 CPU with AVX2 (read from the kernel, not from the module under test) and a torch built with NNPACK."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not torch._nnpack_available():
        return False
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


needs_nnpack_here = pytest.mark.skipif(not _nnpack_can_run_here(), reason="not an x86 CPU with AVX2 and NNPACK")


@needs_nnpack_here
def test_an_x86_cpu_with_avx2_is_found_ready_for_winograd():
    """The other tests skip where `nnpack_ready()` is False, so a check that never said True (its cache test
    reversed, the ISA test reversed) turned the fast path off on every x86 CPU and passed them all."""
    assert winograd.nnpack_ready() is True


@needs_nnpack_here
@pytest.mark.parametrize("channels, size, fast", [
    (64, 64, True), (64, 256, True), (128, 100, True),
    (64, 63, False), (64, 257, False), (63, 128, False), (64, 512, False), (256, 32, False),
])
def test_the_shipped_window_is_64_to_256_px_from_64_input_channels(monkeypatch, channels, size, fast):
    """The window the module's table measured, at its own limits (the fixture above widens them): a conv in it runs
    as Winograd, one a pixel or a channel outside it stays direct, and both give the direct conv's result."""
    calls = []
    nnpack = torch._nnpack_spatial_convolution
    monkeypatch.setattr(torch, "_nnpack_spatial_convolution",
                        lambda x, *args: calls.append(x.shape) or nnpack(x, *args))
    torch.manual_seed(11)
    conv = winograd.Conv2d(channels, 8, 3, 1, 1).eval()
    x = torch.randn(1, channels, size, size)
    with torch.no_grad():
        out = conv(x)
        direct = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
    assert calls == ([(1, channels, size, size)] if fast else [])
    assert_close(out, direct, tol=1e-4)
