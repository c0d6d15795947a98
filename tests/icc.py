"""ICC profiles of the colour spaces photos come in, for tests: written from their published numbers by
interp_cli.icc, so that no test depends on a profile file some package may or may not have installed (this
Adobe RGB converts exactly as Debian's icc-profiles-free compatibleWithAdobeRGB1998.icc does).

    rgb_profile("display-p3") -> bytes     an iPhone's Display P3, "adobe-rgb" (1998), or "srgb"
    gray_profile(gamma) -> bytes           interp_cli.icc's
"""

from __future__ import annotations

from interp_cli.icc import D65, SRGB_PRIMARIES, gray_profile, matrix_profile

__all__ = ["SPACES", "gray_profile", "rgb_profile"]

# (red, green, blue primaries as xy, white xy, transfer: a power, or "srgb" for the sRGB curve)
SPACES = {
    "display-p3": (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65, "srgb"),
    "adobe-rgb": (((0.640, 0.330), (0.210, 0.710), (0.150, 0.060)), D65, 563 / 256),
    "srgb": (SRGB_PRIMARIES, D65, "srgb"),
}


def rgb_profile(space: str) -> bytes:
    """An ICC v2 RGB display profile for one of SPACES."""
    return matrix_profile(*SPACES[space], name=f"test {space}")
