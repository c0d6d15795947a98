"""ICC profiles for tests, written from their published numbers: Pillow's ImageCms only creates sRGB, Lab and
XYZ profiles, and a test must not depend on a profile file some package may or may not have installed.

    rgb_profile("display-p3") -> bytes      an ICC v2 matrix/TRC display profile (Display P3, Adobe RGB (1998))
    gray_profile(gamma) -> bytes            an ICC v2 grey display profile with a pure power curve

The colorants are the primaries' XYZ under D65, adapted to ICC's D50 connection space with the Bradford
transform (ICC.1 Annex E), as every matrix/TRC profile stores them. The curves are ICC's own: a parametric
curve of function type 3 for the sRGB transfer that Display P3 uses, a single gamma for Adobe RGB.
"""

from __future__ import annotations

import struct

import numpy as np

D65 = (0.3127, 0.3290)
D50_XYZ = (0.9642, 1.0, 0.8249)  # ICC's connection-space white
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

# (red, green, blue primaries as xy, white xy, transfer): a float gamma, or "srgb" for the sRGB curve
SPACES = {
    "display-p3": (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65, "srgb"),
    "adobe-rgb": (((0.640, 0.330), (0.210, 0.710), (0.150, 0.060)), D65, 563 / 256),
    "srgb": (((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)), D65, "srgb"),
}


def _xyz(xy) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz_d50(primaries, white) -> np.ndarray:
    """The 3 x 3 matrix from linear RGB to D50-adapted XYZ (columns: the colorants)."""
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    white_xyz = _xyz(white)
    matrix = columns * np.linalg.solve(columns, white_xyz)  # scaled so that RGB = 1 gives the white
    cone_ratio = (_BRADFORD @ np.array(D50_XYZ)) / (_BRADFORD @ white_xyz)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_ratio) @ _BRADFORD
    return adapt @ matrix


def _s15(value: float) -> bytes:
    return struct.pack(">i", int(round(value * 65536)))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curve_tag(transfer) -> bytes:
    if transfer == "srgb":  # Y = (aX + b)^g for X >= d, else cX
        params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
        return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(p) for p in params)
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, int(round(transfer * 256))) + b"\0\0"  # u8Fixed8 gamma


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    # textDescriptionType: ASCII, then an empty Unicode and an empty ScriptCode part (67 bytes of its own).
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + struct.pack(">II", 0, 0)
            + struct.pack(">HB", 0, 0) + b"\0" * 67)


def _profile(colour_space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, body = [], b""
    for signature, data in tags:
        while (offset + len(body)) % 4:
            body += b"\0"
        entries.append(struct.pack(">4sII", signature, offset + len(body), len(data)))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s6H4s", size, b"", 0x02100000, b"mntr", colour_space, b"XYZ ",
                         2024, 1, 1, 0, 0, 0, b"acsp")
    header += b"\0" * (64 - len(header)) + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50_XYZ)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + body


def rgb_profile(space: str) -> bytes:
    """An ICC v2 RGB display profile for one of SPACES."""
    primaries, white, transfer = SPACES[space]
    matrix = rgb_to_xyz_d50(primaries, white)
    curve = _curve_tag(transfer)
    return _profile(b"RGB ", [(b"desc", _desc_tag(f"test {space}")), (b"cprt", b"text\0\0\0\0none\0"),
                              (b"wtpt", _xyz_tag(D50_XYZ)), (b"rXYZ", _xyz_tag(matrix[:, 0])),
                              (b"gXYZ", _xyz_tag(matrix[:, 1])), (b"bXYZ", _xyz_tag(matrix[:, 2])),
                              (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)])


def gray_profile(gamma: float) -> bytes:
    """An ICC v2 grey display profile whose values are luminance to the power `gamma`."""
    return _profile(b"GRAY", [(b"desc", _desc_tag(f"test grey {gamma}")), (b"cprt", b"text\0\0\0\0none\0"),
                              (b"wtpt", _xyz_tag(D50_XYZ)), (b"kTRC", _curve_tag(gamma))])
