"""What CUDA and Apple MPS need of the code, checked on the CPU: no sessions here have a GPU or a Mac.

- MPS has no float64: a float64 tensor made on (or moved to) an "mps" device raises ("Cannot convert a
  MPS Tensor to float64 dtype as the MPS framework doesn't support float64"). `NoFloat64` watches every
  torch op while the pipeline runs on the CPU and names any that takes or makes a float64 tensor.
  NumPy's float64 on the host is fine (blend.py, likeness.py); torch's is not, wherever it runs, since
  the same code runs on the device.
- The branches that pick a device's path (`CHANNELS_LAST_ON`, `TRANSPOSED_UPSAMPLING_ON`,
  `ANTIALIAS_ON`) run here with a CPU tensor as they would run there, and must give the same numbers.
"""

from __future__ import annotations

import traceback
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from interp_cli import pipeline, refine, tune
from interp_cli.align import alignment_available
from interp_cli.errors import InterpWarning
from interp_cli.models import stylegan2
from interp_cli.models.stylegan2 import Generator, GeneratorConfig

ROOT = Path(__file__).resolve().parents[1]
DEMO_A = ROOT / "examples" / "demo_a.png"
DEMO_B = ROOT / "examples" / "demo_b.png"
DOUBLE = (torch.float64, torch.complex128)


class NoFloat64(TorchDispatchMode):
    """Records each torch op that takes or returns a float64 (or complex128) tensor, with the interp_cli
    line that called it. Modes are per thread: rendering ahead in a thread is turned off while it runs."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in (*args, *(kwargs or {}).values(), *(out if isinstance(out, (tuple, list)) else [out]))
                   if isinstance(t, torch.Tensor)]
        if any(t.dtype in DOUBLE for t in tensors):
            where = [f"{Path(f.filename).name}:{f.lineno}" for f in traceback.extract_stack()
                     if "interp_cli" in f.filename]
            self.found.append(f"{func} at {' < '.join(reversed(where[-3:])) or 'outside interp_cli'}")
        return out


def test_the_float64_guard_sees_torch_float64_and_not_numpy_or_python_numbers():
    with NoFloat64() as guard:
        torch.ones(3) * 0.5 + 2.0  # Python numbers are no float64 tensors
        np.arange(4, dtype=np.float64).mean()  # host NumPy
        torch.from_numpy(np.ones(3, dtype=np.float32)).sum()
    assert guard.found == []
    with NoFloat64() as guard:
        torch.from_numpy(np.ones(3)).float()  # a float64 tensor cast on the way: on MPS, after the move it raises
    assert any("_to_copy" in found for found in guard.found), guard.found


@pytest.mark.parametrize("name, run", [
    ("morph, slerp, random noise, truncation, sheet", lambda tmp: pipeline.morph(
        [DEMO_A, DEMO_B], tmp / "m.gif", steps=3, weights="demo", device="cpu", cache=False, interp="slerp",
        noise="random", truncation=0.7, sheet=tmp / "s.png", progress=False)),
    ("morph --refine", lambda tmp: pipeline.morph(
        [DEMO_A, DEMO_B], tmp / "m.mp4", steps=2, weights="demo", device="cpu", cache=False, refine=1,
        progress=False)),
    ("morph --tune", lambda tmp: pipeline.morph(
        [DEMO_A, DEMO_B], tmp / "m.html", steps=2, weights="demo", device="cpu", cache=False, tune=1,
        progress=False)),
    pytest.param("morph --paste", lambda tmp: pipeline.morph(
        [ROOT / "examples" / "obama.jpg", ROOT / "examples" / "biden.jpg"], tmp / "m.gif", steps=2,
        weights="demo", device="cpu", cache=False, align=True, paste=True, progress=False),
        marks=pytest.mark.skipif(not alignment_available(), reason="--paste needs the align extra")),
    ("encode, render, mix", lambda tmp: (
        pipeline.encode(DEMO_A, tmp / "a.npy", weights="demo", device="cpu", cache=False, progress=False),
        pipeline.render(tmp / "a.npy", tmp / "a.png", weights="demo", device="cpu", truncation=0.5, progress=False),
        pipeline.render(tmp / "a.npy", tmp / "a_raw.npy", weights="demo", device="cpu", progress=False),
        pipeline.mix([DEMO_A, DEMO_B], tmp / "mix.png", weights="demo", device="cpu", cache=False, progress=False))),
])
def test_no_torch_float64_anywhere_in_the_pipeline(name, run, tmp_path, monkeypatch):
    """Encoding, --refine, --tune, rendering, likeness and --paste as the CLI runs them, on the CPU, with
    every torch op watched: one float64 tensor there is a crash on a Mac."""
    monkeypatch.setenv("INTERP_RENDER_AHEAD", "0")  # the render thread would be unwatched
    # --paste needs real photos, which the cartoon demo model draws poorly: each is said, as a user is told.
    poor = ["obama.jpg", "biden.jpg"] if name == "morph --paste" else []
    with (pytest.warns(InterpWarning, match="reproduces this photo poorly") if poor else nullcontext()) as said:
        with NoFloat64() as guard:
            run(tmp_path)
    assert [Path(str(w.message).split(": ")[0]).name for w in (said or [])] == poor
    assert guard.found == [], f"{name}: float64 tensors (MPS has none):\n" + "\n".join(sorted(set(guard.found)))


# --- the branches each device takes, run here with CPU tensors ------------------------------------


def _generator() -> Generator:
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(size=32, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16, 32: 16}))
    with torch.no_grad():
        for module in generator.modules():
            if type(module).__name__ == "NoiseInjection":
                module.weight.fill_(0.1)  # fresh ones are 0: make the noise count
    return generator.eval().requires_grad_(False)


def _as_on_mps(monkeypatch) -> None:
    """The choices the models make for an "mps" tensor, made for CPU tensors: NCHW activations, 2x
    upsampling by zero insertion, antialiased resizing on the host."""
    monkeypatch.setattr(Generator, "CHANNELS_LAST_ON", ())
    monkeypatch.setattr(stylegan2, "TRANSPOSED_UPSAMPLING_ON", ())
    monkeypatch.setattr(refine, "ANTIALIAS_ON", ())


def test_the_mps_path_of_the_generator_draws_what_the_cpu_and_cuda_path_draws(monkeypatch):
    """MPS runs NCHW and upsamples the RGB skip by zero insertion (grouped transposed convs are not
    everywhere there); neither runs on CPU or CUDA, so a slip in them would first show on a Mac."""
    generator = _generator()
    noise = generator.make_noise("const", device="cpu")
    codes = generator.mean_latent(256)[None, None].expand(3, generator.n_latent, -1) \
        + 0.5 * torch.randn(3, generator.n_latent, generator.style_dim, generator=torch.Generator().manual_seed(1))
    transposed, layouts = [], []
    real = stylegan2.F.conv_transpose2d
    monkeypatch.setattr(stylegan2.F, "conv_transpose2d", lambda *a, **k: transposed.append(1) or real(*a, **k))
    generator.conv1.register_forward_pre_hook(lambda module, args: layouts.append(
        args[0].is_contiguous(memory_format=torch.channels_last) and not args[0].is_contiguous()))
    with torch.no_grad():
        usual = generator(codes, noise=noise)
        calls_usual = len(transposed)
        _as_on_mps(monkeypatch)
        transposed.clear()
        as_on_mps = generator(codes, noise=noise)
    assert len(transposed) < calls_usual  # the RGB skips' upsampling took the other path
    assert layouts == [True, False]  # channels_last, then NCHW
    torch.testing.assert_close(as_on_mps, usual, rtol=0, atol=2e-5)


def test_refine_and_tune_on_the_mps_path_give_the_cpu_paths_numbers(monkeypatch):
    """--refine and --tune through the MPS choices (targets of another size resized on the host, NCHW,
    zero-insertion upsampling, with gradients), against the usual path."""
    generator = _generator()
    noise = generator.make_noise("const", device="cpu")
    start = generator.mean_latent(256)[None, None].expand(2, generator.n_latent, -1).clone()
    photos = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(2)) * 2 - 1  # 48 -> 32: antialiased

    def run():
        codes = refine.refine_codes(generator, photos, start, steps=2, noise=noise, seed=0)
        tuned = tune.tune_generator(generator, photos, codes, steps=1, noise=noise, seed=0)
        return codes, [p.detach().clone() for p in tuned.parameters()]

    codes, weights = run()
    _as_on_mps(monkeypatch)
    codes_mps, weights_mps = run()
    torch.testing.assert_close(codes_mps, codes, rtol=0, atol=1e-5)
    for a, b in zip(weights_mps, weights):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_antialiased_resizing_off_the_devices_that_have_it_runs_on_the_host_and_comes_back(monkeypatch):
    photos = torch.rand(2, 3, 50, 70, generator=torch.Generator().manual_seed(3))
    usual = refine.resize_targets(photos, 32)
    monkeypatch.setattr(refine, "ANTIALIAS_ON", ())
    moved = []
    real_cpu = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self, *a, **k: moved.append(self.shape) or real_cpu(self, *a, **k))
    on_host = refine.resize_targets(photos, 32)
    assert moved == [photos.shape] and on_host.device == photos.device
    assert torch.equal(on_host, usual)
