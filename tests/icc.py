"""ICC profiles of the colour spaces photos come in, for tests: written from their published numbers by
interp_cli.icc, so that no test depends on a profile file some package may or may not have installed (this
Adobe RGB converts exactly as Debian's icc-profiles-free compatibleWithAdobeRGB1998.icc does).

    rgb_profile("display-p3") -> bytes     an iPhone's Display P3, "adobe-rgb" (1998), or "srgb"
    gray_profile(gamma) -> bytes           interp_cli.icc's
    cmyk_profile() -> bytes                a press's CMYK (an output profile with a lookup table, as real ones are)
"""

from __future__ import annotations

import struct

import numpy as np

from interp_cli.icc import D50_XYZ, D65, SRGB_PRIMARIES, _profile, _text_tags, _xyz_tag, gray_profile, matrix_profile, \
    rgb_to_xyz_d50

__all__ = ["PRESS_INKS", "SPACES", "cmyk_profile", "gray_profile", "press_colour", "rgb_profile"]

# (red, green, blue primaries as xy, white xy, transfer: a power, or "srgb" for the sRGB curve)
SPACES = {
    "display-p3": (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65, "srgb"),
    "adobe-rgb": (((0.640, 0.330), (0.210, 0.710), (0.150, 0.060)), D65, 563 / 256),
    "srgb": (SRGB_PRIMARIES, D65, "srgb"),
}


def rgb_profile(space: str) -> bytes:
    """An ICC v2 RGB display profile for one of SPACES."""
    return matrix_profile(*SPACES[space], name=f"test {space}")


# A press's inks as sRGB colours (roughly coated paper's): what each corner of the CMYK cube prints as. The
# naive conversion (Pillow's, and a browser's without a profile) gives pure (0, 255, 255) for cyan instead.
PRESS_INKS = {"paper": (255, 255, 255), "c": (0, 160, 225), "m": (230, 0, 126), "y": (255, 237, 0),
              "k": (35, 31, 32)}


def press_colour(cmyk) -> np.ndarray:
    """The sRGB colour (float, 0..255) `cmyk_profile` prints `cmyk` (0..255 each) as: the inks' colours
    multiplied, each to the power of its amount, as layers of ink filter the light."""
    colour = np.array(PRESS_INKS["paper"], np.float64)
    for ink, amount in zip("cmyk", cmyk):
        colour = colour * (np.maximum(PRESS_INKS[ink], 1) / 255.0) ** (amount / 255.0)
    return colour


def cmyk_profile(grid: int = 2) -> bytes:
    """An ICC v2 output profile for CMYK whose A2B0 (a lut16 into Lab with `grid` points per ink, as a press's
    profiles are) prints each grid point as `press_colour` says; colours between them are interpolated."""
    steps = np.linspace(0, 255, grid)
    points = np.array(np.meshgrid(*[steps] * 4, indexing="ij")).reshape(4, -1).T  # C slowest, K fastest
    srgb = np.array([press_colour(c) for c in points]) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    ratio = (linear @ rgb_to_xyz_d50(SRGB_PRIMARIES, D65).T) / np.array(D50_XYZ)
    f = np.where(ratio > (6 / 29) ** 3, np.cbrt(ratio), ratio / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)
    # lut16's legacy Lab: L 0..100 as 0..0xFF00, a and b -128..127.996 as 0..0xFFFF
    clut = np.clip(np.rint(np.column_stack([lab[:, 0] * 652.8, (lab[:, 1:] + 128) * 256])), 0, 65535)
    identity = struct.pack(">9i", *(65536 * (i % 4 == 0) for i in range(9)))
    ramp = struct.pack(">HH", 0, 65535)
    lut = (b"mft2\0\0\0\0" + struct.pack(">BBBB", 4, 3, grid, 0) + identity + struct.pack(">HH", 2, 2)
           + ramp * 4 + clut.astype(">u2").tobytes() + ramp * 3)
    profile = bytearray(_profile(b"CMYK", [*_text_tags("test press CMYK"), (b"wtpt", _xyz_tag(D50_XYZ)),
                                           (b"A2B0", lut)]))
    profile[12:16], profile[20:24] = b"prtr", b"Lab "  # an output (printer) profile, into Lab
    return bytes(profile)
