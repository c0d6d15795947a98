"""Sharpen an e4e inversion by optimising its W+ code against the target photo (`--refine N`).

e4e is trained for editability, not fidelity: its codes land near the middle of W, so the
rendered faces are plausible but soft and only roughly the person. A hundred or so Adam steps
on the code itself (the generator frozen; `--refine 100`) recover much of the detail. Two things keep the
refined codes useful for morphing:

- the loss is an L2 term plus a Laplacian-pyramid L1 term (GLO, Bojanowski et al. 2017,
  arXiv 1707.05776). Plain L2 rewards blur (the mean of plausible details); the pyramid L1
  compares each frequency band on its own, so edges are matched instead of averaged away;
- a penalty on the distance to the e4e start keeps the code in the region of W+ the
  generator renders well, so the in-between frames of a morph stay realistic and sharp.

Everything here works on any device: the optimisation runs where the codes live.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from interp_cli.checks import check_choice, check_number, check_positive, check_refine_steps, check_seed
from interp_cli.limits import REFINE_LOSSES
from interp_cli.optim import FlatAdam
from interp_cli.stops import raise_swallowed
from interp_cli.torch_flags import deterministic_cudnn, strict_fp32

LOSSES = REFINE_LOSSES
# Part of the latent cache's key for refined codes: bump it whenever a change here makes
# `refine_codes` return other codes for the same inputs and settings, so that codes refined by
# the old method are not served from the cache. 2: each image keeps its best code, and the
# warm-up lasts at least MIN_WARMUP_STEPS. 3: FlatAdam's square root is 1 / rsqrt (optim.py).
METHOD_VERSION = 3

# Defaults tuned on the 64x64 demo model (benchmarks/bench_refine.py, N=100): lr 0.1 gains
# ~0.15-0.3 dB over 0.05 and the ramp-down keeps it stable; reg 0.001 gains another ~0.2 dB
# over 0.01 while the morph midpoints stay as sharp as the endpoints (ratio ~1.0); 0.1 cost
# over 1 dB on an earlier demo snapshot. Both are per-element quantities, so they carry
# over to other resolutions.
DEFAULT_LR = 0.1
DEFAULT_REG = 0.001
DEFAULT_LOSS = "l2+lap"
# Weight of the pyramid term in "l2+lap". Its magnitude on [-1, 1] images is comparable to
# the MSE once the optimisation has removed the coarse error, so 1 lets both act.
LAP_WEIGHT = 1.0
# Adam's first step moves every code element by about the full rate whatever its gradient, so
# a warm-up of 5% alone (1 step of a 20-step run) threw short runs off the e4e start. On 8
# held-out demo faces (e4e 27.56 dB; each image keeping its best code) 5/10/20/40/100 steps
# reached 27.56/27.51/27.84/29.08/30.12 dB with the 5% warm-up and 28.05/28.41/28.94/29.51/30.20
# dB with one of at least 10 steps (20 measured the same as 10).
MIN_WARMUP_STEPS = 10

# 5-tap binomial filter: the classic Burt & Adelson pyramid kernel, a cheap Gaussian.
_BINOMIAL5 = (1.0, 4.0, 6.0, 4.0, 1.0)


# --------------------------------------------------------------------------- pyramid

def _pad_mode(length: int) -> str:
    # Reflect padding by 2 needs at least 3 samples; the coarsest levels of a deep pyramid
    # can be 1 or 2 pixels wide, where edge replication is the only sensible extension.
    return "reflect" if length > 2 else "replicate"


def gaussian_blur(img: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap binomial blur per channel, reflect padding: `[B, C, H, W] -> [B, C, H, W]`."""
    channels, height, width = img.shape[1], img.shape[2], img.shape[3]
    taps = torch.tensor(_BINOMIAL5, dtype=img.dtype, device=img.device) / 16.0
    x = F.pad(img, (2, 2, 0, 0), mode=_pad_mode(width))
    x = F.conv2d(x, taps.view(1, 1, 1, 5).expand(channels, 1, 1, 5), groups=channels)
    x = F.pad(x, (0, 0, 2, 2), mode=_pad_mode(height))
    return F.conv2d(x, taps.view(1, 1, 5, 1).expand(channels, 1, 5, 1), groups=channels)


def downsample(img: torch.Tensor) -> torch.Tensor:
    """Blur then keep every other pixel: `[B, C, H, W] -> [B, C, ceil(H/2), ceil(W/2)]`."""
    return gaussian_blur(img)[:, :, ::2, ::2]


def expand(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample `[B, C, h, w]` to exactly `[B, C, H, W]` = `size`, where h = ceil(H/2), w = ceil(W/2).

    Zero insertion then blur, divided by the blurred sample mask so every output pixel is a
    weighted mean of samples. The zero-inserted grid is cropped to `size` *before* blurring,
    so odd sizes come out right instead of one pixel too large (the pitfall of a stride-2
    transposed conv). With reflect padding the sample/zero alternation continues past both
    edges for either parity and the mask blurs to exactly 1/4 everywhere; the division only
    matters for 1-2 pixel wide levels, where edge replication breaks that pattern.
    """
    height, width = size
    batch, channels, h, w = img.shape
    if (h, w) != ((height + 1) // 2, (width + 1) // 2):
        raise ValueError(f"cannot expand {h}x{w} to {height}x{width}: expected a {(height + 1) // 2}x"
                         f"{(width + 1) // 2} input")
    up = img.new_zeros(batch, channels, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = img
    mask = img.new_zeros(1, 1, 2 * h, 2 * w)
    mask[:, :, ::2, ::2] = 1.0
    return gaussian_blur(up[:, :, :height, :width]) / gaussian_blur(mask[:, :, :height, :width])


def laplacian_pyramid(img: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of `img [B, C, H, W]`: `levels` tensors, finest first.

    Level j (j < levels-1) is the band-pass difference `G_j - expand(G_{j+1})` of size
    `[B, C, ceil(H/2^j), ceil(W/2^j)]`; the last level is the low-pass residual `G_{levels-1}`.
    `reconstruct` inverts it exactly (up to float rounding).
    """
    if levels < 1:
        raise ValueError(f"a pyramid needs at least 1 level, got {levels}")
    pyramid = []
    current = img
    for _ in range(levels - 1):
        coarser = downsample(current)
        pyramid.append(current - expand(coarser, (current.shape[2], current.shape[3])))
        current = coarser
    pyramid.append(current)
    return pyramid


def reconstruct(pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
    """Invert `laplacian_pyramid`: list of levels (finest first) -> image `[B, C, H, W]` of level 0's size."""
    img = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        img = band + expand(img, (band.shape[2], band.shape[3]))
    return img


def default_levels(height: int, width: int | None = None, max_levels: int = 5) -> int:
    """Pyramid depth for an image: up to `max_levels`, stopping before the residual drops below 4 px."""
    side = min(height, width if width is not None else height)
    levels = 1
    while levels < max_levels and math.ceil(side / 2 ** levels) >= 4:
        levels += 1
    return levels


def laplacian_loss(x: torch.Tensor, y: torch.Tensor, levels: int | None = None,
                   reduction: str = "mean") -> torch.Tensor:
    """GLO's Laplacian-pyramid L1 distance: sum_j 2^(-2j) * mean |L_j(x) - L_j(y)|.

    `x`, `y`: `[B, C, H, W]`. `levels` defaults to `default_levels(H, W)`. The weights make each
    coarser band count less, as in the paper, so the fine bands (where blur shows) dominate.
    `reduction="mean"` returns a scalar (the mean over the batch); `"none"` returns `[B]`.
    Since the pyramid is invertible, the distance is zero only for identical images.
    """
    if x.shape != y.shape:
        raise ValueError(f"laplacian_loss needs equal shapes, got {list(x.shape)} and {list(y.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if levels is None:
        levels = default_levels(x.shape[2], x.shape[3])
    # The pyramid is linear, so one pyramid of the difference replaces two; it also makes the
    # distance exactly symmetric (negating the input negates every level).
    bands = laplacian_pyramid(x - y, levels)
    per_sample = sum(band.abs().flatten(1).mean(1) * 4.0 ** -j for j, band in enumerate(bands))
    return per_sample.mean() if reduction == "mean" else per_sample


def _image_loss(kind: str, rendered: torch.Tensor, target: torch.Tensor, levels: int) -> torch.Tensor:
    """Per-sample reconstruction loss `[B]` of `rendered` vs `target` (both `[B, 3, S, S]`)."""
    loss = rendered.new_zeros(rendered.shape[0])
    if kind in ("l2", "l2+lap"):
        loss = loss + (rendered - target).pow(2).flatten(1).mean(1)
    if kind in ("lap", "l2+lap"):
        loss = loss + LAP_WEIGHT * laplacian_loss(rendered, target, levels, reduction="none")
    return loss


# --------------------------------------------------------------------------- noise maps

def _noise_regularizer(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Penalty on spatial autocorrelation of noise maps at several scales (StyleGAN2's projector).

    Without it, optimised noise absorbs image content (a faint copy of the target appears
    in the fine layers), which then shows up in every frame of the morph.
    """
    total = maps[0].new_zeros(())
    for noise in maps:
        current = noise
        while True:
            total = total + (current * torch.roll(current, 1, dims=3)).mean().pow(2)
            total = total + (current * torch.roll(current, 1, dims=2)).mean().pow(2)
            if current.shape[2] <= 8:
                break
            current = F.avg_pool2d(current, 2)
    return total


def _normalize_noise_(maps: Sequence[torch.Tensor]) -> None:
    # Keep the maps zero-mean, unit-variance like the noise the generator was trained on;
    # otherwise the optimiser can turn a noise layer into an extra brightness/contrast knob.
    with torch.no_grad():
        for noise in maps:
            mean = noise.mean()
            std = noise.std()
            noise.sub_(mean).div_(std.clamp_min(1e-8))


# --------------------------------------------------------------------------- refinement

def _lr_at(step: int, steps: int, lr: float) -> float:
    """Learning rate for 0-based `step` of `steps`: a linear warm-up over 5% of the steps but at
    least `MIN_WARMUP_STEPS`, and a cosine ramp-down over the last 25%.

    The warm-up keeps Adam's first, poorly scaled updates from throwing the code off the
    e4e start; the ramp-down lets the last steps settle instead of oscillating, so the result
    does not depend on exactly where the budget ends.
    """
    t = step / steps
    ramp_down = min(1.0, (1.0 - t) / 0.25)
    ramp_down = 0.5 - 0.5 * math.cos(ramp_down * math.pi)
    ramp_up = min(1.0, (step + 1) / max(MIN_WARMUP_STEPS, 0.05 * steps))
    return lr * ramp_down * ramp_up


# Device types with antialiased bilinear resizing. MPS had none before torch 2.7 (pytorch/pytorch#145526:
# "aten::_upsample_bilinear2d_aa.out is not currently implemented for the MPS device"), so there the
# targets, a one-off of a few images, are resized on the CPU.
ANTIALIAS_ON = ("cpu", "cuda")


def resize_targets(targets: torch.Tensor, size: int) -> torch.Tensor:
    """`[B, 3, H, W]` -> `[B, 3, size, size]`: box filter for integer shrink factors, else antialiased bilinear."""
    height, width = targets.shape[2], targets.shape[3]
    if (height, width) == (size, size):
        return targets
    if height >= size and width >= size and height % size == 0 and width % size == 0:
        return F.adaptive_avg_pool2d(targets, size)
    where = targets if targets.device.type in ANTIALIAS_ON else targets.cpu()
    resized = F.interpolate(where, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.to(targets.device)


@contextlib.contextmanager
def _frozen(module: torch.nn.Module):
    """Turn off requires_grad on every parameter for the duration, then restore the flags.

    Loaded generators are already frozen; this also covers freshly built ones, so autograd
    never builds graph branches for (or writes .grad into) the generator weights.
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:  # turned off inside: a stop landing among them (a caller's SIGTERM handler's) still puts every flag back
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def deterministic(device: torch.device, seed: int | None) -> contextlib.AbstractContextManager:
    """For a seeded run on CUDA, cuDNN pinned to deterministic kernels; elsewhere nothing.

    The seed itself never touches torch's process-wide RNG (`torch.manual_seed`): a seeded run's draws
    come from a `torch.Generator` of its own (`seeded`). Seeding the global RNG, even saved and put back
    around the run, let two runs overlapping in threads (a `Session`'s morphs in a thread pool) draw each
    other's numbers, and the caller's other threads draw interp's while it ran. The cuDNN flags are
    process-wide: they are held by reference count (`torch_flags`), so refinements and tunings that
    overlap in threads leave them set until the last one ends, then as they were.
    """
    if seed is None or device.type != "cuda":
        return contextlib.nullcontext()
    return deterministic_cudnn()


def seeded(seed: int | None) -> torch.Generator | None:
    """A CPU generator of `seed`'s own (None: torch's global one, an unseeded run's). Draw on the CPU, then
    move the numbers: the same seed then gives the same numbers on every device, which own generators
    (CUDA's Philox, MPS's) would not."""
    return None if seed is None else torch.Generator().manual_seed(int(seed))


# Gradients even inside a caller's `with torch.inference_mode():` (enable_grad alone does not leave it), where
# every step failed inside torch ("element 0 of tensors does not require grad").
@torch.inference_mode(False)
def refine_codes(generator: torch.nn.Module, targets: torch.Tensor, init_codes: torch.Tensor, *,
                 steps: int, loss: str = DEFAULT_LOSS, lr: float = DEFAULT_LR, reg: float = DEFAULT_REG,
                 noise: list[torch.Tensor | None] | None = None, seed: int | None = 0,
                 progress: Callable[[int, float], None] | None = None,
                 optimize_noise: bool = False, noise_reg: float = 1e5,
                 levels: int | None = None) -> torch.Tensor:
    """Optimise W+ codes so the generator reproduces `targets` more closely.

    `generator`: a `Generator` (frozen; its weights are never updated and get no gradients),
    on the same device as `init_codes`. `targets`: `[B, 3, H, W]` in [-1, 1]; resized to the
    generator's `S x S` output if needed. `init_codes`: `[B, n_latent, D]` (the e4e codes).
    Returns refined codes `[B, n_latent, D]`, same dtype and device as `init_codes`.

    Objective per image: `loss(G(w), target) + reg * mean((w - w_init)^2)`, minimised with Adam
    on `w` only for `steps` steps (warm-up + cosine ramp-down of `lr`). Each image's code is
    optimised independently of the others in the batch, and each image gets back the code with
    the lowest objective seen (the start included), so by that objective refining never does
    worse than the e4e code: Adam's first steps overshoot, and on the demo model runs of 5 to 20
    steps used to end below their start (`--refine 5`: 27.1 -> 22.4 dB) where 40 ended above it.
    `loss` is "l2" (MSE), "lap" (GLO Laplacian-pyramid L1, `levels` deep) or "l2+lap" (their
    sum), as `--refine-loss` chooses. `reg` is per element, so it means the same at any W+ size; 0 lets the
    code wander off the e4e start.

    `noise`: the per-layer noise list the render will use (see `Generator.make_noise`); held
    fixed so the refined code matches what the morph will actually draw. None = the
    generator's stored buffers. With `optimize_noise=True` the noise maps are optimised too
    (shared by the whole batch, as the render shares them by all frames, and regularised by
    `noise_reg` against absorbing image content); the optimised maps are written back into
    the `noise` list in place, which must therefore be given. Entries that are None then
    start from seeded Gaussian noise. The noise is shared by the batch, so under
    `optimize_noise` the codes and maps of the last step are returned, not each image's best.

    `seed` seeds a generator of this run's own (torch's global RNG is neither read nor changed, so
    runs in threads never share numbers) and on CUDA selects deterministic cuDNN kernels: same
    inputs and seed give bit-identical codes on CPU. Plain code refinement draws no random numbers
    (Adam from a fixed start is deterministic); the seed picks the starting maps of None noise
    entries under `optimize_noise`, drawn on the CPU so that they are the same on every device
    (None: from torch's global CPU RNG). `progress(step, loss)` is called after every step (1-based) with the batch-mean
    objective of the codes kept so far, each image's best (the last call's, of the codes returned); under
    `optimize_noise`, of the step's own codes. The caller decides how to show it (the CLI: `interp_cli.progress`).
    `steps=0` returns a copy of `init_codes`.
    """
    # Each keyword named as the caller passed it, as `tune_generator` names its own: "refine learning rate must
    # be > 0" and "unknown refine loss" named none of them (the pipeline passes checked values only).
    check_choice("loss", loss, LOSSES)
    steps = check_refine_steps(steps, "steps")
    lr = check_positive("lr", lr)
    reg = check_number("reg", reg, low=0)
    seed = None if seed is None else check_seed(seed)
    n_latent, style_dim, size = generator.n_latent, generator.style_dim, generator.size
    if init_codes.ndim != 3 or tuple(init_codes.shape[1:]) != (n_latent, style_dim):
        raise ValueError(f"init_codes must be [B, {n_latent}, {style_dim}], got {list(init_codes.shape)}")
    if targets.ndim != 4 or targets.shape[1] != 3 or targets.shape[0] != init_codes.shape[0]:
        raise ValueError(f"targets must be [{init_codes.shape[0]}, 3, H, W], got {list(targets.shape)}")
    if optimize_noise and noise is None:
        raise ValueError("optimize_noise=True needs the noise list (the optimised maps are written back into it)")
    if noise is not None and len(noise) != generator.num_layers:
        raise ValueError(f"noise must have {generator.num_layers} entries, got {len(noise)}")

    device = init_codes.device
    weight_device = next(generator.parameters()).device
    if weight_device != device:
        raise ValueError(f"generator is on {weight_device} but the codes are on {device}")
    if steps == 0:
        return init_codes.detach().clone()

    # Work in float32 whatever the codes' dtype: Adam's moments in half precision underflow.
    start = init_codes.detach().to(torch.float32).clone()
    target = resize_targets(targets.detach().to(device=device, dtype=torch.float32).clone(), size)
    if levels is None:
        levels = default_levels(size)
    buffers = generator.noise_buffers()

    # Strict fp32 on CUDA (no TF32): --refine, like encoding, runs in float32 (`torch_flags.strict_fp32`).
    with deterministic(device, seed), strict_fp32(device), _frozen(generator), torch.enable_grad():
        if noise is None:
            noise_maps: list[torch.Tensor | None] = [b.detach().to(device).clone() for b in buffers]
        else:
            noise_maps = []
            draw = seeded(seed)
            for entry, buf in zip(noise, buffers):
                if entry is None and optimize_noise:
                    entry = torch.randn(buf.shape, generator=draw, dtype=torch.float32).to(device)
                noise_maps.append(None if entry is None else entry.detach().to(device, torch.float32).clone())
        codes = start.clone().requires_grad_(True)
        params = [codes]
        if optimize_noise:
            for entry in noise_maps:
                entry.requires_grad_(True)
            params += noise_maps
        optimizer = FlatAdam(params, lr)  # torch.optim.Adam's update, without its 1.4 s first import
        keep_best = not optimize_noise
        best_codes = start.clone()
        best_objective = torch.full((start.shape[0],), math.inf, device=device, dtype=torch.float32)

        def remember_best(per_image: torch.Tensor) -> None:
            # `per_image` was measured on `codes` as they are now, before the next update.
            value = per_image.detach()
            better = value < best_objective
            best_objective[better] = value[better]
            best_codes[better] = codes.detach()[better]

        def objective_per_image() -> torch.Tensor:
            rendered = generator(codes, noise=noise_maps)
            return _image_loss(loss, rendered, target, levels) + reg * (codes - start).pow(2).flatten(1).mean(1)

        for step in range(steps):
            raise_swallowed()  # a stop a bare `except:` swallowed (stops' module doc) ends it here
            optimizer.lr = _lr_at(step, steps, lr)
            per_image = objective_per_image()
            if keep_best:
                remember_best(per_image)
            # Sum, not mean, over the batch: each code's gradient is then exactly what it would
            # be if its image were refined alone, whatever the batch size.
            objective = per_image.sum()
            if optimize_noise:
                objective = objective + noise_reg * _noise_regularizer(noise_maps)
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
            if optimize_noise:
                _normalize_noise_(noise_maps)
            if keep_best and step == steps - 1:
                with torch.no_grad():  # the last update's code is a candidate too, measured before it is said
                    remember_best(objective_per_image())
            if progress is not None:
                # What would be returned if the run ended here: each image's best code (a bar showing the
                # step's own loss went up and down while the code kept only got better).
                shown = best_objective if keep_best else per_image.detach()
                progress(step + 1, float(shown.mean()))
        optimizer.release()
        if keep_best:
            codes = best_codes

    if optimize_noise:
        for i, entry in enumerate(noise_maps):
            noise[i] = entry.detach()
    return codes.detach().to(init_codes.dtype)

