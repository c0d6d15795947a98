"""StyleGAN2 generator (Karras et al. 2020, config-f) in plain PyTorch.

Written to be state-dict compatible with rosinality's `stylegan2-pytorch` `Generator` and
therefore with the `decoder.*` half of e4e checkpoints: the module names, parameter shapes
and buffers below are exactly theirs. No compiled CUDA ops: the fused bias+leaky-ReLU and
upfirdn2d are expressed with stock PyTorch ops, so the same code runs on CPU, CUDA and MPS.

Two deliberate differences from the reference implementation, both numerically equivalent:
- Modulation is applied to the activations and demodulation to the conv output
  ("non-fused" modulated conv), so a batch of frames shares one convolution with the
  un-modulated weight instead of running one grouped conv per sample.
- FIR filtering runs as a depthwise convolution instead of a 1-channel conv over a
  `[B*C, 1, H, W]` view, which is several times faster on CPU with identical output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def make_fir_kernel(taps: Sequence[float]) -> torch.Tensor:
    """Separable 2-D FIR kernel from 1-D taps, normalised to sum 1. `[k]` -> `[k, k]`."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter with `kernel`, downsample; per channel.

    Same semantics as the reference `upfirdn2d` (the kernel is flipped, i.e. a true
    convolution). `x`: `[B, C, H, W]`; `kernel`: `[kh, kw]`; `pad`: (before, after) applied to
    both axes, negative values crop. Returns `[B, C, H', W']`.
    """
    batch, channels, height, width = x.shape
    if up > 1:
        # Zero insertion as a strided write: x lands on even positions, zeros between.
        upsampled = x.new_zeros(batch, channels, height * up, width * up)
        upsampled[:, :, ::up, ::up] = x
        x = upsampled
    pad0, pad1 = pad
    x = F.pad(x, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    if pad0 < 0 or pad1 < 0:
        x = x[:, :, max(-pad0, 0): x.shape[2] - max(-pad1, 0), max(-pad0, 0): x.shape[3] - max(-pad1, 0)]
    weight = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].expand(channels, 1, *kernel.shape)
    x = F.conv2d(x, weight, groups=channels)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    """Add a per-channel bias (dim 1), leaky ReLU 0.2, then multiply by sqrt(2) to keep the variance."""
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


class PixelNorm(nn.Module):
    """Normalise each vector to unit root-mean-square: `[B, D]` -> `[B, D]`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate: `[B, in] -> [B, out]`.

    The stored weight is `randn / lr_mul` and is scaled by `lr_mul / sqrt(in)` at run time,
    so Adam's step size is the same for every layer (and 100x smaller for the mapping MLP,
    whose `lr_mul` is 0.01). With `activation=True` a fused bias + leaky ReLU follows.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)


class MappingNetwork(nn.Sequential):
    """z -> w: PixelNorm then `n_mlp` EqualLinear layers (lr_mul 0.01, leaky ReLU 0.2 x sqrt 2).

    `[B, style_dim]` -> `[B, style_dim]`. A Sequential so its state-dict keys are
    `style.1.weight` ... `style.{n_mlp}.bias`, as in the published checkpoints.
    """

    def __init__(self, style_dim: int, n_mlp: int, lr_mlp: float):
        layers: list[nn.Module] = [PixelNorm()]
        layers += [EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)]
        super().__init__(*layers)


class Blur(nn.Module):
    """FIR low-pass filter applied per channel with padding `pad`: `[B, C, H, W] -> [B, C, H', W']`.

    The kernel is a buffer (`blur.kernel` in checkpoints) and is used exactly as loaded.
    """

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        # Scaled by factor^2 because the upsampling before it spread each input over factor^2 pixels.
        self.register_buffer("kernel", make_fir_kernel(taps) * (upsample_factor ** 2))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x upsampling by zero insertion + FIR filter (`upsample.kernel`): `[B, C, H, W] -> [B, C, 2H, 2W]`."""

    def __init__(self, taps: Sequence[float], factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_fir_kernel(taps) * (factor ** 2))
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution: `x [B, in, H, W]`, `w [B, style_dim]` -> `[B, out, H', W']`.

    The per-sample style `s = modulation(w)` scales the input channels; with `demodulate`
    each output channel is divided by the norm of its effective (modulated) weight, which
    replaces AdaIN's instance normalisation. With `upsample`, a stride-2 transposed conv
    followed by a [1,3,3,1] blur doubles the resolution (H' = 2H).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        if upsample:  # created before `modulation` so the state-dict order matches the checkpoints
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        style = self.modulation(w)                                   # [B, in]
        weight = self.weight[0] * self.scale                         # [out, in, k, k]
        x = x * style.view(batch, self.in_channel, 1, 1).to(x.dtype)
        if self.upsample:
            x = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2)
            x = self.blur(x)
        else:
            x = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        if self.demodulate:
            # ||W_o * s||^2 = sum_i s_i^2 * sum_k W_oik^2: a [B, in] x [in, out] product
            # instead of materialising one weight tensor per sample.
            weight_sq = weight.pow(2).sum(dim=(2, 3))                # [out, in]
            demod = torch.rsqrt(style.pow(2) @ weight_sq.t() + 1e-8)  # [B, out]
            x = x * demod.view(batch, self.out_channel, 1, 1).to(x.dtype)
        return x


class NoiseInjection(nn.Module):
    """Adds `weight * noise` (one learned scalar, `[1]`): `[B, C, H, W] + [B|1, 1, H, W]`."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            return x
        return x + self.weight.to(x.dtype) * noise.to(x.dtype)


class ConstantInput(nn.Module):
    """The learned 4x4 starting tensor, repeated over the batch: -> `[B, C, 4, 4]`."""

    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class FusedLeakyReLU(nn.Module):
    """Per-channel bias then leaky ReLU 0.2 x sqrt 2 (`activate.bias` in checkpoints)."""

    def __init__(self, channel: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias.to(x.dtype))


class StyledConv(nn.Module):
    """Modulated 3x3 conv + noise + bias/activation: `[B, in, H, W]`, `w [B, D]` -> `[B, out, H|2H, W|2W]`."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation) + bias, added to the upsampled previous RGB.

    `x [B, C, H, W]`, `w [B, D]`, `skip [B, 3, H/2, W/2] | None` -> `[B, 3, H, W]`.
    """

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias.to(x.dtype)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def default_channels(size: int, channel_multiplier: int = 2, channel_max: int = 512) -> dict[int, int]:
    """Feature-map widths per resolution, as in config-f: 512 up to 32x32, then halving.

    With the defaults this is rosinality's table (64: 512, 128: 256, ..., 1024: 32).
    """
    resolutions = [2 ** i for i in range(2, int(math.log2(size)) + 1)]
    return {res: min(channel_max, (16384 * channel_multiplier) // res) for res in resolutions}


@dataclass
class GeneratorConfig:
    """Everything needed to build a `Generator` (and to read one back from a checkpoint)."""

    size: int
    style_dim: int = 512
    n_mlp: int = 8
    lr_mlp: float = 0.01
    channels: dict[int, int] = field(default_factory=dict)

    def __post_init__(self):
        if self.size < 4 or self.size & (self.size - 1):
            raise ValueError(f"generator size must be a power of two >= 4, got {self.size}")
        if not self.channels:
            self.channels = default_channels(self.size)
        self.channels = {int(k): int(v) for k, v in self.channels.items()}

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        """Number of W+ rows (style inputs): 18 at 1024, 14 at 256, 10 at 64."""
        return self.log_size * 2 - 2

    @property
    def num_noise_layers(self) -> int:
        return (self.log_size - 2) * 2 + 1


class Generator(nn.Module):
    """StyleGAN2 generator: W+ codes `[B, n_latent, style_dim]` -> images `[B, 3, size, size]` in ~[-1, 1].

    Sub-modules follow the published checkpoints: `style` (mapping MLP), `input`, `conv1`,
    `to_rgb1`, `convs.*`, `to_rgbs.*`, and the fixed noise buffers `noises.noise_*`.
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.size, self.style_dim = config.size, config.style_dim
        self.n_latent, self.num_layers = config.n_latent, config.num_noise_layers
        ch = config.channels

        self.style = MappingNetwork(config.style_dim, config.n_mlp, config.lr_mlp)
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, config.style_dim)
        self.to_rgb1 = ToRGB(ch[4], config.style_dim, upsample=False)

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer in range(self.num_layers):
            res = 2 ** ((layer + 5) // 2)
            self.noises.register_buffer(f"noise_{layer}", torch.randn(1, 1, res, res))
        in_channel = ch[4]
        for i in range(3, config.log_size + 1):
            out_channel = ch[2 ** i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, config.style_dim, upsample=True))
            self.convs.append(StyledConv(out_channel, out_channel, 3, config.style_dim))
            self.to_rgbs.append(ToRGB(out_channel, config.style_dim))
            in_channel = out_channel

    def noise_buffers(self) -> list[torch.Tensor]:
        """The checkpoint's fixed per-layer noise maps, `[1, 1, r, r]` each (used by noise mode `const`)."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def make_noise(self, mode: str = "const", seed: int | None = None,
                   device: torch.device | str | None = None) -> list[torch.Tensor | None]:
        """Per-layer noise for a whole morph: `const` (checkpoint buffers), `random` (seeded), `none`.

        The same list is passed to every frame, so noise never flickers between frames.
        """
        buffers = self.noise_buffers()
        device = device or buffers[0].device
        if mode == "const":
            return [b.to(device) for b in buffers]
        if mode == "none":
            return [None] * self.num_layers
        if mode == "random":
            gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
            return [torch.randn(b.shape, generator=gen).to(device) for b in buffers]
        raise ValueError(f"unknown noise mode {mode!r} (const, random, none)")

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Average W of `n` mapped random z: `[style_dim]` (for truncation when no latent_avg is stored)."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.style_dim, generator=gen).to(self.input.input.device)
        return self.style(z).mean(0)

    def forward(self, latent: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None,
                truncation: float = 1.0, truncation_latent: torch.Tensor | None = None,
                input_is_latent: bool = True) -> torch.Tensor:
        """Render W+ codes (or z when `input_is_latent=False`) to images.

        `latent`: `[B, n_latent, D]` W+ (a `[B, D]` W or z is broadcast to every row).
        `noise`: one entry per layer (see `make_noise`); None = the checkpoint's buffers.
        Truncation moves every row toward `truncation_latent` (`[D]` or `[n_latent, D]`).
        """
        if not input_is_latent:
            if latent.ndim == 3:
                latent = torch.stack([self.style(latent[:, i]) for i in range(latent.shape[1])], 1)
            else:
                latent = self.style(latent)
        if latent.ndim == 2:
            latent = latent[:, None, :].expand(-1, self.n_latent, -1)
        if latent.shape[1] != self.n_latent or latent.shape[2] != self.style_dim:
            raise ValueError(f"expected W+ codes of shape [B, {self.n_latent}, {self.style_dim}], "
                             f"got {list(latent.shape)}")
        if truncation != 1.0:
            if truncation_latent is None:
                raise ValueError("truncation needs truncation_latent (the average W)")
            latent = truncation_latent + truncation * (latent - truncation_latent)
        if noise is None:
            noise = self.noise_buffers()

        batch = latent.shape[0]
        out = self.conv1(self.input(batch), latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for up_conv, conv, noise1, noise2, to_rgb in zip(self.convs[::2], self.convs[1::2],
                                                          noise[1::2], noise[2::2], self.to_rgbs):
            out = up_conv(out, latent[:, i], noise1)
            out = conv(out, latent[:, i + 1], noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip
