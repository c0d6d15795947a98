"""Tests for interp_cli.refine: Laplacian pyramid, GLO loss and latent refinement.

The refinement tests use a tiny randomly initialised generator (16x16, 32-dim styles), so the
whole file runs in seconds on a CPU; the demo-model numbers are in benchmarks/bench_refine.py.
One test runs `interp encode --refine` on the shipped demo model.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from interp_cli.cli import cli
from interp_cli.align import alignment_available
from interp_cli.errors import UsageError
from interp_cli.models.stylegan2 import Generator, GeneratorConfig
from interp_cli.refine import (
    default_levels,
    expand,
    laplacian_loss,
    laplacian_pyramid,
    reconstruct,
    refine_codes,
)
from tests.cli_runner import cli_runner


def _tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    gen = Generator(GeneratorConfig(size=16, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 32})).eval()
    with torch.no_grad():
        # Fresh NoiseInjection weights are 0; make the noise visible so "held fixed" means something.
        for module in gen.modules():
            if type(module).__name__ == "NoiseInjection":
                module.weight.fill_(0.1)
    return gen


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # The tensors here are tiny: extra threads only add synchronisation, and on a shared
    # 2-core machine a busy neighbour turns every intra-op barrier into a long wait.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gen():
    return _tiny_generator().requires_grad_(False)


@pytest.fixture(scope="module")
def problem(gen):
    """A target rendered from a known code, and a start code perturbed away from it."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        w_true = gen.style(torch.randn(2, gen.style_dim, generator=g))[:, None].repeat(1, gen.n_latent, 1)
        w_true = w_true + 0.1 * torch.randn(w_true.shape, generator=g)
        target = gen(w_true)
        init = w_true + 0.4 * torch.randn(w_true.shape, generator=g)
    return target, init


def _mse(gen, codes, target):
    with torch.no_grad():
        return (gen(codes) - target).pow(2).mean().item()


# --------------------------------------------------------------------------- pyramid

@pytest.mark.parametrize("size", [(64, 64), (37, 53), (5, 2), (1, 1)])
def test_pyramid_rebuilds_exactly_with_expected_sizes(size):
    height, width = size
    img = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    pyramid = laplacian_pyramid(img, 5)
    assert len(pyramid) == 5
    for j, level in enumerate(pyramid):
        # ceil(H / 2^j): each level keeps the odd trailing row/column of the finer one.
        assert tuple(level.shape) == (2, 3, -(-height // 2 ** j), -(-width // 2 ** j))
    assert (reconstruct(pyramid) - img).abs().max().item() < 1e-5


def test_pyramid_bands_are_band_pass():
    # A constant image has no detail: every band-pass level is ~0 and the residual is the constant.
    img = torch.full((1, 3, 37, 53), 0.7)
    pyramid = laplacian_pyramid(img, 4)
    for band in pyramid[:-1]:
        assert band.abs().max().item() < 1e-6
    assert torch.allclose(pyramid[-1], torch.full_like(pyramid[-1], 0.7), atol=1e-6)


def test_expand_gives_exact_size_for_odd_and_even_targets():
    coarse = torch.ones(1, 2, 19, 27)
    for size in [(37, 53), (38, 54), (37, 54)]:
        out = expand(coarse, size)
        assert tuple(out.shape[2:]) == size
        # Borders are normalised like the interior: a constant stays constant.
        assert torch.allclose(out, torch.ones_like(out), atol=1e-6)
    with pytest.raises(ValueError):
        expand(coarse, (40, 53))


def test_pyramid_single_level_is_the_image():
    img = torch.randn(1, 3, 8, 8)
    pyramid = laplacian_pyramid(img, 1)
    assert len(pyramid) == 1 and torch.equal(pyramid[0], img)


# --------------------------------------------------------------------------- loss

def test_laplacian_loss_zero_positive_symmetric():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 37, 53, generator=g) * 2 - 1
    y = torch.rand(2, 3, 37, 53, generator=g) * 2 - 1
    assert laplacian_loss(x, x).item() == 0.0
    assert laplacian_loss(x, y).item() > 0
    assert torch.allclose(laplacian_loss(x, y), laplacian_loss(y, x), rtol=1e-6, atol=0)
    # One changed pixel, and a uniform shift (pure low-pass), are both seen.
    z = x.clone()
    z[1, 2, 36, 52] += 1e-3
    assert laplacian_loss(x, z).item() > 0
    assert laplacian_loss(x, x + 0.01).item() > 0


def test_laplacian_loss_weights_levels_like_glo():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 32, generator=g)
    y = torch.randn(2, 3, 32, 32, generator=g)
    bands = laplacian_pyramid(x - y, 3)
    expected = sum(4.0 ** -j * b.abs().flatten(1).mean(1) for j, b in enumerate(bands))
    per_sample = laplacian_loss(x, y, 3, reduction="none")
    assert per_sample.shape == (2,)
    assert torch.allclose(per_sample, expected)
    assert torch.allclose(laplacian_loss(x, y, 3), expected.mean())


def test_default_levels():
    assert default_levels(64) == 5
    assert default_levels(16) == 3
    assert default_levels(4) == 1
    assert default_levels(1024) == 5


# --------------------------------------------------------------------------- refinement

def test_refine_reduces_reconstruction_error(gen, problem):
    target, init = problem
    before = _mse(gen, init, target)
    for loss in ("l2", "lap", "l2+lap"):
        refined = refine_codes(gen, target, init, steps=40, loss=loss, reg=0.0)
        assert refined.shape == init.shape and refined.dtype == init.dtype
        assert _mse(gen, refined, target) < 0.3 * before, loss


def test_refine_steps_zero_returns_init(gen, problem):
    target, init = problem
    out = refine_codes(gen, target, init, steps=0)
    assert torch.equal(out, init)
    assert out is not init


def test_refine_is_deterministic(gen, problem):
    target, init = problem
    a = refine_codes(gen, target, init, steps=15, seed=3)
    b = refine_codes(gen, target, init, steps=15, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, init)


def test_batch_members_are_refined_independently(gen, problem):
    # Each code's gradient comes from its own image only, so refining a pair gives (up to
    # float reassociation in batched kernels) what refining each alone gives. Adam's normalised steps
    # amplify that reassociation: on some CPUs the pair and the lone run part by up to ~1e-3 after 15
    # steps, while the codes move by ~0.8 and a code pulled by the other image's loss lands ~1.5 away.
    target, init = problem
    pair = refine_codes(gen, target, init, steps=15)
    for i in range(2):
        alone = refine_codes(gen, target[i:i + 1], init[i:i + 1], steps=15)
        moved = (alone - init[i:i + 1]).abs().max()
        assert (pair[i:i + 1] - alone).abs().max() < 0.01 * moved, i


def test_refine_leaves_caller_rng_alone(gen, problem):
    target, init = problem
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    refine_codes(gen, target, init, steps=2, seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_reg_keeps_code_near_init(gen, problem):
    target, init = problem
    free = refine_codes(gen, target, init, steps=30, reg=0.0)
    held = refine_codes(gen, target, init, steps=30, reg=2.0)
    dist_free = (free - init).pow(2).mean().item()
    dist_held = (held - init).pow(2).mean().item()
    assert dist_held < 0.7 * dist_free


def test_generator_gets_no_gradients_and_is_unchanged(problem):
    target, init = problem
    fresh = _tiny_generator()  # requires_grad True on every parameter, as built
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    refine_codes(fresh, target, init, steps=5)
    for name, p in fresh.named_parameters():
        assert p.grad is None, name
        assert p.requires_grad, name  # the caller's flags are restored
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_a_stop_as_the_generator_is_frozen_gives_the_caller_its_flags_back(problem):
    """A Python caller's SIGTERM handler raising its own exception as `refine_codes` turned off requires_grad on the
    caller's generator, one parameter after another, before the block that puts the flags back: the caller's
    generator was left with some parameters frozen (its next training step never moved them). A real SIGTERM,
    landing inside the first `requires_grad_(False)`."""
    from tests.races import Stopped, stop_inside

    target, init = problem
    fresh = _tiny_generator()  # requires_grad True on every parameter, as built
    with stop_inside(torch.Tensor, "requires_grad_", lambda tensor, flag=True: flag is False), \
            pytest.raises(Stopped):
        refine_codes(fresh, target, init, steps=5)
    assert [name for name, p in fresh.named_parameters() if not p.requires_grad] == []


def test_noise_is_held_fixed_and_used(gen, problem):
    target, init = problem
    noise = gen.make_noise("random", seed=5)
    snapshot = [n.clone() for n in noise]
    with_noise = refine_codes(gen, target, init, steps=10, noise=noise)
    assert all(torch.equal(a, b) for a, b in zip(noise, snapshot))
    default = refine_codes(gen, target, init, steps=10)
    # Different noise renders different images, so the optimum moves: the list is really used.
    assert not torch.equal(with_noise, default)


def test_optimize_noise_writes_maps_back(gen, problem):
    target, init = problem
    noise = gen.make_noise("none")
    codes_a = refine_codes(gen, target, init, steps=5, noise=noise, optimize_noise=True, seed=1)
    assert all(n is not None and not n.requires_grad for n in noise)
    assert [tuple(n.shape) for n in noise] == [tuple(b.shape) for b in gen.noise_buffers()]
    # None entries start from seeded noise: another seed gives another result.
    other = gen.make_noise("none")
    codes_b = refine_codes(gen, target, init, steps=5, noise=other, optimize_noise=True, seed=2)
    assert not torch.equal(codes_a, codes_b)
    with pytest.raises(ValueError):
        refine_codes(gen, target, init, steps=1, optimize_noise=True)


def test_targets_of_another_size_are_resized(gen, problem):
    target, init = problem
    big = torch.nn.functional.interpolate(target, scale_factor=4, mode="nearest")
    odd = torch.nn.functional.interpolate(target, size=(23, 23), mode="bilinear", align_corners=False)
    before = _mse(gen, init, target)
    for t in (big, odd):
        refined = refine_codes(gen, t, init, steps=30, reg=0.0)
        assert _mse(gen, refined, target) < 0.5 * before


def test_a_photo_at_a_whole_multiple_of_the_model_size_is_compared_at_its_exact_pixel_averages(problem):
    """A photo whose pixels are each repeated 2x2, 4x4, or along one side only (a whole factor each way) is the
    image itself to the model: the box filter gives it back exactly, where a bilinear filter would blur it."""
    from interp_cli.refine import resize_targets

    target, _ = problem
    size = target.shape[-1]
    for shape in ((2 * size, 2 * size), (4 * size, 4 * size), (size, 2 * size), (3 * size, size)):
        big = torch.nn.functional.interpolate(target, size=shape, mode="nearest")
        assert torch.allclose(resize_targets(big, size), target, atol=1e-6), shape
    assert resize_targets(target, size) is target


def test_optimising_noise_without_the_noise_to_write_it_to_is_refused(gen, problem):
    target, init = problem
    with pytest.raises(ValueError, match="optimize_noise=True needs the noise list"):
        refine_codes(gen, target, init, steps=1, optimize_noise=True)


def test_progress_callback(gen, problem):
    target, init = problem
    calls = []
    refine_codes(gen, target, init, steps=6, progress=lambda step, loss: calls.append((step, loss)))
    assert [s for s, _ in calls] == list(range(1, 7))
    assert all(isinstance(v, float) and v > 0 for _, v in calls)


@pytest.mark.parametrize("keywords,said", [
    ({"loss": "l1"}, 'loss="l1": choose one of l2, lap, l2+lap'),
    ({"steps": -1}, "steps must be between 0 and 10000 (got -1)"),
    ({"steps": 2.5}, "steps must be a whole number (got 2.5)"),
    ({"lr": 0}, "lr must be above 0 (got 0)"),
    ({"lr": "0.1"}, "lr must be a number (got '0.1')"),
    ({"reg": -1}, "reg must be at least 0 (got -1)"),
    ({"seed": 1.5}, "seed must be a whole number (got 1.5)"),
])
def test_refine_codes_refuses_a_wrong_keyword_by_its_name(gen, problem, keywords, said):
    """`refine_codes` said "unknown refine loss 'l1'", "refine steps must be >= 0" and "refine learning rate must
    be > 0": words of no keyword it takes (its caller passes loss=, steps=, lr=); lr="0.1" failed in a comparison
    (a TypeError) and seed=1.5 ran as seed 1. Each is now named as passed, as `tune_generator` names its own."""
    target, init = problem
    with pytest.raises(UsageError) as caught:
        refine_codes(gen, target, init, **{"steps": 1, **keywords})
    assert str(caught.value) == said


def test_refine_rejects_bad_arguments(gen, problem):
    target, init = problem
    with pytest.raises(UsageError):
        refine_codes(gen, target, init, steps=1, loss="l1")
    with pytest.raises(UsageError):
        refine_codes(gen, target, init, steps=-1)
    with pytest.raises(ValueError, match=r"^targets must be \[2, 3, H, W\]"):
        refine_codes(gen, target[:1], init, steps=1)
    with pytest.raises(ValueError):
        refine_codes(gen, target, init[:, :3], steps=1)


def test_no_image_ends_worse_than_its_start_even_when_adam_overshoots(gen, problem):
    # At this rate Adam's first steps throw the codes far off; each image must still get back a
    # code at least as good as the one it started from (objective: plain MSE, no pull to the start).
    target, init = problem
    for steps in (1, 3, 12):
        refined = refine_codes(gen, target, init, steps=steps, loss="l2", reg=0.0, lr=3.0)
        with torch.no_grad():
            before = (gen(init) - target).pow(2).flatten(1).mean(1)
            after = (gen(refined) - target).pow(2).flatten(1).mean(1)
        assert (after <= before).all(), (steps, before, after)


def test_short_refines_through_the_cli_improve_the_likeness(tmp_path):
    """`interp encode --refine N` on a demo face: 5 steps already beat plain e4e, 20 beat 5. Short
    runs used to end below plain e4e (5 steps: 27.1 -> 22.4 dB)."""
    face = Path(__file__).resolve().parents[1] / "examples" / "demo_a.png"
    psnr = {}
    for steps in (0, 5, 20):
        result = cli_runner().invoke(cli, ["encode", str(face), "--weights", "demo", "--refine", str(steps),
                                           "-o", str(tmp_path / f"a{steps}.npy"), "--json"])
        assert result.exit_code == 0, result.stderr
        psnr[steps] = json.loads(result.stdout)["reconstruction"][0]["psnr"]
    assert psnr[0] < psnr[5] < psnr[20], psnr


# --- process-wide state around refinement: RNGs of the device, cuDNN flags, TF32 -----------------------


def test_a_seeded_refinement_never_reseeds_a_device_generator(monkeypatch):
    """A seeded run draws from a CPU generator of its own: `torch.manual_seed` reseeded the MPS and CUDA
    generators too, which had to be saved and put back (MPS's was not at first). (No MPS here: the
    torch.mps RNG functions are stand-ins, which `torch.manual_seed` calls.)"""
    from interp_cli.refine import deterministic

    calls = []
    monkeypatch.setattr(torch.mps, "get_rng_state", lambda *a, **k: calls.append("get"))
    monkeypatch.setattr(torch.mps, "set_rng_state", lambda *a, **k: calls.append("set"))
    monkeypatch.setattr(torch.mps, "manual_seed", lambda seed: calls.append(f"seeded {seed}"))
    with deterministic(torch.device("mps"), 3):
        pass
    assert calls == []


class _PausedList(list):
    """A noise list whose iteration first says `here`, then waits for `go`: refine_codes iterates its noise
    list once, right after seeding, to draw the starting maps of its None entries, so two threads can be
    made to overlap exactly there."""

    def __init__(self, items, here, go):
        super().__init__(items)
        self.here, self.go = here, go

    def __iter__(self):
        self.here.set()
        assert self.go.wait(60)  # only against a hang: nothing here is timed
        return super().__iter__()


def test_seeded_refinements_overlapping_in_threads_give_what_each_gives_alone(gen, problem):
    """Each seeded run draws from a generator of its own. With torch's global RNG seeded (and saved and put
    back) around each run, two `optimize_noise` refinements in threads drew each other's starting maps: the
    first drew from the second's seed, and the second from the caller's stream the first had put back."""
    import threading

    target, init = problem

    def refine(seed, noise):
        return refine_codes(gen, target, init, steps=3, noise=noise, optimize_noise=True, seed=seed)

    alone = {seed: refine(seed, gen.make_noise("none")) for seed in (1, 2)}
    first_here, second_here, first_done = threading.Event(), threading.Event(), threading.Event()
    go_at_once = threading.Event()
    go_at_once.set()
    results = {}

    def first():
        results[1] = refine(1, _PausedList(gen.make_noise("none"), first_here, second_here))
        first_done.set()

    def second():
        assert first_here.wait(60)
        results[2] = refine(2, _PausedList(gen.make_noise("none"), second_here, first_done))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(results) == [1, 2]
    for seed in (1, 2):
        assert torch.equal(results[seed], alone[seed]), seed


@pytest.mark.parametrize("stage", ["refine", "tune"])
def test_a_seeded_run_leaves_the_global_rng_to_the_caller_throughout(gen, problem, stage):
    """While a seeded run goes on, torch's global RNG is the caller's: what its progress callback (or any
    other thread) draws comes from the caller's stream, as it would without interp. It used to be reseeded
    for the run's length, and only put back at the end."""
    from interp_cli.tune import tune_generator

    target, init = problem
    torch.manual_seed(123)
    before = torch.get_rng_state()
    seen = []

    def progress(step, loss):
        seen.append(torch.get_rng_state())

    if stage == "refine":
        refine_codes(gen, target, init, steps=2, seed=7, noise=gen.make_noise("none"), optimize_noise=True,
                     progress=progress)
    else:
        tune_generator(gen, target, init, steps=2, seed=7, progress=progress)
    assert len(seen) == 2 and all(torch.equal(state, before) for state in seen)
    assert torch.equal(torch.get_rng_state(), before)


def test_overlapping_refinements_keep_cudnn_deterministic_until_the_last_ends():
    """cudnn.deterministic / benchmark are process-wide; refinements and tunings may overlap in threads
    (a Session's morphs). The first to end used to restore the flags under the other, which then ran
    with nondeterministic, autotuned kernels, and the last left them pinned. (The cuDNN flags are the
    real ones, and need no GPU to be set.)"""
    from interp_cli.refine import deterministic

    cudnn = torch.backends.cudnn
    saved = cudnn.deterministic, cudnn.benchmark
    cudnn.deterministic, cudnn.benchmark = False, True  # as benchmarks/device_check.py runs
    try:
        first, second = deterministic(torch.device("cuda:0"), 0), deterministic(torch.device("cuda:1"), 0)
        first.__enter__()
        second.__enter__()  # a second thread starts refining
        assert (cudnn.deterministic, cudnn.benchmark) == (True, False)
        first.__exit__(None, None, None)  # the first thread ends; the second goes on
        assert (cudnn.deterministic, cudnn.benchmark) == (True, False)
        second.__exit__(None, None, None)
        assert (cudnn.deterministic, cudnn.benchmark) == (False, True)
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


def test_encoding_refining_and_tuning_hold_strict_fp32(problem, monkeypatch, tiny_ckpt):
    """On CUDA, PyTorch runs float32 convs in TF32 by default (Ampere and newer): "encoding is always fp32"
    was not. The TF32 flags are the real ones; only "cpu" is counted as a device with TF32."""
    from interp_cli import torch_flags
    from interp_cli.tune import tune_generator

    gen = _tiny_generator()
    targets, init = problem
    monkeypatch.setattr(torch_flags, "TF32_DEVICE_TYPES", {"cuda", "cpu"})
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    seen = set()
    hook = gen.register_forward_pre_hook(
        lambda *_: seen.add((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    from PIL import Image

    from interp_cli.session import Session

    session = Session(str(tiny_ckpt), "cpu", log=lambda _: None, progress=False)
    encoder = session.model.encoder
    encoder_hook = encoder.register_forward_pre_hook(
        lambda *_: seen.add((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    try:
        session.encode_image(Image.new("RGB", (32, 32), (120, 90, 60)))
        assert seen == {(False, False)}
        seen.clear()
        refine_codes(gen, targets, init, steps=2, seed=None)
        tune_generator(gen, targets, init, steps=1)  # its copy's hook is copied too
        assert seen == {(False, False)}
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)
    finally:
        hook.remove()
        encoder_hook.remove()
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# --- refining as a morph meets it: after the encoder is freed, said as a bar of its own -----------------

DEMO_FACES = Path(__file__).resolve().parents[1] / "examples"


def test_the_bar_shows_the_loss_of_the_code_kept(gen, problem):
    """Each image gets back its best code, not the last step's: the loss shown after each step is that of the
    codes kept so far (it never rises), and the last is that of the codes returned. It used to be each step's
    own loss, which rose with Adam's overshoot while the code kept did not change."""
    from interp_cli.refine import DEFAULT_REG, _image_loss, default_levels

    target, init = problem
    shown = []
    refined = refine_codes(gen, target, init, steps=8, lr=3.0, noise=gen.make_noise("const"),
                           progress=lambda step, loss: shown.append(loss))
    assert all(later <= earlier for earlier, later in zip(shown, shown[1:])), shown
    with torch.no_grad():
        kept = (_image_loss("l2+lap", gen(refined, noise=gen.make_noise("const")), target, default_levels(gen.size))
                + DEFAULT_REG * (refined - init).pow(2).flatten(1).mean(1)).mean().item()
    assert shown[-1] == pytest.approx(kept, rel=1e-5)


@pytest.fixture()
def refined_by(monkeypatch) -> list:
    """Each `Session.refine` call as (the photo's name, whether the session's encoder was freed by then)."""
    from interp_cli.session import Session

    seen = []
    refine_one = Session.refine

    def watched(self, code, image, settings, name="image"):
        seen.append((name, self.encoder_released))
        return refine_one(self, code, image, settings, name=name)

    monkeypatch.setattr(Session, "refine", watched)
    return seen


def test_a_morph_refines_once_every_input_is_encoded_and_the_encoder_freed(tmp_path, refined_by):
    """At 1024 px the encoder's weights (1 GB) were still held while refining: `--refine 2` peaked at 4.3 GB.
    Now every input goes through the encoder, the encoder is freed, then each is refined: the same codes."""
    from interp_cli import pipeline
    from interp_cli.session import EncodeSettings, Session

    seen = refined_by
    a, b = DEMO_FACES / "demo_a.png", DEMO_FACES / "demo_b.png"
    pipeline.morph([a, b], tmp_path / "m.gif", weights="demo", steps=3, refine=2, cache=False)
    assert seen == [("demo_a.png", True), ("demo_b.png", True)]
    seen.clear()
    summary = pipeline.encode(a, tmp_path / "a.npy", weights="demo", refine=2, cache=False)
    assert seen == [("demo_a.png", True)] and summary["shape"] == [10, 128]
    held = Session("demo", "cpu").encode_photo(a, EncodeSettings(refine=2, cache=False))[0]  # encoder kept
    assert np.array_equal(np.load(tmp_path / "a.npy"), held)


@pytest.mark.parametrize("cache", [True, False])
def test_a_photo_given_twice_is_refined_once_with_the_same_frames(tmp_path, refined_by, cache, monkeypatch):
    """`interp a.png b.png a.png --refine N` (there and back) refined a.png twice, cache or not (the cache is
    written once a code is refined, after every input is encoded): a second "refining a.png" bar, minutes at
    1024 px, for the code the first one made. Now once; the morph ends where it began, bit for bit."""
    import subprocess
    import sys

    from interp_cli import pipeline

    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    a, b = DEMO_FACES / "demo_a.png", DEMO_FACES / "demo_b.png"
    summary = pipeline.morph([a, b, a], tmp_path / "m", weights="demo", steps=3, refine=2, cache=cache)
    assert [name for name, _ in refined_by] == ["demo_a.png", "demo_b.png"]
    frames = sorted((tmp_path / "m").iterdir())
    assert len(frames) == summary["frames"] == 5
    assert frames[0].read_bytes() == frames[-1].read_bytes()
    first, _, last = summary["reconstruction"]
    assert first["psnr"] == last["psnr"] and first["ssim"] == last["ssim"]
    done = subprocess.run([sys.executable, "-m", "interp_cli", str(a), str(b), str(a), "--weights", "demo",
                           "--steps", "3", "--refine", "2", "--no-cache", "-o", str(tmp_path / "m.gif")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert done.returncode == 0, done.stderr
    assert re.findall(r"^refining (\S+):", done.stderr, re.M) == ["demo_a.png", "demo_b.png"], done.stderr


def test_numpy_whole_numbers_for_refine_and_seed_find_the_codes_python_ints_cached(tmp_path, refined_by,
                                                                                      monkeypatch):
    """`morph(..., refine=np.int64(2))` (a loop over np.arange) refined both photos again where `refine=2` had
    cached their codes, and `encode(..., seed=np.int64(3))` and `morph_frames` likewise for the seed: the cache key
    spelt a numpy number as a string. Now they find the same entries: no encoder call, no refining."""
    from interp_cli import pipeline
    from interp_cli.session import Session

    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    a, b = DEMO_FACES / "demo_a.png", DEMO_FACES / "demo_b.png"
    made = pipeline.morph([a, b], tmp_path / "m.gif", weights="demo", steps=2, refine=2, seed=3)
    assert made["encoder_calls"] == 2 and len(refined_by) == 2
    refined_by.clear()
    again = pipeline.morph([a, b], tmp_path / "n.gif", weights="demo", steps=2, refine=np.int64(2), seed=3)
    assert again["encoder_calls"] == 0 and refined_by == []
    assert (tmp_path / "n.gif").read_bytes() == (tmp_path / "m.gif").read_bytes()
    pipeline.encode(a, tmp_path / "a.npy", weights="demo", refine=np.int16(2), seed=np.int64(3))
    session = Session("demo")
    frames = list(pipeline.morph_frames(session, [a, b], steps=2, refine=2, seed=np.int32(3)))
    assert refined_by == [] and session.encoder_calls == 0 and len(frames) == 2


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
def test_a_photo_with_no_face_is_found_before_any_refining(tmp_path, refined_by):
    """`interp a.jpg b.jpg --refine 100` with no face in b.jpg refined a.jpg (minutes at 1024 px) before it
    found that out."""
    from interp_cli import pipeline
    from interp_cli.errors import NoFaceError

    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), "grey").save(blank)
    photo = Path(__file__).parent / "data" / "faces" / "obama.jpg"
    with pytest.raises(NoFaceError):
        pipeline.morph([photo, blank], tmp_path / "m.gif", weights="demo", align=True, steps=3, refine=2,
                       cache=False)
    assert refined_by == [] and not (tmp_path / "m.gif").exists()


def test_refining_off_a_terminal_says_how_it_goes(tmp_path):
    """Refining ran inside the encoding bar, and a bar inside another is silent off a terminal: a log (a
    cluster job's) showed nothing for a 1024 px refine's minutes. It now has a bar of its own per photo, which
    off a terminal prints what every top-level bar does (an early estimate when slow, quarters, a last line),
    with the loss of the code kept."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "interp_cli", str(DEMO_FACES / "demo_a.png"),
                           str(DEMO_FACES / "demo_b.png"), "--weights", "demo", "--steps", "3", "--refine", "4",
                           "--no-cache", "-o", str(tmp_path / "m.gif")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert done.returncode == 0, done.stderr
    for name in ("demo_a.png", "demo_b.png"):
        assert re.search(rf"^refining {name}: 4/4 steps in [\d.]+s \(.*\), best loss \d+\.\d{{4}}$", done.stderr,
                         re.M), done.stderr
    assert "\r" not in done.stderr


def test_refine_with_only_codes_says_there_is_nothing_to_refine(tmp_path):
    """`interp a.npy b.npy --refine 100` refined nothing and said nothing (`--tune` says so for codes)."""
    codes = []
    for face in ("demo_a.png", "demo_b.png"):
        codes.append(str(tmp_path / face.replace(".png", ".npy")))
        assert cli_runner().invoke(cli, ["encode", str(DEMO_FACES / face), "--weights", "demo", "-o", codes[-1],
                                         "-q"]).exit_code == 0
    result = cli_runner().invoke(cli, [*codes, "--weights", "demo", "--steps", "3", "--refine", "100", "-o",
                                       str(tmp_path / "m.gif")])
    assert result.exit_code == 0, result.stderr
    assert ("note: --refine: every input is a .npy code, with no photo to refine against; using the codes as they "
            "are\n") in result.stderr
    assert "refining" not in result.stderr


def test_refine_has_a_maximum_said_in_help_and_refused_before_any_work(tmp_path):
    # `--refine 99999999999999999999` used to start refining, its bar estimating 7e21 s; --tune has had a cap.
    from interp_cli import pipeline
    from interp_cli.limits import REFINE_MAX_STEPS
    from interp_cli.session import EncodeSettings

    runner = cli_runner()
    assert f"at most {REFINE_MAX_STEPS:,})" in " ".join(runner.invoke(cli, ["morph", "--help"]).output.split())
    a, b = str(DEMO_FACES / "demo_a.png"), str(DEMO_FACES / "demo_b.png")
    for words in ([a, b, "-o", str(tmp_path / "x.gif")], ["encode", a, "-o", str(tmp_path / "x.npy")]):
        for count in (REFINE_MAX_STEPS + 1, 99999999999999999999):
            result = runner.invoke(cli, [*words, "--weights", "demo", "--refine", str(count)])
            assert result.exit_code == 2, (words, result.output)
            assert f"--refine must be between 0 and {REFINE_MAX_STEPS} (got {count})" in result.stderr, result.stderr
    with pytest.raises(UsageError, match=f"^refine must be between 0 and {REFINE_MAX_STEPS}"):
        pipeline.morph([a, b], tmp_path / "y.gif", weights="demo", refine=REFINE_MAX_STEPS + 1)
    with pytest.raises(UsageError, match="^refine must be between"):
        pipeline.encode(a, tmp_path / "y.npy", weights="demo", refine=REFINE_MAX_STEPS + 1)
    with pytest.raises(UsageError, match="^refine must be between"):
        EncodeSettings(refine=REFINE_MAX_STEPS + 1)
    EncodeSettings(refine=REFINE_MAX_STEPS)  # the maximum itself is allowed
    assert not list(tmp_path.iterdir())
