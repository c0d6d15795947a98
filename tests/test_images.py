"""interp_cli.images: every input a user might hand us comes out as upright 8-bit RGB,
and every bad input as a one-line UsageError naming the file."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image, ImageFile

from interp_cli.errors import UsageError
from interp_cli.images import image_to_uint8_array, load_image
from tests.browser import drawn

FACES = Path(__file__).parent / "data" / "faces"


def _pixels(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img)


def _save(tmp_path: Path, img: Image.Image, name: str, **kw) -> Path:
    path = tmp_path / name
    img.save(path, **kw)
    return path


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height RGB but whose pixel data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _assert_one_line_naming(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(str(path) + ": ")
    return msg


# --- modes -------------------------------------------------------------------------------


def test_real_photo_loads_as_rgb():
    img = load_image(FACES / "obama.jpg")
    assert img.mode == "RGB" and img.size == Image.open(FACES / "obama.jpg").size


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_grey_is_scaled_not_clipped(tmp_path, fmt):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)  # 0, 1, 128, 255 in 8 bits
    path = _save(tmp_path, Image.fromarray(values), "grey16." + fmt.lower(), format=fmt)
    assert Image.open(path).mode.startswith("I")  # really stored as 16-bit
    out = _pixels(load_image(path))
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 128, 255])
    assert (out == out[..., :1]).all()  # grey stays grey


def test_32bit_int_mode_I_uses_16bit_scale(tmp_path):
    values = np.array([[0, 65535, 32896, 100000, -5]], dtype=np.int32)
    img = Image.fromarray(values)
    assert img.mode == "I"
    path = _save(tmp_path, img, "int32.tif")
    np.testing.assert_array_equal(_pixels(load_image(path))[0, :, 1], [0, 255, 128, 255, 0])


def test_float_F_unit_range_and_0_255_range(tmp_path):
    unit = _save(tmp_path, Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)), "unit.tif")
    np.testing.assert_array_equal(_pixels(load_image(unit))[0, :, 0], [0, 128, 255])
    wide = _save(tmp_path, Image.fromarray(np.array([[0.0, 100.0, 300.0, np.nan]], np.float32)), "wide.tif")
    np.testing.assert_array_equal(_pixels(load_image(wide))[0, :, 0], [0, 100, 255, 0])


def test_rgba_transparent_becomes_white_and_opaque_keeps_colour(tmp_path):
    arr = np.array([[[10, 20, 30, 0], [200, 100, 50, 255], [0, 0, 0, 128]]], dtype=np.uint8)
    path = _save(tmp_path, Image.fromarray(arr, "RGBA"), "rgba.png")
    out = _pixels(load_image(path))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 1], [200, 100, 50])
    assert np.all(np.abs(out[0, 2].astype(int) - 127) <= 1)  # half-transparent black over white


def test_la_transparent_becomes_white(tmp_path):
    arr = np.array([[[0, 0], [60, 255]]], dtype=np.uint8)
    path = _save(tmp_path, Image.fromarray(arr, "LA"), "la.png")
    out = _pixels(load_image(path))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [60, 60, 60]])


def test_palette_with_and_without_transparency(tmp_path):
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    pal.putdata([0, 1])
    plain = _save(tmp_path, pal, "p.png")
    np.testing.assert_array_equal(_pixels(load_image(plain))[0], [[255, 0, 0], [0, 0, 255]])
    trans = _save(tmp_path, pal, "p_trans.png", transparency=0)
    assert "transparency" in Image.open(trans).info
    np.testing.assert_array_equal(_pixels(load_image(trans))[0], [[255, 255, 255], [0, 0, 255]])


def test_grey_L_and_1bit(tmp_path):
    grey = _save(tmp_path, Image.fromarray(np.array([[0, 77, 255]], np.uint8), "L"), "l.png")
    np.testing.assert_array_equal(_pixels(load_image(grey))[0], [[0] * 3, [77] * 3, [255] * 3])
    bits = Image.new("1", (2, 1))
    bits.putpixel((1, 0), 1)
    onebit = _save(tmp_path, bits, "one.png")
    assert Image.open(onebit).mode == "1"
    np.testing.assert_array_equal(_pixels(load_image(onebit))[0], [[0] * 3, [255] * 3])


def test_cmyk_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    path = _save(tmp_path, cmyk, "cmyk.jpg", quality=100)
    assert Image.open(path).mode == "CMYK"
    out = _pixels(load_image(path)).astype(int)
    assert out[..., 0].min() > 240 and out[..., 1:].max() < 15


# Every corner of the CMYK cube (no ink or full ink of each), then mixes between them.
CMYK_INKS = np.concatenate([np.array(np.meshgrid(*[[0, 255]] * 4, indexing="ij")).reshape(4, -1).T,
                            [[128, 64, 0, 0], [30, 200, 100, 50], [0, 0, 0, 128]]]).astype(np.uint8)


def _cmyk_jpeg(path: Path, **kw) -> Path:
    """A CMYK JPEG (Pillow writes Adobe's inverted CMYK, as Photoshop does) of 8 x 8 patches of CMYK_INKS."""
    patches = np.repeat(np.repeat(CMYK_INKS[None], 8, axis=0), 8, axis=1)
    Image.fromarray(patches, "CMYK").save(path, quality=100, subsampling=0, **kw)
    return path


def _patch_centres(pixels: np.ndarray) -> np.ndarray:
    return pixels[4, 4::8].astype(np.float64)


def test_a_cmyk_jpeg_is_read_through_its_embedded_profile(tmp_path):
    """A press's cyan is (0, 160, 225), not the (0, 255, 255) that Pillow's plain conversion made of it."""
    from tests.icc import cmyk_profile, press_colour

    path = _cmyk_jpeg(tmp_path / "press.jpg", icc_profile=cmyk_profile())
    logged = []
    out = _patch_centres(_pixels(load_image(path, log=logged.append)))
    corners = np.array([press_colour(c) for c in CMYK_INKS[:16]])
    assert np.abs(out[:16] - corners).max() <= 3 and logged == []
    assert np.abs(out[8] - [0, 160, 225]).max() <= 1  # cyan
    # Between corners the profile's table is interpolated, and so not the plain conversion either.
    assert np.abs(out[16:] - _patch_centres(np.asarray(Image.open(path).convert("RGB")))[16:]).max() > 20


def test_a_profiled_cmyk_jpeg_is_converted_once(tmp_path, monkeypatch):
    """Its inks went through Pillow's plain conversion too, only to be dropped for the profile's: as long again
    as the profile's own conversion for a 12 MP photo (benchmarks/README.md, "CMYK photos, 2026-12-05").
    The plain conversion is made only where the profile cannot be used (the test above and below)."""
    from interp_cli import images
    from tests.icc import cmyk_profile, rgb_profile

    converted = []
    real = images.to_rgb
    monkeypatch.setattr(images, "to_rgb", lambda im: converted.append(im.mode) or real(im))
    profiled = _cmyk_jpeg(tmp_path / "press.jpg", icc_profile=cmyk_profile())
    assert load_image(profiled).mode == "RGB" and converted == []
    load_image(_cmyk_jpeg(tmp_path / "untagged.jpg"))
    load_image(_cmyk_jpeg(tmp_path / "odd.jpg", icc_profile=rgb_profile("display-p3")), log=lambda line: None)
    assert converted == ["CMYK", "CMYK"]


def test_an_untagged_cmyk_jpeg_is_read_as_browsers_show_it(browser, tmp_path):
    """Without a profile, Chromium multiplies the inks (each of C, M, Y times K) as Pillow's converter does."""
    path = _cmyk_jpeg(tmp_path / "untagged.jpg")
    shown = drawn(browser, path.read_bytes(), "image/jpeg").astype(int)
    assert np.abs(shown - _pixels(load_image(path))).max() <= 2


def test_a_cmyk_jpeg_with_a_profile_for_rgb_warns_and_is_read_without_it(tmp_path):
    from tests.icc import rgb_profile

    path = _cmyk_jpeg(tmp_path / "odd.jpg", icc_profile=rgb_profile("display-p3"))
    logged = []
    out = _pixels(load_image(path, log=logged.append))
    assert np.array_equal(out, np.asarray(Image.open(path).convert("RGB")))
    assert logged == [f"warning: {path}: its embedded colour profile cannot be used (the profile is for RGB images, "
                      "this one is CMYK); its colours were taken as sRGB"]


def test_ycbcr_and_lab(tmp_path):
    ycc = _save(tmp_path, Image.new("RGB", (4, 4), (30, 160, 90)).convert("YCbCr"), "ycc.tif")
    if tuple(int(part) for part in PIL.__version__.split(".")[:2]) >= (12, 1):
        out = _pixels(load_image(ycc)).astype(int)
        assert np.abs(out - [30, 160, 90]).max() <= 2
    else:
        # Pillow before 12.1 cannot decode an uncompressed YCbCr TIFF at all (not even one it wrote itself):
        # interp then says so in one line, like for any file Pillow cannot read.
        with pytest.raises(UsageError, match=r"ycc\.tif: truncated or corrupt image"):
            load_image(ycc)
    lab = Image.new("LAB", (2, 2), (255, 128, 128))  # L=100, a=b=0: white
    out = _pixels(load_image(_save(tmp_path, lab, "lab.tif"))).astype(int)
    assert out.min() >= 250


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = [255, 0, 0]  # left half red
    stored[:, 20:] = [0, 0, 255]  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(tmp_path, Image.fromarray(stored), "rot.jpg", exif=exif.tobytes(), quality=95)
    img = load_image(path)
    assert img.size == (20, 40)  # portrait now
    out = _pixels(img).astype(int)
    assert out[:15, :, 0].mean() > 200 and out[:15, :, 2].mean() < 50  # red on top
    assert out[25:, :, 2].mean() > 200 and out[25:, :, 0].mean() < 50  # blue at the bottom


def test_damaged_exif_is_one_warning_naming_the_photo_not_pillows_python_warning(tmp_path):
    """A JPEG whose EXIF block ends early (its last entry cut): Pillow printed a two-line UserWarning naming its own
    TiffImagePlugin.py, once per read of the photo (three times in a morph with --sheet)."""
    pixels = np.full((16, 16, 3), 120, np.uint8)
    cut_exif = b"Exif\0\0MM\0*\0\0\0\x08\0\x05\x01\x12"  # says 5 entries; the first is 2 bytes long
    path = _save(tmp_path, Image.fromarray(pixels), "cut_exif.jpg", exif=cut_exif, quality=95)
    logged = []
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        image = load_image(path, log=logged.append)
        load_image(path)  # a read without a log (the check before the model loads) says nothing
    assert image.size == (16, 16) and [str(w.message) for w in escaped] == []
    assert logged == [f"warning: {path}: its metadata is damaged (Corrupt EXIF data. Expecting to read 12 bytes but "
                      "only got 2); what could be read of it was used"]


def test_image_to_uint8_array(tmp_path):
    arr = image_to_uint8_array(Image.new("L", (5, 3), 9))
    assert arr.shape == (3, 5, 3) and arr.dtype == np.uint8 and arr.flags.writeable
    assert (arr == 9).all()


# --- colour profiles ---------------------------------------------------------------------

# sRGB colours a photo holds: saturated ones, where Display P3 and Adobe RGB numbers differ most from sRGB's
# (sRGB's pure red is 234, 51, 35 in Display P3), skin, greys.
SRGB_COLOURS = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (230, 30, 30), (30, 200, 40), (224, 172, 140),
                         (120, 80, 60), (200, 120, 60), (90, 140, 200), (128, 128, 128), (20, 20, 20),
                         (250, 250, 250)], np.uint8)


def _in_space(srgb: np.ndarray, profile: bytes, mode: str = "RGB") -> np.ndarray:
    """sRGB pixels as a photo in the colour space of `profile` stores them (LittleCMS, relative colorimetric)."""
    from PIL import ImageCms

    transform = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                        "RGB", mode, 1)
    return np.asarray(ImageCms.applyTransform(Image.fromarray(srgb), transform))


def _patches(colours: np.ndarray, cell: int = 16) -> np.ndarray:
    """One flat cell x cell patch per colour, side by side."""
    return np.kron(colours[None], np.ones((cell, cell, 1), np.uint8)).astype(np.uint8)


@pytest.mark.parametrize("space,fmt", [("display-p3", "PNG"), ("display-p3", "JPEG"), ("adobe-rgb", "TIFF"),
                                       ("adobe-rgb", "JPEG")])
def test_a_photo_with_a_wide_gamut_profile_comes_out_in_srgb(tmp_path, space, fmt):
    """An iPhone's Display P3 JPEG, a camera's Adobe RGB: the colours a colour-managed viewer shows, in sRGB
    (the profile used to be ignored: sRGB red came out as 234, 51, 35, green as 117, 251, 76)."""
    from tests.icc import rgb_profile

    profile = rgb_profile(space)
    stored = _in_space(_patches(SRGB_COLOURS), profile)
    extra = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}
    path = _save(tmp_path, Image.fromarray(stored), f"photo.{fmt.lower()}", format=fmt, icc_profile=profile, **extra)
    logged = []
    out = _pixels(load_image(path, log=logged.append)).astype(float)
    means = out.reshape(16, -1, 16, 3)[4:12, :, 4:12].mean(axis=(0, 2))  # each patch's middle
    assert np.abs(means - SRGB_COLOURS).max() <= 3  # 8-bit rounding in the wide space (and JPEG)
    assert logged == []


def test_an_srgb_profile_keeps_the_pixels_exactly(tmp_path):
    """An sRGB-tagged photo (most Android phones', obama.jpg's) is not run through LittleCMS: its pixels are
    the file's, bit for bit, which --paste promises outside the face."""
    from PIL import ImageCms

    from tests.icc import rgb_profile

    pixels = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    for i, profile in enumerate([ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
                                 rgb_profile("srgb")]):
        path = _save(tmp_path, Image.fromarray(pixels), f"srgb{i}.png", icc_profile=profile)
        assert np.array_equal(_pixels(load_image(path)), pixels)
    assert Image.open(FACES / "obama.jpg").info.get("icc_profile")  # sRGB IEC61966-2.1, another maker's
    assert np.array_equal(_pixels(load_image(FACES / "obama.jpg")), np.asarray(Image.open(FACES / "obama.jpg")))


def test_an_srgb_profile_a_level_off_keeps_the_pixels_and_two_levels_off_is_applied(tmp_path):
    """sRGB profiles differ in their colorants' last digits (Debian's sRGB.icc against LittleCMS's own): one
    whose red primary is 0.0005 off moves some colours by a level through LittleCMS, and is still sRGB, the
    pixels kept bit for bit; 0.001 off moves them by 2, a profile of its own, applied."""
    from interp_cli.icc import D65, matrix_profile

    pixels = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    for shift, kept in [(0.0005, True), (0.001, False)]:
        profile = matrix_profile(((0.640 + shift, 0.330), (0.300, 0.600), (0.150, 0.060)), D65, "srgb")
        path = _save(tmp_path, Image.fromarray(pixels), f"srgb{shift}.png", icc_profile=profile)
        out = _pixels(load_image(path)).astype(int)
        assert np.array_equal(out, pixels) == kept
        assert np.abs(out - pixels).max() <= 3


def test_a_grey_photo_with_a_grey_profile(tmp_path):
    """A grey PNG with a linear (gamma 1) profile: 128 is half the light, which sRGB writes as 188."""
    from tests.icc import gray_profile

    path = _save(tmp_path, Image.fromarray(np.array([[0, 64, 128, 255]], np.uint8), "L"), "grey.png",
                 icc_profile=gray_profile(1.0))
    assert _pixels(load_image(path))[0, :, 0].tolist() == [0, 137, 188, 255]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "a grey profile in a colour image"])
def test_a_profile_that_cannot_be_used_is_a_warning_and_the_pixels_are_taken_as_srgb(tmp_path, damage):
    from tests.icc import gray_profile, rgb_profile

    profile = {"truncated": rgb_profile("display-p3")[:200], "garbage": b"not a profile" * 20,
               "a grey profile in a colour image": gray_profile(2.2)}[damage]
    pixels = _patches(SRGB_COLOURS)
    path = _save(tmp_path, Image.fromarray(pixels), "photo.png", icc_profile=profile)
    logged = []
    assert np.array_equal(_pixels(load_image(path, log=logged.append)), pixels)
    assert len(logged) == 1 and logged[0].startswith(f"warning: {path}: its embedded colour profile cannot be used (")
    assert logged[0].endswith("; its colours were taken as sRGB") and "\n" not in logged[0]
    assert np.array_equal(_pixels(load_image(path)), pixels)  # no log: no word, no error


def _png_with_chunks(path: Path, pixels: np.ndarray, **chunks) -> Path:
    """A PNG of `pixels` with colour chunks: gamma=g (gAMA), chromaticity=(white, r, g, b xy: 8 numbers; cHRM),
    srgb=True (sRGB), icc_profile=bytes (iCCP)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if "gamma" in chunks:
        info.add(b"gAMA", struct.pack(">I", round(chunks["gamma"] * 100000)))
    if "chromaticity" in chunks:
        info.add(b"cHRM", struct.pack(">8I", *(round(v * 100000) for v in chunks["chromaticity"])))
    if chunks.get("srgb"):
        info.add(b"sRGB", b"\0")
    Image.fromarray(pixels).save(path, pnginfo=info, icc_profile=chunks.get("icc_profile"))
    return path


ADOBE_CHRM = (0.3127, 0.3290, 0.64, 0.33, 0.21, 0.71, 0.15, 0.06)
PNG_CHUNKS = {"gAMA 1/2.2": {"gamma": 1 / 2.2}, "gAMA 1 (linear)": {"gamma": 1.0}, "gAMA 1/1.8": {"gamma": 1 / 1.8},
              "gAMA 1/2.2 + Adobe RGB cHRM": {"gamma": 1 / 2.2, "chromaticity": ADOBE_CHRM},
              "sRGB beside gAMA 1": {"gamma": 1.0, "srgb": True}}


def test_a_png_gama_chunk_is_a_power_curve(tmp_path):
    """Linear values (gAMA 1): half the light, 128, is 188 in sRGB; a gAMA of 1/2.2 alone is sRGB."""
    levels = np.repeat(np.array([[0, 64, 128, 255]], np.uint8)[..., None], 3, axis=2)
    for gamma, expected in [(1.0, [0, 137, 188, 255]), (1 / 2.2, [0, 64, 128, 255])]:
        path = _png_with_chunks(tmp_path / "levels.png", levels, gamma=gamma)
        assert _pixels(load_image(path))[0, :, 1].tolist() == expected
    # Every level of a gAMA 1/2.2 PNG (what most writers add) is kept: a power of 2.2 would move its shadows.
    every = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    path = _png_with_chunks(tmp_path / "every.png", every, gamma=0.45455)
    assert np.array_equal(_pixels(load_image(path)), every)
    # A grey PNG's gAMA alike (a scanner's linear greyscale).
    grey = _png_with_chunks(tmp_path / "grey.png", np.array([[0, 64, 128, 255]], np.uint8), gamma=1.0)
    assert Image.open(grey).mode == "L"
    assert _pixels(load_image(grey)).tolist() == [[[v] * 3 for v in [0, 137, 188, 255]]]


@pytest.mark.parametrize("chunks,reason", [
    ({"gamma": 0.00001}, "a gamma of 100000"),
    ({"gamma": 0.5, "chromaticity": (0.3127, 0.329, 0.64, 0, 0.3, 0.6, 0.15, 0.06)},
     "chromaticity (0.64, 0) is not a colour"),
])
def test_png_colour_chunks_that_cannot_be_used_are_a_warning(tmp_path, chunks, reason):
    pixels = _patches(SRGB_COLOURS)
    path = _png_with_chunks(tmp_path / "odd.png", pixels, **chunks)
    logged = []
    assert np.array_equal(_pixels(load_image(path, log=logged.append)), pixels)
    assert logged == [f"warning: {path}: its gAMA/cHRM colour chunks cannot be used ({reason}); its colours were "
                      "taken as sRGB"]


def test_interp_reads_a_photos_colours_as_chromium_shows_them(browser, tmp_path):
    """What the encoder sees is what the user saw in the browser: ICC profiles (JPEG, PNG) and a PNG's gAMA,
    cHRM and sRGB chunks, drawn by Chromium into a canvas, against load_image."""
    from tests.icc import rgb_profile

    stored = _patches(np.concatenate([SRGB_COLOURS, [[64, 64, 64], [190, 60, 90]]]).astype(np.uint8))
    paths = {name: _png_with_chunks(tmp_path / f"{i}.png", stored, **chunks)
             for i, (name, chunks) in enumerate(PNG_CHUNKS.items())}
    for space in ("display-p3", "adobe-rgb"):
        paths[f"{space} JPEG"] = _save(tmp_path, Image.fromarray(stored), f"{space}.jpg", quality=100,
                                       subsampling=0, icc_profile=rgb_profile(space))
    for name, path in paths.items():
        shown = drawn(browser, path.read_bytes(), "image/jpeg" if path.suffix == ".jpg" else "image/png")
        assert np.abs(shown.astype(int) - _pixels(load_image(path))).max() <= 2, name


def test_a_morph_from_a_photo_with_a_damaged_profile_warns_once_and_goes_on(tmp_path, monkeypatch):
    """The morph is the one from the same pixels untagged, and the warning comes once, though the photo is
    read for the morph, its check and the contact sheet."""
    import json

    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner
    from tests.icc import rgb_profile

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.chdir(tmp_path)
    Image.open(examples / "demo_a.png").save("damaged.png", icc_profile=rgb_profile("display-p3")[:300])
    runs = {}
    for name in ("damaged.png", str(examples / "demo_a.png")):
        out = f"{Path(name).stem}/"
        result = cli_runner().invoke(cli, [name, str(examples / "demo_b.png"), "--weights", "demo", "--steps", "2",
                                           "-o", out, "--sheet", f"{Path(name).stem}_sheet.png", "--json"])
        assert result.exit_code == 0, result.stderr
        runs[name] = (json.loads(result.stdout)["warnings"], [np.asarray(Image.open(p)) for p in
                                                              sorted(Path(out).glob("frame_*.png"))])
    (warnings, frames), (_, plain) = runs.values()
    assert len(warnings) == 1 and warnings[0].startswith("damaged.png: its embedded colour profile cannot be used")
    assert len(frames) == 2 and all(np.array_equal(a, b) for a, b in zip(frames, plain))


# --- refusals ----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "a.png"
    with pytest.raises(UsageError) as err:
        load_image(path)
    assert _assert_one_line_naming(err, path).endswith("no such file")


def test_directory(tmp_path):
    with pytest.raises(UsageError) as err:
        load_image(tmp_path)
    assert "directory" in _assert_one_line_naming(err, tmp_path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(UsageError) as err:
        load_image(path)
    assert _assert_one_line_naming(err, path) == f"{path}: not an image (cannot identify image file)"
    assert err.value.exit_code == 2


# The first bytes of a phone's photo in a format this Pillow may not decode: an iPhone's HEIC (an ISO base media
# "ftyp" box, major brand mif1, compatible mif1 and heic) and a bare JPEG XL codestream.
# An AVIF whose major brand is the only one that says AVIF (its compatible brands are HEIF's own): the major
# brand is read, and the format is "an AVIF".
_PHONE_FORMATS = {"HEIC": b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic" + b"\0\0\0\x08meta",
                  "JPEG XL": b"\xff\x0a\xfa\x7f\x01\x90\x08",
                  "AVIF": b"\0\0\0\x18ftypavif\0\0\0\0mif1miaf" + b"\0\0\0\x08meta"}


@pytest.mark.parametrize("kind", sorted(_PHONE_FORMATS))
def test_a_phone_photo_pillow_cannot_decode_is_named_by_its_format_not_called_no_image(tmp_path, kind):
    path = tmp_path / "IMG_0001.photo"
    path.write_bytes(_PHONE_FORMATS[kind] + bytes(range(256)) * 4)
    try:
        Image.open(path)
    except PIL.UnidentifiedImageError:
        pass
    else:
        pytest.skip(f"this Pillow decodes {kind}")
    with pytest.raises(UsageError) as err:
        load_image(path)
    article = "an" if kind == "AVIF" else "a"
    assert _assert_one_line_naming(err, path) == (f"{path}: {article} {kind} image, which this Pillow cannot "
                                                  "decode; convert it to JPEG or PNG first")
    assert err.value.exit_code == 2


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(tmp_path, fmt):
    rng = np.random.default_rng(0)
    full = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full, format=fmt)
    path = tmp_path / ("cut." + fmt.lower())
    path.write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(UsageError) as err:
        load_image(path)
    assert "truncated or corrupt" in _assert_one_line_naming(err, path)


def test_huge_image_refused_from_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(100_000, 100_000))  # 10 gigapixels, ~100 bytes on disk

    def no_decoding(self, *a, **kw):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may leak either
        with pytest.raises(UsageError) as err:
            load_image(path)
    msg = _assert_one_line_naming(err, path)
    assert "10000 megapixels" in msg and "more than the 160 megapixel limit; shrink it first" in msg


def test_over_our_limit_but_under_pillows_reports_dimensions(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(14000, 12000))  # 168 MP: over ours, under Pillow's error limit (179 MP)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: (_ for _ in ()).throw(AssertionError))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UsageError) as err:
            load_image(path)
    assert str(err.value).startswith(f"{path}: image is 14000x12000 pixels, more than the 160 megapixel limit; "
                                     "shrink it first, e.g. to 1/2 of its width and height: `")


@pytest.mark.parametrize("width, height", [(8688, 5792), (9504, 6336), (11648, 8736), (14204, 10652)])
def test_camera_sized_photos_pass_the_size_check(tmp_path, monkeypatch, width, height):
    """50 MP (8688x5792), a Sony A7R IV's 60 MP, medium format's 102 MP and a Phase One's 151 MP were refused
    over a 50 megapixel limit with no hint. Their size is now let through to the decoder (which this
    header-only file stops: no pixel data)."""
    path = tmp_path / "camera.png"
    path.write_bytes(_png_header_only(width, height))

    def reached(self, *a, **kw):
        raise OSError("the decoder was reached")

    monkeypatch.setattr(ImageFile.ImageFile, "load", reached)
    with pytest.raises(UsageError) as err:
        load_image(path)
    assert "the decoder was reached" in _assert_one_line_naming(err, path)


def test_the_shrink_command_an_oversized_photo_is_refused_with_runs_and_fits(tmp_path):
    """The refusal names a command (Pillow under this Python) that makes a copy within the limit, upright (the
    EXIF orientation applied, as interp reads it), keeping the colour profile; the photo itself is untouched."""
    import shlex
    import subprocess

    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: shown 80 wide, 120 high
    profile = Image.open(FACES / "obama.jpg").info.get("icc_profile") or _srgb_profile()
    path = _save(tmp_path, Image.new("RGB", (120, 80), (200, 30, 30)), "wide photo.jpg", exif=exif.tobytes(),
                 icc_profile=profile)
    before = path.read_bytes()
    with pytest.raises(UsageError) as err:
        load_image(path, max_pixels=3000)
    msg = _assert_one_line_naming(err, path)
    command = msg.split("`")[1]
    subprocess.run(shlex.split(command), check=True, timeout=60)
    assert path.read_bytes() == before
    smaller = tmp_path / "wide photo_smaller.jpg"
    assert load_image(smaller, max_pixels=3000).size == (40, 60)  # 1/2 of 80x120 (1/3 of its width and height)
    assert Image.open(smaller).info.get("icc_profile") == profile


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_upright_size_reads_the_header_and_turns_for_exif(tmp_path, monkeypatch):
    from interp_cli.images import upright_size

    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(tmp_path, Image.new("RGB", (120, 80)), "side.jpg", exif=exif.tobytes())
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: (_ for _ in ()).throw(AssertionError))
    assert upright_size(path) == (80, 120)
    assert upright_size(FACES / "obama.jpg") == Image.open(FACES / "obama.jpg").size


def test_max_pixels_is_configurable(tmp_path):
    path = _save(tmp_path, Image.new("RGB", (100, 60)), "small.png")
    assert load_image(path, max_pixels=6000).size == (100, 60)
    with pytest.raises(UsageError, match=r"100x60 pixels, more than the 5999 pixel limit"):
        load_image(path, max_pixels=5999)



@pytest.mark.parametrize("name", ["anim.gif", "anim.webp", "anim.png"])
def test_an_animated_input_says_only_its_first_frame_was_used(tmp_path, monkeypatch, name):
    # It was silently the first frame: `interp encode anim.gif` exited 0 without a word.
    import json

    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    examples = Path(__file__).resolve().parents[1] / "examples"
    a, b = (Image.open(examples / f"demo_{x}.png").convert("RGB") for x in "ab")
    monkeypatch.chdir(tmp_path)
    a.save(name, save_all=True, append_images=[b, a])
    warning = f"{name}: has 3 frames; frame 1 of 3 was used (to use another, save it as an image of its own)"
    result = cli_runner().invoke(cli, ["encode", name, "--weights", "demo", "-o", "x.npy"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines().count(f"warning: {warning}") == 1
    result = cli_runner().invoke(cli, ["encode", name, "--weights", "demo", "-o", "x.npy", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["warnings"] == [warning]
    result = cli_runner().invoke(cli, [name, str(examples / "demo_b.png"), "--weights", "demo", "--steps", "2",
                                       "-o", "m.gif", "--sheet", "s.png"])
    assert result.exit_code == 0 and result.stderr.splitlines().count(f"warning: {warning}") == 1
    a.save("still.gif")  # a one-frame GIF is no animation: not a word
    result = cli_runner().invoke(cli, ["encode", "still.gif", "--weights", "demo", "-o", "x.npy"])
    assert result.exit_code == 0 and "warning" not in result.stderr
    used = _pixels(load_image(name)).astype(int)  # the first frame (within a lossy codec's error), not the second
    assert np.abs(used - np.asarray(a)).mean() < 3 < np.abs(used - np.asarray(b)).mean()


def test_a_camera_mpo_is_one_photo_not_an_animation(tmp_path):
    """A phone's or a 3D camera's .jpg is often an MPO: its second picture is a preview or the other eye's
    view, not a frame the user chose, so no "frame 1 of 2 was used" warning (made here for real by Pillow)."""
    Image.init()
    if "MPO" not in Image.SAVE_ALL:  # Pillow writes MPO since 9.3; setup.cfg allows 9.2
        pytest.skip("this Pillow cannot write MPO files")
    photo, preview = (Image.open(FACES / name).convert("RGB") for name in ("obama.jpg", "biden.jpg"))
    photo.save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[preview.resize(photo.size)])
    assert Image.open(tmp_path / "camera.jpg").format == "MPO" and Image.open(tmp_path / "camera.jpg").n_frames == 2
    log = []
    assert load_image(tmp_path / "camera.jpg", log=log.append).size == photo.size
    assert log == []


def test_photos_read_in_threads_leave_the_processs_warning_filters_as_they_were():
    """Reading a photo records Pillow's warnings in `warnings.catch_warnings`, which swaps the process's
    filter list and puts back what it found: photos read at once in threads (morphs in a service's workers)
    put back each other's, and left the caller's process with interp's filters ("always" for UserWarning)."""
    import threading

    before = list(warnings.filters)

    def read() -> None:
        for _ in range(50):
            load_image(Path(__file__).resolve().parents[1] / "examples" / "demo_a.png")

    readers = [threading.Thread(target=read) for _ in range(8)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert warnings.filters == before


def _photo_jpeg(path: Path, size=(1600, 1200), **options) -> Path:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).save(path, format="JPEG", quality=85, **options)
    return path


def test_the_input_check_decodes_a_jpeg_at_an_eighth_of_its_size(tmp_path, monkeypatch):
    """check_inputs decoded every photo in full before the model loaded, and the encoder decoded it again: at
    48 MP 0.3 s and 144 MB for the check. It now reads every byte of the file at 1/64 of the pixels."""
    from interp_cli.images import check_image

    path = _photo_jpeg(tmp_path / "photo.jpg")
    decoded = []
    real_load = ImageFile.ImageFile.load

    def load(self):
        result = real_load(self)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    check_image(path)
    assert set(decoded) == {(200, 150)}  # (Pillow calls load again on a loaded image: a no-op)
    decoded.clear()
    assert load_image(path).size == (1600, 1200) and set(decoded) == {(1600, 1200)}  # the encoder's: all of it


@pytest.mark.parametrize("options", [{}, {"progressive": True}], ids=["baseline", "progressive"])
@pytest.mark.parametrize("kept", [0.1, 0.5, 0.9, 0.999])
def test_the_scaled_check_refuses_a_cut_jpeg_as_the_full_decode_does(tmp_path, options, kept):
    from interp_cli.images import check_image

    data = _photo_jpeg(tmp_path / "whole.jpg", **options).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[:int(len(data) * kept)])
    with pytest.raises(UsageError) as full:
        load_image(path)
    with pytest.raises(UsageError) as checked:
        check_image(path)
    assert str(checked.value) == str(full.value) and "truncated or corrupt" in str(full.value)


def _chunk_length_set(png: bytes, kind: bytes, length: int) -> bytes:
    """`png` with the length field of its first `kind` chunk set to `length` (its CRC, over type and data, holds)."""
    at = png.index(kind) - 4
    return png[:at] + struct.pack(">I", length) + png[at + 4:]


def test_a_chunk_length_of_2_gb_in_a_small_png_needs_no_2_gb_under_a_memory_limit(tmp_path):
    """Found by benchmarks/fuzz_inputs.py: Pillow hands a PNG's damaged length field (here the IDAT's, 2 GB in a
    few kB) to read() as it stands, and Python set aside 2 GB before reading: under `ulimit -v` a MemoryError
    from every reader (`interp: error: out of memory`, a Python caller's raw MemoryError) for a damaged file."""
    import subprocess
    import sys

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 100, 50)).save(buf, "PNG")
    path = tmp_path / "damaged.png"
    path.write_bytes(_chunk_length_set(buf.getvalue(), b"IDAT", 0x7FFFFFFF))
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from interp_cli.errors import UsageError\n"
            "from interp_cli.images import check_image, load_image, upright_size\n"
            "print(upright_size(sys.argv[1]))\n"
            "for read in (check_image, load_image):\n"
            "    try:\n        read(sys.argv[1])\n        print('read')\n"
            "    except UsageError as err:\n        print(err)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "(64, 64)" and len(lines) == 3
    assert all(line == "read" or line.startswith(f"{path}: truncated or corrupt image") for line in lines[1:])


def test_a_later_tiff_page_pillow_has_no_entry_for_leaves_the_first_page_read(tmp_path):
    """Found by benchmarks/fuzz_inputs.py: a two-page TIFF whose second page names a compression Pillow does not
    know raised KeyError while its pages were counted: `interp: internal error: KeyError: 9999`."""
    path = tmp_path / "pages.tiff"
    first, second = Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))
    first.save(path, save_all=True, append_images=[second])
    data = bytearray(path.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    ifd = struct.unpack("<I", data[ifd + 2 + 12 * struct.unpack("<H", data[ifd:ifd + 2])[0]:][:4])[0]  # the second
    for entry in range(ifd + 2, ifd + 2 + 12 * struct.unpack("<H", data[ifd:ifd + 2])[0], 12):
        if struct.unpack("<H", data[entry:entry + 2])[0] == 259:  # Compression
            data[entry + 8:entry + 10] = struct.pack("<H", 9999)
    path.write_bytes(bytes(data))
    try:
        image = load_image(path, log=[].append)
    except UsageError as err:  # Pillow 9.2 (the floor) closes the file on that page, before its EXIF is read
        assert str(err).startswith(f"{path}: truncated or corrupt image (") and int(PIL.__version__.split(".")[0]) < 10
    else:
        assert np.asarray(image)[0, 0].tolist() == [255, 0, 0]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def test_upright_size_of_a_png_reads_its_chunk_headers_not_its_pixels(tmp_path, monkeypatch):
    """Pillow's PNG getexif decoded every pixel to look for an eXIf chunk after them (0.2-0.4 s at 12 MP, for a
    size --paste checks before the model loads), though the docstring said "from its header alone"."""
    from interp_cli.images import upright_size

    exif = Image.Exif()
    exif[0x0112] = 6
    plain = _save(tmp_path, Image.new("RGB", (120, 80)), "plain.png")
    before = _save(tmp_path, Image.new("RGB", (120, 80)), "before.png", exif=exif.tobytes())  # eXIf before IDAT
    png = plain.read_bytes()
    end = png.rindex(b"IEND") - 4
    after = tmp_path / "after.png"  # eXIf after the pixels, where cameras' tools may put it
    after.write_bytes(png[:end] + _png_chunk(b"eXIf", exif.tobytes()[6:]) + png[end:])
    text = tmp_path / "text.png"  # a text chunk after the pixels: Pillow reads it only then
    text.write_bytes(png[:end] + _png_chunk(b"tEXt", b"Comment\0hello") + png[end:])
    for path in (after, text):  # these two need Pillow to read past the pixels, and give what load_image gives
        assert upright_size(path) == load_image(path).size
    assert upright_size(after) == (80, 120)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: (_ for _ in ()).throw(AssertionError("decoded")))
    assert upright_size(plain) == (120, 80)
    assert upright_size(before) == (80, 120)
