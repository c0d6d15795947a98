"""Winograd 3x3 convolutions on x86 CPUs, through the NNPACK kernels that ship inside PyTorch.

A stride-1 3x3 conv computed as Winograd F(6x6, 3x3) (NNPACK's choice for that shape) needs
about 5x fewer multiplies than the direct conv oneDNN runs. Whether that wins depends on
the shape; measured on a 2-core Zen 4 (torch 2.13, ms per conv, one image, several runs of
benchmarks/bench_winograd.py and earlier probes):

    channels @ px     oneDNN NHWC   NNPACK NCHW
    512 @ 64            94-108        39-75      generator
    256 @ 128           95-102        42-48      generator
    128 @ 256           98-129        47-58      generator
     64 @ 256           22-46         15-26      encoder
     64 @ 128            6.1           4.4-4.9   encoder
    128 @ 64             5.8           3.1-4.2   encoder
    512 @ 32            27-38         26-34      no gain
    256 @ 32             6.5-7.2       6.5-10    no gain
    512 @ 16             9.8-14       23-24      slower
     32 @ 128            1.4-2.0       1.6-2.4   slower (too few channels)
     64 @ 512           95-132        73-120     see below
     32 @ 1024         105-171       149-228     see below

hence the window below: 64 to 256 px and at least 64 input channels. The generator's 512 and
1024 px blocks stay direct: their upsampling (transposed) conv is 30-60% slower in NCHW, and
switching layouts around the 3x3 conv costs a transpose of 76-190 ms, more than NNPACK saves.
Rounding differs from the direct conv by ~1e-5 relative; the networks' outputs stay within
1e-4 of the reference (measured: under 1e-5 on the golden tests).
NNPACK reads and writes NCHW (an NHWC input costs a transpose, 20-30 ms at 128 @ 256), is
float32 only, ignores autocast, and is used here for inference only, so code refinement
keeps the direct conv's gradients. `INTERP_WINOGRAD=0` in the environment (or `ENABLED = False`
here) turns it off, e.g. to compare against the direct conv bit for bit.
"""

from __future__ import annotations

import os

import torch
from torch import nn

ENABLED = os.environ.get("INTERP_WINOGRAD", "1").strip().lower() not in ("0", "false", "no", "off")
MIN_SIZE = 64
MAX_SIZE = 256
MIN_CHANNELS = 64

_nnpack_usable: bool | None = None


def nnpack_ready() -> bool:
    """NNPACK is compiled in, initialises, and the CPU is x86 with AVX2 (its kernels' ISA).

    Elsewhere (ARM wheels, old x86) the direct conv stays: NNPACK's speed there is unmeasured.
    """
    global _nnpack_usable
    if _nnpack_usable is None:
        capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
        # _nnpack_available() also initialises NNPACK, which must precede its first use.
        _nnpack_usable = capability in ("AVX2", "AVX512") and torch._nnpack_available()
    return _nnpack_usable


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:                                  # torch < 2.4
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def applies(x: torch.Tensor, channels: int, size: int | None = None) -> bool:
    """Whether a stride-1 3x3 conv with `channels` inputs over `x [1, ., H, W]` runs as Winograd.

    `size`: the conv's input resolution when it is not `x`'s own (the generator asks before
    the upsampling that precedes the conv, to pick the block's memory layout).
    """
    size = size or min(x.shape[-2:])
    return (ENABLED and x.device.type == "cpu" and x.dtype == torch.float32 and x.shape[0] == 1
            and MIN_SIZE <= size <= MAX_SIZE and channels >= MIN_CHANNELS
            and not torch.is_grad_enabled() and not _autocast_on("cpu") and nnpack_ready())


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Stride-1, padding-1 3x3 conv `[1, in, H, W]` x `[out, in, 3, 3]` -> `[1, out, H, W]` (NCHW)."""
    return torch._nnpack_spatial_convolution(x, weight, bias, [1, 1])


class Conv2d(nn.Conv2d):
    """`nn.Conv2d` (same parameters and state-dict keys) that runs as Winograd where `applies`.

    `[B, in_channels, H, W]` -> `[B, out_channels, H', W']`, as `nn.Conv2d`; a 3x3, stride 1, padding 1
    conv keeps H and W.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.kernel_size == (3, 3) and self.stride == (1, 1) and self.padding == (1, 1)
                and self.dilation == (1, 1) and self.groups == 1 and self.padding_mode == "zeros"
                and applies(x, self.in_channels)):
            return conv3x3(x, self.weight, self.bias)
        return super().forward(x)
