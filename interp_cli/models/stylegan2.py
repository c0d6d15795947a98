"""StyleGAN2 generator (Karras et al. 2020, config-f) in plain PyTorch.

Written to be state-dict compatible with rosinality's `stylegan2-pytorch` `Generator` and
therefore with the `decoder.*` half of e4e checkpoints: the module names, parameter shapes
and buffers below are exactly theirs. No compiled CUDA ops: the fused bias+leaky-ReLU and
upfirdn2d are expressed with stock PyTorch ops, so the same code runs on CPU, CUDA and MPS.

The arithmetic is the reference's; only its order differs, for speed (benchmarks/bench.py
measures it; tests/test_stylegan2_fast.py pins each step against the reference formulation):
- One frame (batch 1): style and demodulation are folded into the conv weight (an
  `[out, in, k, k]` product, cheap next to the conv), so the activations are never rescaled.
  A batch shares one convolution with the plain weight and scales its input and output
  ("non-fused" modulation), which batches well and never runs one grouped conv per sample.
  On CPU a batch only helps the small low-resolution layers, so from `PER_FRAME_FROM` pixels
  up each frame finishes on its own (folded weights, one frame's activations alive at a time).
- The bias and the sqrt(2) gain of the leaky ReLU are folded into the conv (LReLU is
  positively homogeneous: lrelu(y) * sqrt2 == lrelu(y * sqrt2)); noise is added in place under no_grad and the ReLU
  always, so a layer allocates its conv output and nothing else (and a refine pass keeps one per layer).
- The upsampling conv stays a stride-2 transposed conv (9 MACs per low-res pixel) followed by
  a depthwise blur: folding the blur into it (a 6x6 kernel, or its four 3x3 polyphase parts)
  is the same maths with 4x the MACs, and measured 1.6-3x slower on CPU.
- FIR filters are depthwise convolutions (not a 1-channel conv over a `[B*C, 1, H, W]` view),
  the 2x upsampling of the RGB skip is a depthwise stride-2 transposed conv (no zero-inserted
  tensor), and activations are channels_last on CPU and CUDA (oneDNN / cuDNN run NHWC
  without converting every layer's input and output).
- The weight-only part of demodulation is cached per weight version (`weight_sq`).
- On x86 CPUs the 3x3 convs of one frame's 64-256 px blocks run as Winograd through NNPACK
  (`winograd.py`: about 1.9x faster there, e.g. 94 -> 49 ms per layer at 64 px); those blocks
  run NCHW, NNPACK's layout, so no transposes are added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from interp_cli.models import winograd

SQRT2 = math.sqrt(2.0)


def fresh_normal(*shape: int, divide_by: float = 1.0) -> torch.Tensor:
    """A new weight drawn from N(0, 1) / `divide_by` (the same numbers as `torch.randn(shape)`).

    Under `torch.device("meta")` (how the checkpoint loader builds a network before assigning
    the file's tensors) it is left undrawn: the first random draw or arithmetic on a meta
    tensor imports torch._dynamo, which costs every CLI run about 1.5 s.
    """
    weight = torch.empty(*shape)
    if weight.is_meta:
        return weight
    weight.normal_()
    return weight.div_(divide_by) if divide_by != 1.0 else weight


def make_fir_kernel(taps: Sequence[float]) -> torch.Tensor:
    """Separable 2-D FIR kernel from 1-D taps, normalised to sum 1. `[k]` -> `[k, k]`.

    Always computed on the CPU (tiny; see `fresh_normal` for why not on the meta device).
    """
    k = torch.tensor(taps, dtype=torch.float32, device="cpu")
    k = k[None, :] * k[:, None]
    return k / k.sum()


# Device types whose 2x upsampling runs as a grouped transposed conv (`upfirdn2d`); elsewhere (MPS) the
# zero-insertion path, which tests/test_device_paths.py also runs on the CPU to keep both the same.
TRANSPOSED_UPSAMPLING_ON = ("cpu", "cuda")


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0), bias: torch.Tensor | None = None) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter with `kernel`, downsample; per channel.

    Same semantics as the reference `upfirdn2d` (the kernel is flipped, i.e. a true
    convolution). `x`: `[B, C, H, W]`; `kernel`: `[kh, kw]`; `pad`: (before, after) applied to
    both axes, negative values crop; `bias`: optional `[C]` added to the result. Returns
    `[B, C, H', W']` in the memory format of `x`.
    """
    channels = x.shape[1]
    weight = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].expand(channels, 1, *kernel.shape)
    pad0, pad1 = pad
    kh = kernel.shape[0]
    if (up == 2 and down == 1 and kh == kernel.shape[1] and pad0 == kh // 2 and pad1 == kh // 2 - 1
            and x.device.type in TRANSPOSED_UPSAMPLING_ON):
        # The usual 2x upsampling: a depthwise stride-2 transposed conv is the same sum without
        # building the zero-inserted tensor (3/4 zeros). It scatters with the unflipped kernel,
        # and its `padding=kh//2 - 1` crops exactly what `pad` would have left over. (Other
        # devices keep the zero-insertion path: grouped transposed convs are not everywhere.)
        return F.conv_transpose2d(x, torch.flip(weight, [2, 3]), bias, stride=2, padding=kh // 2 - 1,
                                  groups=channels)
    if up > 1:
        # Zero insertion as a strided write: x lands on even positions, zeros between.
        batch, _, height, width = x.shape
        upsampled = x.new_zeros(batch, channels, height * up, width * up)
        upsampled[:, :, ::up, ::up] = x
        x = upsampled
    if pad0 == pad1 >= 0:  # symmetric: let the conv pad (no padded copy)
        if (x.requires_grad and torch.is_grad_enabled() and not (bias is not None and bias.requires_grad)
                and x.device.type in TRANSPOSED_UPSAMPLING_ON):
            x = _FixedFilter.apply(x, weight, bias, pad0)
        else:
            x = F.conv2d(x, weight, bias, padding=pad0, groups=channels)
    else:
        x = F.pad(x, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
        if pad0 < 0 or pad1 < 0:
            x = x[:, :, max(-pad0, 0): x.shape[2] - max(-pad1, 0), max(-pad0, 0): x.shape[3] - max(-pad1, 0)]
        x = F.conv2d(x, weight, bias, groups=channels)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


class _FixedFilter(torch.autograd.Function):
    """`F.conv2d(x, weight, bias, padding, groups=C)` by a fixed depthwise kernel (a blur), whose backward
    keeps only the kernel: `x [B, C, H, W]`, `weight [C, 1, kh, kw]`, `bias [C] | None` -> `[B, C, H', W']`.

    Autograd's conv saves its input whatever needs a gradient; a blur's gradient is the transposed conv of
    the incoming gradient by the same kernel, which needs none of it. In a 1024 px refine pass each
    upsampling conv's blur kept its 2x input (a 1025x1025x32 float tensor, 128 MiB, at the top block):
    about 250 MiB in all. The transposed conv is the very sum autograd's conv backward computes (the
    same bits on the CPU, checked by tests/test_stylegan2_fast.py). Used where the kernel and the bias need
    no gradient (a bias being tuned keeps autograd's own conv, whose bias gradient sums in another order),
    and only where grouped transposed convs run (`TRANSPOSED_UPSAMPLING_ON`)."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(weight)
        ctx.padding = padding
        return F.conv2d(x, weight, bias, padding=padding, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad):
        weight, = ctx.saved_tensors
        grad_x = F.conv_transpose2d(grad, weight, padding=ctx.padding, groups=weight.shape[0])
        return grad_x, None, None, None


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
        self.weight = nn.Parameter(fresh_normal(out_dim, in_dim, divide_by=lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (x * scale) W^T == x (W * scale)^T: scaling the [B, in] input instead of the weight
        # saves a weight-sized temporary per call (two per synthesis layer).
        if self.activation:
            return fused_leaky_relu(F.linear(x * self.scale, self.weight), self.bias * self.lr_mul)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x * self.scale, self.weight, bias)


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

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """`bias`: optional `[C]` added to the output (free inside the conv)."""
        return upfirdn2d(x, self.kernel, pad=self.pad, bias=bias)


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


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The autocast dtype in force for `device_type`, None when autocast is off."""
    try:
        if not torch.is_autocast_enabled(device_type):
            return None
        return torch.get_autocast_dtype(device_type)
    except (TypeError, AttributeError):  # torch < 2.4: CUDA only, older names
        if device_type != "cuda" or not torch.is_autocast_enabled():
            return None
        return torch.get_autocast_gpu_dtype()


def _inplace() -> bool:
    """In-place updates of fresh layer outputs are safe when no graph is recorded (rendering);
    with autograd on (code refinement) the out-of-place ops keep every saved tensor intact."""
    return not torch.is_grad_enabled()


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
        self.weight = nn.Parameter(fresh_normal(1, out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        if upsample:  # created before `modulation` so the state-dict order matches the checkpoints
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self._weight_sq: tuple[tuple, torch.Tensor] | None = None   # (weight identity, tensor)
        # With `upsample`: fold the blur into the transposed conv's kernel (see `Generator.set_upsampling`).
        self.fold_blur = False

    def weight_sq(self) -> torch.Tensor:
        """`sum_k (scale * W_oik)^2`, `[out, in]` fp32: the demodulation's per-weight part.

        It depends on the weight alone, so it is kept (one small tensor) until the weight is
        replaced, moved or updated in place (its data pointer or version counter changes).
        While the weight is being trained it is recomputed inside the autograd graph.
        """
        weight = self.weight
        if weight.requires_grad and torch.is_grad_enabled():
            # squeeze, not [0]: a view whose backward is a view too (indexing's allocates and copies
            # a zero tensor of the weight's size for every use, every step)
            return weight.squeeze(0).float().pow(2).sum(dim=(2, 3)) * self.scale ** 2
        key = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
        if self._weight_sq is None or self._weight_sq[0] != key:
            # A normal tensor even under inference_mode, so a later grad-enabled forward
            # (code refinement) may save it for backward.
            with torch.inference_mode(False), torch.no_grad():
                value = weight[0].float().pow(2).sum(dim=(2, 3)) * self.scale ** 2
            self._weight_sq = (key, value)
        return self._weight_sq[1]

    def forward(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None,
                gain: float = 1.0) -> torch.Tensor:
        """`x [B, in, H, W]`, `w [B, style_dim]` -> `gain * modconv(x) + bias` `[B, out, H', W']`.

        `bias` (`[out]`) and `gain` let callers fold their own bias and output scale into the conv.
        """
        batch = x.shape[0]
        style = self.modulation(w).float()                           # [B, in]
        out_scale = None                                             # [B, out]: demodulation x gain
        if self.demodulate:
            # ||W_o * s||^2 = sum_i s_i^2 * sum_k W_oik^2: a [B, in] x [in, out] product
            # instead of materialising one weight tensor per sample.
            out_scale = torch.rsqrt(style.pow(2) @ self.weight_sq().t() + 1e-8) * gain
        elif gain != 1.0:
            out_scale = style.new_full((batch, self.out_channel), gain)

        if batch == 1:
            # One frame: fold style and demodulation into the weight as one [out, in] factor
            # (out*in*k*k multiplies instead of two full passes over the activations).
            factor = style * self.scale                              # [1, in]
            if out_scale is not None:
                factor = out_scale.view(self.out_channel, 1) * factor  # [out, in]
            weight = self.weight[0] * factor.view(-1, self.in_channel, 1, 1).to(self.weight.dtype)
            return self._conv(x, weight.to(x.dtype), bias)

        # A batch: one shared convolution with the plain weight, modulation on its input and
        # demodulation on its output (the per-sample scales commute with the conv).
        # The weight's constant scale rides on the [B, in] styles, not on the [out, in, k, k] weight:
        # one tiny multiply instead of a pass over the weight, forward and (when tuning) backward.
        x = x * (style * self.scale).view(batch, self.in_channel, 1, 1).to(x.dtype)
        out = self._conv(x, self.weight.squeeze(0).to(x.dtype), None)
        if out_scale is not None and bias is not None:               # out * scale + bias, one pass
            scale = out_scale.view(batch, self.out_channel, 1, 1).to(out.dtype)
            bias = bias.view(1, -1, 1, 1).to(out.dtype)
            return torch.addcmul(bias, out, scale, out=out) if _inplace() else torch.addcmul(bias, out, scale)
        if out_scale is not None:
            scale = out_scale.view(batch, self.out_channel, 1, 1).to(out.dtype)
            return out.mul_(scale) if _inplace() else out * scale
        if bias is not None:
            bias = bias.view(1, -1, 1, 1).to(out.dtype)
            return out.add_(bias) if _inplace() else out + bias
        return out

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """Plain conv with `weight [out, in, k, k]`; with `upsample`, stride-2 transposed conv + blur.

        The transposed conv works on the low-resolution grid (9 MACs per input pixel and
        channel pair); the blur is depthwise and cheap, and takes the bias for free.
        """
        if bias is not None:
            bias = bias.to(x.dtype)
        if self.upsample:
            pad0, pad1 = self.blur.pad
            if self.fold_blur and pad0 == pad1:
                # One dense stride-2 transposed conv with the blur folded into its kernel (3x3 (*) 4x4
                # -> 6x6, a true convolution of the two): no depthwise pass over the 2x output. The
                # same sum; its padding crops what the blur's padding would have left over.
                kernel = torch.flip(self.blur.kernel, [0, 1]).to(weight.dtype)[None, None]
                k = self.kernel_size
                folded = F.conv2d(weight.reshape(-1, 1, k, k), kernel, padding=kernel.shape[-1] - 1)
                folded = folded.view(weight.shape[0], weight.shape[1], *folded.shape[-2:])
                return F.conv_transpose2d(x, folded.transpose(0, 1), bias, stride=2,
                                          padding=kernel.shape[-1] - 1 - pad0)
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            return self.blur(x, bias)
        if self.kernel_size == 3 and winograd.applies(x, self.in_channel):
            return winograd.conv3x3(x, weight, bias)    # NCHW in and out: see Generator._blocks
        return F.conv2d(x, weight, bias, padding=self.padding)


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
        self.input = nn.Parameter(fresh_normal(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class FusedLeakyReLU(nn.Module):
    """Per-channel bias then leaky ReLU 0.2 x sqrt 2 (`activate.bias` in checkpoints).

    `[B, channel, H, W]` -> `[B, channel, H, W]` (or `[B, channel]` after a linear layer), same dtype.
    """

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
        # Same as self.activate(self.noise(self.conv(x, w), noise)), with the activation's
        # sqrt(2) gain and bias folded into the conv (lrelu(y) * g == lrelu(y * g) for g > 0),
        # so only the noise add and the ReLU itself touch the activations.
        out = self.conv(x, w, bias=self.activate.bias * SQRT2, gain=SQRT2)
        if noise is not None:
            noise = (self.noise.weight * SQRT2).to(out.dtype) * noise.to(out.dtype)   # [B|1, 1, H, W]
            out = out.add_(noise) if _inplace() else out + noise
        # In place with autograd on too: `out` is this layer's own fresh tensor, which no backward reads (a conv
        # or an add saves its inputs, not its output), and the in-place ReLU saves its result where the
        # out-of-place one saves its input: the next conv saves that same result, so a refine pass keeps one
        # activation a layer instead of two (at 1024 px about 500 MiB less). The same values and gradients, bit
        # for bit (the result's sign is the input's); a saved tensor changed in place would fail loudly in backward.
        return F.leaky_relu_(out, 0.2)


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
        out = self.conv(x, w, bias=self.bias.view(3))
        if skip is not None:
            skip = self.upsample(skip)
            out = out.add_(skip) if _inplace() else out + skip
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

    # Output resolution from which a CPU batch is finished one frame at a time (see `forward`):
    # below it the bigger batched GEMMs pay; above it folded weights and cache reuse do.
    PER_FRAME_FROM = 64
    # Device types whose activations run channels_last (MPS keeps NCHW, its native layout).
    CHANNELS_LAST_ON = ("cpu", "cuda")
    # From this batch size, fp16 on CUDA runs NCHW: measured on an H200 at 1024 px, batch 8, NCHW
    # rendered 249 frames/s against channels_last's 153, while at batch 1 channels_last won 93 to 54
    # (benchmarks/README.md). bf16 and fp32 were measured channels_last only, so they keep it.
    NCHW_FROM_BATCH = 4
    LAYOUTS = ("auto", "channels_last", "nchw")
    UPSAMPLINGS = ("blur", "folded")

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.layout = "auto"   # activations' memory layout: see `channels_last_for`
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
            self.noises.register_buffer(f"noise_{layer}", fresh_normal(1, 1, res, res))
        in_channel = ch[4]
        for i in range(3, config.log_size + 1):
            out_channel = ch[2 ** i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, config.style_dim, upsample=True))
            self.convs.append(StyledConv(out_channel, out_channel, 3, config.style_dim))
            self.to_rgbs.append(ToRGB(out_channel, config.style_dim))
            in_channel = out_channel

    def channels_last_for(self, x: torch.Tensor) -> bool:
        """Whether activations like `x` run channels_last: `layout` if set, else by device, batch and
        precision (`CHANNELS_LAST_ON`, `NCHW_FROM_BATCH`)."""
        if self.layout != "auto":
            return self.layout == "channels_last"
        if x.device.type not in self.CHANNELS_LAST_ON:
            return False
        if x.device.type == "cuda" and x.shape[0] >= self.NCHW_FROM_BATCH and _autocast_dtype("cuda") == torch.float16:
            return False
        return True

    def set_upsampling(self, mode: str) -> None:
        """`blur`: the upsampling convs run a stride-2 3x3 transposed conv, then a depthwise 4x4 blur
        (the default: on CPU folding measured 1.6-3x slower, 4x the MACs); `folded`: one dense 6x6
        transposed conv with the blur inside its kernel (no grouped conv; for GPUs, where the
        depthwise blur ran as cuDNN's slow grouped direct convolution). The same sum either way."""
        if mode not in self.UPSAMPLINGS:
            raise ValueError(f"upsampling {mode!r}: choose one of {', '.join(self.UPSAMPLINGS)}")
        for module in self.modules():
            if isinstance(module, ModulatedConv2d) and module.upsample:
                module.fold_blur = mode == "folded"

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
            return [torch.randn(b.shape, generator=gen, dtype=torch.float32).to(device) for b in buffers]
        raise ValueError(f"unknown noise mode {mode!r} (const, random, none)")

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Average W of `n` mapped random z: `[style_dim]` (for truncation when no latent_avg is stored)."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.style_dim, generator=gen, dtype=torch.float32).to(self.input.input.device)
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
        out, skip = self._head(latent, noise)

        n_blocks = len(self.to_rgbs)
        split = n_blocks
        if batch > 1 and out.device.type == "cpu" and not torch.is_grad_enabled():
            # On CPU a batch only helps the small low-resolution layers (bigger GEMMs); from
            # PER_FRAME_FROM pixels up each frame finishes on its own with the modulation folded
            # into the weights (no extra passes over large activations), and only one frame's
            # large activations are alive at a time. GPUs keep the whole batch together, and so
            # does a forward pass that records a graph (tuning, refining): it keeps every frame's
            # activations for the backward pass anyway, and per-frame passes only add kernels
            # (a 64 px tuning step: 20% slower split).
            split = next((b for b in range(n_blocks) if 2 ** (b + 3) >= self.PER_FRAME_FROM), n_blocks)
        out, skip = self._blocks(out, skip, latent, noise, range(split))
        if split < n_blocks:
            frames = []
            for j in range(batch):
                frame_noise = [n[j:j + 1] if n is not None and n.shape[0] > 1 else n for n in noise]
                frames.append(self._blocks(out[j:j + 1], skip[j:j + 1], latent[j:j + 1], frame_noise,
                                           range(split, n_blocks))[1])
            skip = torch.cat(frames)
        return skip.contiguous()

    def image_at(self, latent: torch.Tensor, noise: Sequence[torch.Tensor | None], size: int) -> torch.Tensor:
        """The image at `size` px (a power of two up to `self.size`) that the blocks above it only add finer
        detail to: their RGB skip output, with only the blocks up to `size` run (tuning a 1024 px model
        compares its 256 px image: `tune._render`).

        `latent [B, n_latent, D]` W+ codes, `noise` one entry per layer -> `[B, 3, size, size]`.
        """
        out, skip = self._head(latent, noise)
        return self._blocks(out, skip, latent, noise, range(int(math.log2(size)) - 2))[1]  # block b ends at 2**(b+3)

    def _head(self, latent: torch.Tensor,
              noise: Sequence[torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """The constant input through the first conv and its RGB: `latent [B, n_latent, D]` ->
        `out [B, C, 4, 4]` features (in the layout `channels_last_for` picks) and `skip [B, 3, 4, 4]`."""
        out = self.input(latent.shape[0])
        if self.channels_last_for(out):
            # NHWC: oneDNN and cuDNN convolve it directly; NCHW costs a layout conversion of
            # every conv's input and output (two full passes per layer on CPU).
            out = out.contiguous(memory_format=torch.channels_last)
        out = self.conv1(out, latent[:, 0], noise[0])
        return out, self.to_rgb1(out, latent[:, 1])

    def _blocks(self, out: torch.Tensor, skip: torch.Tensor, latent: torch.Tensor,
                noise: Sequence[torch.Tensor | None], blocks: range) -> tuple[torch.Tensor, torch.Tensor]:
        """Run synthesis blocks `blocks` (block b doubles the resolution to 2**(b+3)).

        `out [B, C, r, r]` features and `skip [B, 3, r, r]` RGB -> the same at the last block's size.
        """
        for b in blocks:
            i = 2 * b + 1                                            # W+ row and noise index
            if winograd.applies(out, self.convs[2 * b + 1].conv.in_channel, size=2 * out.shape[-1]):
                # NNPACK reads and writes NCHW: the whole block stays in it (a layout change
                # costs a full transpose, 20-30 ms at 256 px on a laptop CPU).
                out = out.contiguous()
            elif self.channels_last_for(out):
                out = out.contiguous(memory_format=torch.channels_last)
            else:
                out = out.contiguous()
            out = self.convs[2 * b](out, latent[:, i], noise[i])
            out = self.convs[2 * b + 1](out, latent[:, i + 1], noise[i + 1])
            skip = self.to_rgbs[b](out, latent[:, i + 2], skip)
        return out, skip
