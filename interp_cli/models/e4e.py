"""e4e encoder ("Designing an Encoder for StyleGAN Image Manipulation", Tov et al. 2021).

An IR-SE-50 ResNet backbone (from ArcFace / InsightFace) tapped at three scales, a small
feature pyramid, and one "gradual style block" per W+ row. Row 0 gives w0, which is copied
to every row; rows 1.. add their own deltas. Module names and shapes match the `encoder.*`
half of the published e4e checkpoints. The preprocessing that goes with it is `preprocess`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interp_cli.models import winograd
from interp_cli.models.stylegan2 import EqualLinear


class SEModule(nn.Module):
    """Squeeze-and-excitation: rescale channels by a gated summary: `[B, C, H, W] -> [B, C, H, W]`."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gate


class BottleneckIR(nn.Module):
    """Improved-residual unit (BN-conv-PReLU-conv-BN[-SE]) plus shortcut.

    `[B, in, H, W] -> [B, depth, H/stride, W/stride]`. The shortcut is a strided 1x1 conv +
    BN when the width changes, else plain subsampling (a 1x1 max-pool with stride).
    """

    def __init__(self, in_channel: int, depth: int, stride: int, use_se: bool = True):
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channel, depth, 1, stride, bias=False),
                                                nn.BatchNorm2d(depth))
        # winograd.Conv2d: the stride-1 3x3 convs at 64-256 px run as Winograd on x86 CPUs.
        layers = [nn.BatchNorm2d(in_channel), winograd.Conv2d(in_channel, depth, 3, 1, 1, bias=False),
                  nn.PReLU(depth), winograd.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth)]
        if use_se:
            layers.append(SEModule(depth))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.shortcut_layer, nn.MaxPool2d):
            # A 1x1 max-pool is plain subsampling (and the identity at stride 1): a strided
            # view instead of max_pool2d's full copy with index bookkeeping.
            stride = self.shortcut_layer.stride
            shortcut = x[:, :, ::stride, ::stride] if stride > 1 else x
        else:
            shortcut = self.shortcut_layer(x)
        return self.res_layer(x) + shortcut


class GradualStyleBlock(nn.Module):
    """Strided 3x3 convs (leaky ReLU 0.01) down to 1x1, then an EqualLinear: `[B, in_c, s, s] -> [B, out_c]`."""

    def __init__(self, in_c: int, out_c: int, spatial: int):
        super().__init__()
        self.out_c = out_c
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, stride=2, padding=1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.out_c))


@dataclass
class EncoderConfig:
    """Shape of an `Encoder4Editing` (not a network). The defaults are e4e's IR-SE-50 at FFHQ 1024."""

    stylegan_size: int = 1024
    style_dim: int = 512
    widths: tuple[int, ...] = (64, 128, 256, 512)
    units: tuple[int, ...] = (3, 4, 14, 3)
    use_se: bool = True
    input_size: int = 256

    def __post_init__(self):
        self.widths, self.units = tuple(int(w) for w in self.widths), tuple(int(u) for u in self.units)
        if len(self.widths) != 4 or len(self.units) != 4:
            raise ValueError("the encoder backbone has exactly four stages")

    @property
    def n_styles(self) -> int:
        return 2 * int(math.log2(self.stylegan_size)) - 2


class Encoder4Editing(nn.Module):
    """Image `[B, 3, input_size, input_size]` in [-1, 1] -> W+ offsets `[B, n_styles, style_dim]`.

    The output does not include the generator's average latent: add `latent_avg` (as
    `E4EModel.encode` does) when the checkpoint was trained with `start_from_latent_avg`.
    Rows 0-2 read the coarsest features (input/16), rows 3-6 the middle pyramid level
    (input/8), rows 7+ the finest (input/4).
    """

    coarse_ind = 3
    middle_ind = 7

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        w = config.widths
        self.input_layer = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]),
                                         nn.PReLU(w[0]))
        units: list[nn.Module] = []
        in_channel = w[0]
        self.stage_ends: list[int] = []
        for depth, count in zip(w, config.units):
            for i in range(count):
                units.append(BottleneckIR(in_channel, depth, 2 if i == 0 else 1, config.use_se))
                in_channel = depth
            self.stage_ends.append(len(units) - 1)
        self.body = nn.Sequential(*units)

        self.style_count = config.n_styles
        s = config.input_size
        self.styles = nn.ModuleList()
        for i in range(self.style_count):
            spatial = s // 16 if i < self.coarse_ind else s // 8 if i < self.middle_ind else s // 4
            self.styles.append(GradualStyleBlock(w[3], config.style_dim, spatial))
        self.latlayer1 = nn.Conv2d(w[2], w[3], 1)
        self.latlayer2 = nn.Conv2d(w[1], w[3], 1)

    @staticmethod
    def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=y.shape[2:], mode="bilinear", align_corners=True) + y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_layer(x)
        taps = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self.stage_ends[1:]:
                taps[i] = x
        c1, c2, c3 = (taps[i] for i in self.stage_ends[1:])

        w0 = self.styles[0](c3)
        rows = [w0]
        features = c3
        for i in range(1, self.style_count):
            if i == self.coarse_ind:
                p2 = self._upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == self.middle_ind:
                features = self._upsample_add(p2, self.latlayer2(c1))
            rows.append(w0 + self.styles[i](features))
        return torch.stack(rows, dim=1)


def preprocess(image, size: int = 256) -> torch.Tensor:
    """PIL image -> encoder input `[1, 3, size, size]` in [-1, 1], exactly as e4e's inference transform.

    RGB, Pillow BILINEAR resize on uint8 (Pillow widens the filter when shrinking, which
    torch's interpolate does not), /255, then (x - 0.5) / 0.5.
    """
    from PIL import Image

    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    x = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255)
    return ((x - 0.5) / 0.5).unsqueeze(0)
