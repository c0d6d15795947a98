"""Open a user-supplied image safely and turn it into 8-bit RGB.

Everything a user can get wrong about an input file (it is missing, a directory,
not an image, truncated, absurdly large) comes out as a one-line `UsageError`
naming the file, never as a Pillow traceback.

Public API:
    load_image(path, *, max_pixels=160_000_000, log=None) -> PIL.Image.Image   (mode "RGB", 8 bits/channel;
        `log` hears that an animated file's first frame was used)
    check_image(path, *, max_pixels=160_000_000) -> None   refuses what load_image refuses, without its colour
        conversion (which only ever warns), so that a check before the model loads costs a decode (a JPEG's at
        1/8 scale: every byte is still decoded, for 1/64 of the pixels)
    upright_size(path) -> (width, height)   as load_image would return it, from the header alone
    image_to_uint8_array(img) -> np.ndarray                          ([H, W, 3] uint8, writable)

Colour handling (see `to_rgb`):
    * EXIF orientation is applied, so the pixels are the way a photo viewer shows them.
    * Transparency (RGBA, LA, PA, P or L/RGB with a tRNS colour) is composited over white,
      because the encoder was trained on opaque photos and a black background reads as hair.
    * 16-bit and 32-bit integer greys ("I;16*", "I") are scaled 0..65535 -> 0..255
      (Pillow's own conversion clips everything above 255 to white).
    * Float greys ("F") are taken as 0..1 when every finite value lies in [0, 1]
      (the usual convention for float TIFF/FITS), otherwise as 0..255 and clipped.
    * YCbCr, HSV go through Pillow's converters; CIELab through LittleCMS (ImageCms). CMYK goes through its
      embedded profile (a press's: FOGRA, SWOP, Japan Color), and without one through Pillow's converter
      (each ink multiplies), as Chromium shows an untagged CMYK JPEG.
    * An embedded ICC profile (an iPhone's Display P3, a camera's Adobe RGB, a PNG's iCCP) is applied:
      the colours are converted to sRGB, what the encoder was trained on and what every output is
      (`to_srgb`), as a colour-managed viewer shows the photo. A profile that is sRGB's own (no colour
      moves by more than a level) leaves the pixels exactly as stored; one that cannot be used is a
      warning, and the pixels are taken as sRGB, as browsers take them. A PNG without a profile or an
      sRGB chunk is read through its gAMA and cHRM chunks as Chromium reads it (`_png_profile`).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shlex
import struct
import sys
from collections.abc import Callable
from typing import Optional

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, caught_warnings
from .files import PathLike, check_input_file
from .limits import PHOTO_MAX_PIXELS


DEFAULT_MAX_PIXELS = PHOTO_MAX_PIXELS

_ALPHA_MODES = {"RGBA", "LA", "PA", "La", "RGBa"}
_INT16_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_GREY_MODES = {"1", "L", "LA", "La", "F", *_INT16_MODES}
# Converted on its own (the Lab transform): a profile of its is not applied.
_OWN_CONVERSION_MODES = {"LAB"}
# A profile that moves no colour by more than this is sRGB's, and the pixels are kept exactly: sRGB profiles
# differ in their curves' precision (Debian's sRGB.icc against LittleCMS's own moves some values by 1).
_SRGB_TOLERANCE = 1
# Exceptions Pillow's decoders and plugins raise on malformed data; all of them mean
# "this file is broken", which is the user's problem to fix, not a bug of ours.
# KeyError: a TIFF page naming a compression or tag Pillow has no entry for (found by fuzzing).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, struct.error)


class _FileReader(io.BufferedReader):
    """An image file as Pillow reads it, where a read never asks for more than the file has left. A damaged
    length field (a PNG chunk's, set to 2 GB in a 10 kB file) is handed by Pillow to `read` as it stands, and
    Python sets aside that many bytes before reading any: under a memory limit (`ulimit -v`, a scheduler's)
    a MemoryError, told as "out of memory", where the file is only damaged (found by fuzzing)."""

    def __init__(self, name: str):
        super().__init__(io.FileIO(name, "rb"))
        self._size = os.fstat(self.fileno()).st_size

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is not None and size > 0:
            size = max(0, min(size, self._size - self.tell()))
            if not size:
                return b""
        return super().read(size)


def _open(name: str) -> Image.Image:
    """`Image.open` of the file `name` through `_FileReader`; the image closes the file when it is closed."""
    reader = _FileReader(name)
    try:
        image = Image.open(reader)
    except BaseException:
        reader.close()
        raise
    image._exclusive_fp = True  # Pillow's own flag: close() closes the file it was opened on, as for a name
    return image


def _one_line(err: BaseException) -> str:
    """The first line of an exception message, whitespace collapsed (messages must stay one line)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return re.sub(r"\s+", " ", text)


def _limit_text(max_pixels: int) -> str:
    if max_pixels % 1_000_000 == 0:
        return f"{max_pixels // 1_000_000} megapixel limit"
    return f"{max_pixels} pixel limit"


def _too_large(name: str, size: str, pixels: int, max_pixels: int) -> InputError:
    """The refusal of an image of `pixels` (said as `size`) over `max_pixels`, with a command that shrinks it by a
    whole factor to fit: Pillow, which interp runs on, under the Python running interp, so it works wherever this
    is said (ImageMagick may be missing, and on Windows `convert` is another program). Upright (its EXIF
    orientation applied, as interp reads it) and with its colour profile kept."""
    factor = math.ceil(math.sqrt(pixels / max_pixels))
    stem, dot, suffix = name.rpartition(".")
    smaller = f"{stem}_smaller.{suffix}" if dot and "/" not in suffix else f"{name}_smaller.png"
    # Double-quoted strings (json's are Python's too), so the shell quoting around the code stays plain.
    code = ("from PIL import Image, ImageOps; Image.MAX_IMAGE_PIXELS = None; "
            f"im = Image.open({json.dumps(name)}); ImageOps.exif_transpose(im).reduce({factor}).save("
            f'{json.dumps(smaller)}, quality=95, icc_profile=im.info.get("icc_profile"))')
    return InputError(f"{name}: image is {size}, more than the {_limit_text(max_pixels)}; shrink it first, e.g. "
                      f"to 1/{factor} of its width and height: `{shlex.quote(sys.executable)} -c "
                      f"{shlex.quote(code)}`", name)


def upright_size(path: PathLike) -> tuple[int, int]:
    """(width, height) of the image `load_image` would return for `path`, from its header alone (its EXIF
    orientation turns it a quarter for 5-8): what a --paste output's frames will be, known before any decode.
    A file that cannot tell is left to `check_image` to refuse: (0, 0)."""
    try:
        with caught_warnings(("ignore", Image.DecompressionBombWarning), ("ignore", UserWarning)):
            with _open(os.fspath(path)) as im:
                width, height = im.size
                if im.format == "PNG" and not _png_text_after_pixels(im.fp):
                    # Pillow's PNG getexif decodes every pixel (0.2-0.4 s at 12 MP) to reach the chunks after
                    # them; with none there that could hold EXIF, the chunks before (read at open) are all.
                    exif = Image.Image.getexif(im)
                else:
                    exif = im.getexif()
                turned = exif.get(0x0112) in (5, 6, 7, 8)  # Orientation: transposed or a quarter turn
    except (Image.DecompressionBombError, UnidentifiedImageError, *_DECODE_ERRORS):
        return 0, 0
    return (height, width) if turned else (width, height)


# Chunks after a PNG's pixels that Pillow's getexif reads EXIF from: eXIf, or a text chunk ("Raw profile type
# exif", ImageMagick's way); and how many chunks are walked before the answer is "maybe" (a file of tiny IDATs).
_PNG_EXIF_CHUNKS = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")
_PNG_MOST_CHUNKS = 100_000


def _png_text_after_pixels(fh) -> bool:
    """Whether a PNG has, after its first IDAT, a chunk that could hold EXIF (or cannot be walked: then True, and
    Pillow decides). Only the chunks' 8-byte headers are read; their data is skipped with a seek."""
    start = fh.tell()
    try:
        fh.seek(8)  # the signature
        seen_pixels = False
        for _ in range(_PNG_MOST_CHUNKS):
            header = fh.read(8)
            if len(header) < 8:
                return True  # cut short: Pillow's own reading says what that means
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"IEND":
                return False
            if seen_pixels and kind in _PNG_EXIF_CHUNKS:
                return True
            seen_pixels = seen_pixels or kind == b"IDAT"
            fh.seek(length + 4, os.SEEK_CUR)  # the data, then the CRC
        return True
    finally:
        fh.seek(start)


def _check_file(path: PathLike) -> str:
    """Refuse anything that is not a readable regular file (FIFOs and devices would block Image.open)."""
    return check_input_file(path, "an image")


def load_image(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               log: Optional[Callable[[str], None]] = None) -> Image.Image:
    """Open `path` and return it as an upright 8-bit RGB `PIL.Image.Image`.

    The size is checked against `max_pixels` from the header alone, before any pixel is
    decoded, so a 40000x40000 PNG of zeros costs nothing. Pillow's own decompression-bomb
    guard (`Image.MAX_IMAGE_PIXELS`) still applies on top: past twice that limit Pillow
    refuses to even report the size, and we turn its error into the same `UsageError`.
    Pillow's `DecompressionBombWarning` is silenced because `max_pixels` is the policy here.

    Raises `UsageError` (one line, starting with the path) for a missing file, a directory,
    an unreadable file, a non-image, a truncated/corrupt image, or one over the limit.

    Colours are sRGB: an embedded ICC profile, or a PNG's gAMA/cHRM, is applied (`to_srgb`); `log`, if given,
    hears of one that cannot be used.

    An animation (GIF, WebP, APNG) or a multi-page TIFF gives its first frame; `log`, if given, is told so
    in a "warning: " line (a command's log: --json lists it among its warnings). Callers that only check the
    file (before the model loads) use `check_image`, so that each command says it once, where the image is used.
    """
    name, upright, info, frames, damage = _decode(path, max_pixels, count_frames=log is not None)
    image = to_srgb(upright, info, name=name, log=log)
    for text in damage if log is not None else ():
        log(f"warning: {name}: its metadata is damaged ({text}); what could be read of it was used")
    if frames > 1:
        log(f"warning: {name}: has {frames} frames; frame 1 of {frames} was used (to use another, save it as "
            "an image of its own)")
    return image


def check_image(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise the `UsageError` `load_image` would raise for `path`, if any: the whole file is decoded (a truncated
    file is found; a JPEG at 1/8 scale, see `_decode`) and its mode must convert to RGB. The colour conversion is
    left out: it can only warn, and for a profiled 12 MP photo it cost more than the decode."""
    name, upright, _, _, _ = _decode(path, max_pixels, count_frames=False, scaled=True)
    if upright.mode != "CMYK":  # which always converts (load_image may do so through its profile instead)
        _rgb(name, upright)


def _rgb(name: str, decoded: Image.Image) -> Image.Image:
    try:
        return to_rgb(decoded)
    except ValueError as err:
        raise InputError(f"{name}: unsupported colour mode {decoded.mode!r} ({_one_line(err)})", name) from None


def check_image_header(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise the `UsageError` `load_image` would raise for what `path`'s header tells (no image at all, a
    phone's HEIC that this Pillow cannot decode, too many pixels, unreadable), decoding no pixel: milliseconds,
    so the CLI says it before torch's import (a second or more) instead of after it; `check_image` still
    decodes the photo (a truncated file) where the command begins."""
    _decode(path, max_pixels, count_frames=False, pixels=False)


def _decode(path: PathLike, max_pixels: int, *, count_frames: bool, pixels: bool = True,
            scaled: bool = False) -> tuple[str, Optional[Image.Image], dict, int, list[str]]:
    """(the name to say, the first frame decoded and turned upright, the file's Pillow info, its frame count or
    1 where not `count_frames`, what Pillow warned of it); a file that cannot give them is a `UsageError` (see
    `load_image`). Without `pixels`, only the header is read: no image, no info, no warnings.

    `scaled` decodes a JPEG at an eighth of its width and height (libjpeg's DCT scaling), for `check_image`:
    every byte of the file is still entropy-decoded, so a truncated or damaged file fails as it does in full, with
    the same message, for 1/64 of the pixels (a 48 MP photo: 0.07 s and 2 MB, not 0.3 s and 144 MB). A check that
    kept its image for the encoder instead would hold it through the model's load.

    Pillow warns with Python's `warnings` of damage it reads past (a corrupt EXIF block: "Corrupt EXIF data.
    Expecting to read 12 bytes but only got 2."), which printed two lines naming Pillow's own source file, each
    time the photo was read; they are kept here for `load_image` to say in one line that names the photo."""
    name = _check_file(path)
    try:
        with caught_warnings(("ignore", Image.DecompressionBombWarning), ("always", UserWarning)) as caught:
            with _open(name) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise _too_large(name, f"{width}x{height} pixels", width * height, max_pixels)
                if not pixels:
                    return name, None, {}, 1, []
                if scaled:
                    im.draft(im.mode, (max(1, width // 8), max(1, height // 8)))  # does nothing but for JPEG
                try:
                    im.load()
                    upright = ImageOps.exif_transpose(im)
                except Image.DecompressionBombError:
                    raise
                # AttributeError: Pillow 9.2 closes a TIFF whose later page it cannot read once the first is
                # loaded, and its EXIF is then read from no file ("'NoneType' object has no attribute 'seek'").
                except (*_DECODE_ERRORS, AttributeError) as err:
                    raise InputError(f"{name}: truncated or corrupt image ({_one_line(err)})", name) from None
                frames = _frame_count(im) if count_frames else 1
                info = dict(im.info)
    except Image.DecompressionBombError as err:
        # Only the pixel count is known here: Pillow raises before handing out the image.
        match = re.search(r"\((\d+) pixels\)", str(err))
        if not match:
            raise InputError(f"{name}: image is too large, more than the {_limit_text(max_pixels)}", name) from None
        pixels = int(match.group(1))
        raise _too_large(name, f"{pixels / 1e6:g} megapixels", pixels, max_pixels) from None
    except UnidentifiedImageError:
        kind = _undecodable_kind(name)
        if kind:
            article = "an" if kind == "AVIF" else "a"  # "ay-vif"; "a HEIC" ("heek"), "a JPEG XL"
            raise InputError(f"{name}: {article} {kind} image, which this Pillow cannot decode; convert it to JPEG "
                             "or PNG first", name) from None
        raise InputError(f"{name}: not an image (cannot identify image file)", name) from None
    except PermissionError:
        raise InputError(f"{name}: permission denied", name) from None
    except _DECODE_ERRORS as err:
        raise InputError(f"{name}: not a readable image ({_one_line(err)})", name) from None
    damage = [_one_line(w.message).rstrip(". ") for w in caught if issubclass(w.category, UserWarning)]
    return name, upright, info, frames, list(dict.fromkeys(damage))


# ISO base media ("ftyp" box) brands of the images phones save that Pillow may have no decoder for: HEIF/HEIC
# (an iPhone's default) and AVIF (decoded where Pillow was built with libavif).
_FTYP_KINDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC", b"hevx": "HEIC",
               b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


def _undecodable_kind(name: str) -> Optional[str]:
    """The kind of image `name` is where Pillow could not identify it but its first bytes say (HEIC, AVIF,
    JPEG XL), else None: "not an image" would be wrong for a phone's photo."""
    try:
        with open(name, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if head.startswith(b"\xff\x0a") or head.startswith(b"\0\0\0\x0cJXL \r\n\x87\n"):
        return "JPEG XL"
    if head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    # The major brand, then the compatible ones (an iPhone's HEIC says mif1 first, then heic).
    brands = [head[8:12]] + [head[i:i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
    kinds = [_FTYP_KINDS[b] for b in brands if b in _FTYP_KINDS]
    return next((k for k in kinds if k != "HEIF"), kinds[0] if kinds else None)


def _frame_count(im: Image.Image) -> int:
    """How many frames `im` holds (1 for a still). Counted after frame 1 was decoded and copied, since
    counting seeks through the file. A camera's MPO JPEG counts as one: its second picture is a preview or
    the other eye's view of the same photo, not a frame the user chose. Later frames that cannot be read
    count as none: the first, which is used, was read already, so the file is not refused for them."""
    if im.format == "MPO":
        return 1
    try:
        return int(getattr(im, "n_frames", 1))
    except _DECODE_ERRORS:
        return 1


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit "RGB" (see the module docstring for the rules)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _INT16_MODES:
        # Scale so that 65535 -> 255 and 257*k -> k exactly; Pillow's converter would clip.
        grey = np.asarray(im).astype(np.float64)
        grey = np.rint(np.clip(grey, 0, 65535) / 257.0).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "F":
        grey = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if grey.size and grey.min() >= 0.0 and grey.max() <= 1.0:
            grey = grey * 255.0
        grey = np.rint(np.clip(grey, 0, 255)).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms  # LittleCMS: only needed for the rare Lab TIFF

        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return ImageCms.applyTransform(im, transform)
    if mode in _ALPHA_MODES or "transparency" in im.info:
        if mode == "La":  # premultiplied; Pillow only converts it to LA
            im = im.convert("LA")
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    # 1, L, P, CMYK, YCbCr, HSV, RGBX: Pillow's converters are correct for these.
    return im.convert("RGB")


def to_srgb(decoded: Image.Image, info: dict, *, name: str = "image",
            log: Optional[Callable[[str], None]] = None) -> Image.Image:
    """`decoded` (upright, in the mode it was decoded in) as 8-bit sRGB: `to_rgb`'s conversion, then converted
    from the colour space the file states: `info` is that file's Pillow `info` (its embedded ICC profile, or a
    PNG's gAMA/cHRM). Unchanged by the second when it states none, or sRGB's own. A CMYK image with a profile
    is converted once, its inks through the profile: Pillow's plain conversion of them (as much work again,
    for a 12 MP photo ~0.4 s) is made only where the profile cannot be used.

    Relative colorimetric, as browsers render a matrix profile: white stays white, and colours outside
    sRGB (a Display P3 photo's most saturated reds and greens) are clipped to its edge. A profile that
    cannot be read, or is for another kind of image (an RGB profile on a grey JPEG), is told to `log` in
    a "warning: " line naming `name`, and the pixels are kept: browsers, too, show them as sRGB then.
    """
    mode = decoded.mode
    if mode in _OWN_CONVERSION_MODES or not (info.get("icc_profile") or info.get("gamma")):
        return _rgb(name, decoded)
    from PIL import ImageCms  # LittleCMS: only needed for a photo that states its colours

    grey = mode in _GREY_MODES
    in_mode = "L" if grey else "CMYK" if mode == "CMYK" else "RGB"
    # An unsupported mode is refused first, whatever the profile; a CMYK one always converts.
    image = None if in_mode == "CMYK" else _rgb(name, decoded)
    stated = "embedded colour profile" if info.get("icc_profile") else "gAMA/cHRM colour chunks"
    try:
        profile = info.get("icc_profile") or _png_profile(info, grey)
        if not profile:
            return image if image is not None else _rgb(name, decoded)
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        space = source.profile.xcolor_space.strip()
        if space != {"L": "GRAY", "CMYK": "CMYK", "RGB": "RGB"}[in_mode]:
            kind = {"L": "grey", "CMYK": "CMYK", "RGB": "colour"}[in_mode]
            raise ValueError(f"the profile is for {space} images, this one is {kind}")
        # 1: relative colorimetric (ImageCms.Intent.RELATIVE_COLORIMETRIC; Pillow 9 has only the number)
        transform = ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), in_mode, "RGB", 1)
        if in_mode == "CMYK":  # a press profile is never sRGB's: nothing to keep exactly
            return ImageCms.applyTransform(decoded, transform)
        if _moves_no_colour(transform, in_mode):
            return image
        return ImageCms.applyTransform(image.convert("L") if grey else image, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as err:
        if log is not None:
            log(f"warning: {name}: its {stated} cannot be used ({_one_line(err)}); its colours were taken as sRGB")
        return image if image is not None else _rgb(name, decoded)


def _png_profile(info: dict, grey: bool) -> Optional[bytes]:
    """The profile a PNG's gAMA and cHRM chunks describe, None where it states none or sRGB (an sRGB chunk, or
    a gAMA of 1/2.2 alone). As Chromium reads them (measured in benchmarks/README.md, "Colour, photo in to
    video out"): a gAMA alone is a power curve on sRGB's primaries, beside a cHRM it is a power curve on
    those, and 1/2.2 alone is taken for sRGB itself."""
    from interp_cli import icc

    gamma = info.get("gamma")
    if "srgb" in info or not gamma:
        return None
    chromaticity = info.get("chromaticity")
    if chromaticity is None and abs(gamma - 1 / 2.2) < 0.001:
        return None
    if grey:
        return icc.gray_profile(1 / gamma)
    if chromaticity is None:
        return icc.matrix_profile(transfer=1 / gamma)
    white, primaries = chromaticity[:2], (chromaticity[2:4], chromaticity[4:6], chromaticity[6:8])
    return icc.matrix_profile(primaries, white, 1 / gamma)


def _moves_no_colour(transform, mode: str) -> bool:
    """Whether `transform` changes no colour by more than `_SRGB_TOLERANCE`: tried on every grey level and,
    for RGB, on a 17 x 17 x 17 lattice of colours (every 16th level, 255 included)."""
    from PIL import ImageCms

    levels = np.arange(256, dtype=np.uint8)
    if mode == "L":
        probe, expected = levels[None, :], np.repeat(levels[None, :, None], 3, axis=2)
    else:
        lattice = np.minimum(np.arange(0, 257, 16), 255).astype(np.uint8)
        colours = np.stack(np.meshgrid(lattice, lattice, lattice, indexing="ij"), -1).reshape(-1, 3)
        expected = probe = np.concatenate([colours, np.repeat(levels[:, None], 3, axis=1)])[None]
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(probe, mode), transform), dtype=np.int16)
    return int(np.abs(out - expected).max()) <= _SRGB_TOLERANCE


def image_to_uint8_array(img: Image.Image) -> np.ndarray:
    """A writable [H, W, 3] uint8 copy of `img` (converted with `to_rgb` if it is not RGB)."""
    return np.array(to_rgb(img), dtype=np.uint8)

