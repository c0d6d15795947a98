"""ICC profiles written from numbers, for colours a file states without a profile: a PNG's gAMA and cHRM
chunks (`interp_cli.images.to_srgb` converts through them as through an embedded profile). Pillow's ImageCms
only creates sRGB, Lab and XYZ profiles.

    matrix_profile(primaries, white, transfer) -> bytes   an ICC v2 RGB display profile (matrix and curves)
    gray_profile(gamma) -> bytes                          an ICC v2 grey display profile (one power curve)

The colorants are the primaries' XYZ under their white, adapted to ICC's D50 connection space with the
Bradford transform (ICC.1 Annex E), as every matrix/TRC profile stores them. `transfer` is a power (the
value is luminance ** (1 / gamma) as a PNG's gAMA states it, so 2.2 for gAMA 0.45455) or "srgb" for
sRGB's curve, written as ICC's parametric curve of function type 3.
"""

from __future__ import annotations

import struct
from typing import Union

import numpy as np

SRGB_PRIMARIES = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))
D65 = (0.3127, 0.3290)
D50_XYZ = (0.9642, 1.0, 0.8249)  # ICC's connection-space white
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

Transfer = Union[float, str]


def _xyz(xy) -> np.ndarray:
    x, y = (float(v) for v in xy)
    if not (0 < y <= 1 and 0 <= x <= 1 and x + y <= 1):
        raise ValueError(f"chromaticity ({x:g}, {y:g}) is not a colour")
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz_d50(primaries, white) -> np.ndarray:
    """The 3 x 3 matrix from linear RGB to D50-adapted XYZ (its columns are the colorants)."""
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    white_xyz = _xyz(white)
    if abs(np.linalg.det(columns)) < 1e-6:
        raise ValueError("the primaries lie on one line")
    matrix = columns * np.linalg.solve(columns, white_xyz)  # scaled so that RGB = 1 is the white
    cone_ratio = (_BRADFORD @ np.array(D50_XYZ)) / (_BRADFORD @ white_xyz)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_ratio) @ _BRADFORD
    return adapt @ matrix


def _s15(value: float) -> bytes:
    return struct.pack(">i", int(round(value * 65536)))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curve_tag(transfer: Transfer) -> bytes:
    if transfer == "srgb":  # Y = (aX + b) ** g for X >= d, else cX
        params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
        return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(p) for p in params)
    gamma = float(transfer)
    if not 1 / 16 <= gamma <= 16:  # a gAMA of 0 or 1e6 is no curve anyone meant
        raise ValueError(f"a gamma of {gamma:g}")
    return b"para\0\0\0\0" + struct.pack(">HH", 0, 0) + _s15(gamma)  # Y = X ** g


def _text_tags(text: str) -> list[tuple[bytes, bytes]]:
    ascii_text = text.encode("ascii") + b"\0"
    # textDescriptionType: the ASCII text, then an empty Unicode and an empty ScriptCode part (67 bytes).
    desc = (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + struct.pack(">IIHB", 0, 0, 0, 0)
            + b"\0" * 67)
    return [(b"desc", desc), (b"cprt", b"text\0\0\0\0none\0")]


def _profile(colour_space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    offset = 128 + 4 + 12 * len(tags)  # header, tag count, tag table
    entries, body = [], b""
    for signature, data in tags:
        body += b"\0" * (-(offset + len(body)) % 4)  # tag data starts on 4-byte boundaries
        entries.append(struct.pack(">4sII", signature, offset + len(body), len(data)))
        body += data
    header = struct.pack(">I4sI4s4s4s6H4s", offset + len(body), b"", 0x02100000, b"mntr", colour_space, b"XYZ ",
                         2024, 1, 1, 0, 0, 0, b"acsp")
    header += b"\0" * (64 - len(header)) + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50_XYZ)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + body


def matrix_profile(primaries=SRGB_PRIMARIES, white=D65, transfer: Transfer = "srgb", name: str = "RGB") -> bytes:
    """An ICC v2 RGB display profile: `primaries` ((x, y) of red, green, blue), `white` (x, y), `transfer`."""
    matrix = rgb_to_xyz_d50(primaries, white)
    curve = _curve_tag(transfer)
    return _profile(b"RGB ", [*_text_tags(name), (b"wtpt", _xyz_tag(D50_XYZ)), (b"rXYZ", _xyz_tag(matrix[:, 0])),
                              (b"gXYZ", _xyz_tag(matrix[:, 1])), (b"bXYZ", _xyz_tag(matrix[:, 2])),
                              (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)])


def gray_profile(gamma: Transfer, name: str = "grey") -> bytes:
    """An ICC v2 grey display profile whose values are luminance ** (1 / gamma)."""
    return _profile(b"GRAY", [*_text_tags(name), (b"wtpt", _xyz_tag(D50_XYZ)), (b"kTRC", _curve_tag(gamma))])
