"""A seeded fuzzer of batch manifests: good rows mixed with rows that hold real faults, run through `interp batch`.

    nice -n 5 .venv/bin/python benchmarks/fuzz_manifest.py --seconds 300 --seed 1 --failures /tmp/batch-finds
    .venv/bin/python benchmarks/fuzz_manifest.py --seconds 20 --seed 4 --rows 6 -v
    .venv/bin/python benchmarks/fuzz_manifest.py --replay /tmp/batch-finds/case-0007.json

Each case is a fresh folder: `in/` holds the manifest and its photos (the demo model's faces, a code .npy, copies
under unicode names and names with commas), `out/` is --outdir. Rows are drawn from `good_row` (a morph to .gif,
frames/, a .png sheet, .mp4 or .html, some in subfolders) and from `ROW_FAULTS`, each a real fault on disk: a missing
file, a folder as input, truncated or bit-flipped PNG and JPEG, a zero-byte file, text named .jpg, a photo with no face
(with alignment), a 65535x65535 PNG header, a chmod 000 photo, a wrong-shaped or pickled .npy, an output folder with a
file in its way or chmod 555, an output that is an existing folder or the row's own input, too few and too many cells,
names and paths past the file system's limits, output names that leave --outdir, have no or another type, look like
interp's temps or hold a control character. As root the workers run without CAP_DAC_OVERRIDE (`AS_A_USER`), so that
permissions hold as for a user. The manifest's form is drawn too: CRLF, a UTF-8 BOM (and another before a later row:
two manifests joined), every cell quoted, a header, comments and blank lines between rows; and one case in four is
two saved manifests joined by `cat` (`join`): the second's header line, and the first's last row run into the
second's first line where it has no final newline, are each a row that must fail alone saying what it is. One case
in five also holds one `MANIFEST_FAULTS` fault, which the docs say refuses the whole batch at once (exit 2): two
rows with one output, an output that is another row's input, a byte that is not UTF-8, a header column naming a
morph option, an odd --size beside an .mp4 row, a quote left open, cells split by semicolons.

A case runs `interp batch in/pairs.csv --outdir out --weights demo --steps 2 --json` (--no-align, or --align with
real faces), as one worker, two shards at once (`--shard 1/2` and `2/2`, real subprocesses sharing --outdir), or two
workers on the same rows (claims), then again with --skip-existing. It passes when: each worker exits 1 if a bad row
was its, else 0 (2 and nothing made for a refused manifest); each bad row is named by exactly one stderr line,
`row N failed: in/pairs.csv:LINE:`, and no other line is said; no traceback; the --json lines give one result per
row with "ok" as drawn and a summary that counts them; every good row's output is a valid file of its kind; no temp
(`files.temp_like`) is left anywhere; every input's bytes, mode and mtime are unchanged; and the rerun makes nothing
again (good rows skipped, their outputs' mtimes unchanged) and fails exactly the bad rows again. Then the faults a
user can put right are (`repair`: the input replaced by a good photo or code, the file or folder in the output's way
removed, a read-only folder made writable), and a last run with --skip-existing must make those rows and only those.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "data" / "faces"
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
# Root reads a chmod 000 photo and writes into a chmod 555 folder; without these two capabilities it meets the
# permissions as a user does, so the workers run so and the two faults stay in the draw.
AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
             "--inh-caps=-dac_override,-dac_read_search"] if ROOT_USER and shutil.which("setpriv") else []
PERMISSIONS_HOLD = not ROOT_USER or bool(AS_A_USER)
MANIFEST = "in/pairs.csv"
KINDS = (".gif", "/", ".png", ".mp4", ".html")


@dataclass
class Line:
    """One data row as drawn: its cells, whether it must be made, and what its failure line must name."""

    cells: list[str]
    good: bool
    fault: str = "good"
    output: str = ""  # a good row's output name, as typed
    names: str | None = None  # a bad row's line must hold this (the file at fault)
    repair: str | None = None  # what `repair` puts right for the row to be made: "in/NAME" (an input) or "out/NAME"
    repaired: bool = False  # put right after the rerun: the last run must make it


@dataclass
class Case:
    seed: int
    align: bool
    rows: list[Line]
    form: dict
    manifest_fault: str | None = None
    workers: str = "one"  # one, shards (1/2 and 2/2 at once), same (1/1 twice at once)
    size: int | None = None
    max_rows: int = 8  # drawn with: a replay draws the same case
    setup: list = field(default_factory=list)  # (kind, path, arg): what `build` puts on disk before the run


# --- inputs ------------------------------------------------------------------------------------------------------

def _photo_bytes() -> dict[str, bytes]:
    from PIL import Image

    out = {name: (REPO / "examples" / f"demo_{name}").read_bytes() for name in ("a.png", "b.png")}
    for name, image, kind in (("a.jpg", Image.open(REPO / "examples" / "demo_a.png").convert("RGB"), "JPEG"),
                              ("gray.png", Image.new("RGB", (256, 256), (120, 130, 140)), "PNG")):
        buf = io.BytesIO()
        image.save(buf, kind)
        out[name] = buf.getvalue()
    return out


def _npy(array) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _huge_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _flipped(data: bytes, rng: random.Random) -> bytes:
    """`data` with bytes past its signature overwritten in its first quarter: header and first chunks spoilt."""
    out = bytearray(data)
    for _ in range(8):
        spot = rng.randrange(8, max(9, len(out) // 4))
        out[spot] ^= 0xFF
    return bytes(out)


# --- rows ----------------------------------------------------------------------------------------------------------

def good_row(case: Case, i: int, rng: random.Random) -> Line:
    pair = ["obama.jpg", "biden.jpg"] if case.align else rng.choice(
        [["a.png", "b.png"], ["b.png", "a.jpg"], ["a.png", "code.npy"], ["é ☃ ü.png", "b.png"], ["a.png", "x, y.png"]])
    if rng.random() < 0.2:  # a third input, another image than the one before it (else a still, refused)
        pair = pair + ["obama.jpg" if case.align else "a.png" if pair[-1] in ("b.png", "x, y.png") else "b.png"]
    kind = rng.choice(KINDS if shutil.which("ffmpeg") or _has_imageio_ffmpeg() else KINDS[:3] + KINDS[4:])
    stem = rng.choice([f"m{i}", f"résumé {i}", f"a,b {i}", f"deep/er/m{i}", f"deep/m{i}"])
    output = stem + kind
    return Line([*pair, output], True, output=output)


def _has_imageio_ffmpeg() -> bool:
    try:
        import imageio_ffmpeg

        return bool(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # not installed, or no binary for this platform
        return False


def bad_row(case: Case, i: int, rng: random.Random) -> Line:
    faults = [f for f in ROW_FAULTS if (case.align or f != "no_face") and (PERMISSIONS_HOLD or f not in ("chmod_000",
                                                                                                           "ro_folder"))]
    fault = rng.choice(faults)
    other = "biden.jpg" if case.align else "b.png"
    out = rng.choice([f"bad{i}.gif", f"deep/bad{i}.gif", f"sub{i}/er/bad{i}/", f"deep/er/bad{i}.mp4"])

    def with_input(name: str, kind=None, arg=None) -> Line:
        if kind is not None:
            case.setup.append((kind, f"in/{name}", arg))
        return Line([name, other, out], False, fault, names=name,
                    repair=f"in/{name}" if fault not in ("long_name", "long_path", "no_face") else None)

    if fault == "missing":
        return with_input(f"nothere{i}.png")
    if fault == "folder_input":
        return with_input(f"adir{i}.png", "dir")
    if fault in ("truncated_png", "truncated_jpeg"):
        source = "a.png" if fault == "truncated_png" else "a.jpg"
        return with_input(f"cut{i}{Path(source).suffix}", "cut", [source, rng.uniform(0.1, 0.9)])
    if fault == "corrupt_png":
        return with_input(f"flip{i}.png", "flip", ["a.png", rng.randrange(1 << 30)])
    if fault == "zero_bytes":
        return with_input(f"zero{i}.png", "bytes", "")
    if fault == "not_an_image":
        return with_input(f"text{i}.jpg", "bytes", "name,age\nann,3\n")
    if fault == "no_face":
        return with_input(f"gray{i}.png", "copy", "gray.png")
    if fault == "huge_header":
        return with_input(f"huge{i}.png", "huge", None)
    if fault == "chmod_000":
        return with_input(f"locked{i}.png", "locked", "a.png")
    if fault == "wrong_npy":
        return with_input(f"wrong{i}.npy", "npy", [3, 7])
    if fault == "pickled_npy":
        return with_input(f"pickled{i}.npy", "npy", "object")
    if fault == "long_name":
        return with_input("n" * 300 + ".png")
    if fault == "long_path":
        return with_input("/".join(["p" * 200] * 25) + ".png")
    if fault == "file_in_the_way":  # out/blockI is a file: blockI/x.gif cannot have its folder
        case.setup.append(("bytes", f"out/block{i}", "a file"))
        return Line(["a.png" if not case.align else "obama.jpg", other, f"block{i}/x.gif"], False, fault,
                    names=f"block{i}", repair=f"out/block{i}")
    if fault == "ro_folder":
        case.setup.append(("ro", f"out/ro{i}", None))
        return Line(["a.png" if not case.align else "obama.jpg", other, f"ro{i}/x.gif"], False, fault, names=f"ro{i}",
                    repair=f"out/ro{i}")
    if fault == "output_is_folder":
        case.setup.append(("dir", f"out/taken{i}.gif", None))
        return Line(["a.png" if not case.align else "obama.jpg", other, f"taken{i}.gif"], False, fault,
                    names=f"taken{i}.gif", repair=f"out/taken{i}.gif")
    if fault == "output_is_own_input":  # the row reads out/own.png and writes out/own.png
        case.setup.append(("copy", f"out/own{i}.png", "a.png"))
        return Line([f"../out/own{i}.png", other, f"own{i}.png"], False, fault, names=f"own{i}.png")
    if fault == "too_few_cells":
        return Line([other, f"few{i}.gif"], False, fault)
    if fault == "too_many_cells":
        return Line(["a.png" if not case.align else "obama.jpg", other, f"many{i}.gif", "notes"], False, fault,
                    names="notes")
    if fault in OUTPUT_NAMES:
        return Line(["a.png" if not case.align else "obama.jpg", other, OUTPUT_NAMES[fault].format(i=i)], False, fault)
    if fault == "long_output":
        return Line(["a.png" if not case.align else "obama.jpg", other, "o" * 300 + ".gif"], False, fault)
    raise AssertionError(fault)


# Output names a row may not write to, each said by its own row.
OUTPUT_NAMES = {"escapes_outdir": "../esc{i}.gif", "absolute_output": "/tmp/abs{i}.gif", "no_type": "plain{i}",
                "unsupported_type": "x{i}.csv", "temp_like_output": ".x{i}.tmp-0123456789abcdef.gif",
                "control_char": "new\nline{i}.gif"}
ROW_FAULTS = (*OUTPUT_NAMES, "missing", "folder_input", "truncated_png", "truncated_jpeg", "corrupt_png", "zero_bytes",
              "not_an_image", "no_face", "huge_header", "chmod_000", "wrong_npy", "pickled_npy", "long_name",
              "long_path", "file_in_the_way", "ro_folder", "output_is_folder", "output_is_own_input", "too_few_cells",
              "too_many_cells", "long_output")
MANIFEST_FAULTS = ("same_output", "output_is_an_input", "not_utf8", "option_column", "odd_size_mp4", "open_quote",
                   "semicolons")


def draw(seed: int, max_rows: int) -> Case:
    rng = random.Random(seed)
    case = Case(seed, align=rng.random() < 0.15, rows=[], max_rows=max_rows, form={
        "crlf": rng.random() < 0.3, "bom": rng.random() < 0.3, "quote_all": rng.random() < 0.3,
        "header": rng.random() < 0.3, "comments": rng.random() < 0.4, "joined_bom": rng.random() < 0.2})
    count = rng.randint(2, max_rows)
    for i in range(1, count + 1):
        case.rows.append(good_row(case, i, rng) if rng.random() < 0.45 else bad_row(case, i, rng))
    if all(not line.good for line in case.rows):
        case.rows[rng.randrange(count)] = good_row(case, 0, rng)
    case.workers = rng.choice(["one", "one", "shards", "same"])
    if rng.random() < 0.2:
        case.manifest_fault = rng.choice(MANIFEST_FAULTS)
        spoil(case, rng)
    if case.manifest_fault is None and len(case.rows) > 1 and rng.random() < 0.35:  # drawn last: older seeds stand
        join(case, rng)
    return case


HEADER = ["input1", "input2", "output"]


def join(case: Case, rng: random.Random) -> None:
    """Make the manifest two saved files joined by `cat`: the rows from `at` on are the second's, which has its own
    BOM (when the first has one) and mostly its own header. Its header line is a row that fails alone saying it is a
    header line; when the first file has no final newline, its last row and the second's first line are one row,
    which fails alone, saying the lines run together where interp can tell (the second's BOM inside a cell, or the
    first's header at the row's end)."""
    at = rng.randrange(1, len(case.rows))
    header = case.form["header"] if rng.random() < 0.8 else not case.form["header"]
    last = case.rows[at - 1]
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL if case.form["quote_all"] else csv.QUOTE_MINIMAL).writerow(last.cells)
    # A quoted last cell followed by more text is a CSV error that refuses the whole manifest: not drawn here.
    run_on = rng.random() < 0.4 and not buf.getvalue().rstrip("\r\n").endswith('"')
    # Nor a run-on row that takes the only good row with it: with every row failed as it is read, the manifest is
    # refused whole.
    run_on = run_on and any(line.good for line in case.rows[:at - 1] + case.rows[at + (not header):])
    # The two files' rows as written, for `manifest_bytes`; case.rows become the rows as interp reads them.
    case.form["joined"] = {"header": header, "run_on": run_on, "first": [line.cells for line in case.rows[:at]],
                           "second": [line.cells for line in case.rows[at:]]}
    case.form["joined_bom"] = False
    if not run_on:
        if header:
            case.rows.insert(at, Line(list(HEADER), False, "joined_header", names="header line"))
        return
    after = HEADER if header else case.rows[at].cells
    said = case.form["bom"] or header and case.form["header"]
    merged = Line([*last.cells[:-1], last.cells[-1] + ("\ufeff" if case.form["bom"] else "") + after[0], *after[1:]],
                  False, "joined_run_on", names="two lines run together" if said else None)
    case.rows[at - 1:at if header else at + 1] = [merged]


def spoil(case: Case, rng: random.Random) -> None:
    """Add the case's manifest fault: each one the docs say refuses the whole batch before any row."""
    fault, first = case.manifest_fault, case.rows[0]
    filler = ["obama.jpg", "biden.jpg"] if case.align else ["a.png", "b.png"]
    if fault == "same_output":
        name = rng.choice(["twin.gif", "Twin.GIF"])
        case.rows.insert(rng.randrange(len(case.rows) + 1), Line([*filler, "twin.gif"], False, fault))
        case.rows.append(Line([*filler[::-1], name], False, fault))
    elif fault == "output_is_an_input":  # one row writes out/hit.png, another reads it
        case.setup.append(("copy", "out/hit.png", "a.png"))
        case.rows.append(Line(["../out/hit.png", filler[1], "hit_reader.gif"], False, fault))
        case.rows.insert(0, Line([*filler, "hit.png"], False, fault))
    elif fault == "not_utf8":
        first.cells[0] = first.cells[0] + "\udce9"  # written as the lone byte 0xE9 (`surrogateescape`)
    elif fault == "option_column":
        case.form["header"] = True
        case.form["option_column"] = True
    elif fault == "odd_size_mp4":
        case.size = 63
        case.rows.append(Line([*filler, "odd.mp4"], False, fault))
    elif fault == "semicolons":  # Excel's "CSV" where the decimal mark is a comma
        case.form["semicolons"] = True
    elif fault == "open_quote":
        case.form["open_quote"] = True


# --- building and running ------------------------------------------------------------------------------------------

def manifest_bytes(case: Case) -> bytes:
    joined = case.form.get("joined")
    if joined:  # each file written as drawn, then joined as `cat` joins them
        first, second = (Case(case.seed, case.align, [Line(cells, True) for cells in joined[part]],
                              dict(case.form, joined=None)) for part in ("first", "second"))
        # The second's own header; no comment line first where the first file's last row runs into its first line.
        second.form.update(header=joined["header"], comments=case.form["comments"] and not joined["run_on"])
        head = manifest_bytes(first)
        if joined["run_on"]:
            head = head.removesuffix(b"\n").removesuffix(b"\r")
        return head + manifest_bytes(second)
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL if case.form["quote_all"] else csv.QUOTE_MINIMAL,
                        lineterminator="\r\n" if case.form["crlf"] else "\n")
    if case.form["comments"]:
        buf.write(f"# made by benchmarks/fuzz_manifest.py, seed {case.seed}\n")
    option_column = case.form.get("option_column")
    if case.form["header"]:
        writer.writerow(["input1", "input2", "tune", "output"] if option_column else ["input1", "input2", "output"])
    for number, line in enumerate(case.rows):
        if case.form["comments"] and number % 2:
            buf.write(["\n", "# a comment, with \"a quote\n", "   \n", "#,,,\n"][number % 4])
        # Under a `tune` column each row's 20 stands among its inputs: refused at once, not 20 read as a photo.
        if case.form.get("joined_bom") and number == len(case.rows) // 2:  # two saved manifests joined by `cat`
            buf.write("\ufeff")
        cells = [*line.cells[:2], "20", *line.cells[2:]] if option_column and len(line.cells) > 2 else line.cells
        if case.form.get("semicolons"):
            buf.write(";".join(cells) + "\n")
        else:
            writer.writerow(cells)
    if case.form.get("open_quote"):
        buf.write('"a.png,b.png,quoted.gif\n')
    return (b"\xef\xbb\xbf" if case.form["bom"] else b"") + buf.getvalue().encode("utf-8", "surrogateescape")


def build(case: Case, folder: Path, photos: dict[str, bytes]) -> None:
    """The case's files: the photos every good row reads, then each fault's own file."""
    import numpy as np

    (folder / "in").mkdir(parents=True)
    inputs = folder / "in"
    for name, data in photos.items():
        (inputs / name).write_bytes(data)
    (inputs / "é ☃ ü.png").write_bytes(photos["a.png"])
    (inputs / "x, y.png").write_bytes(photos["b.png"])
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copyfile(FACES / name, inputs / name)
    (inputs / "code.npy").write_bytes(_npy(np.random.default_rng(case.seed).normal(size=(10, 128)).astype(np.float32)))
    rng = np.random.default_rng(case.seed)
    for kind, where, arg in case.setup:
        path = folder / where
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir()
        elif kind == "ro":
            path.mkdir()
            path.chmod(0o555)
        elif kind == "bytes":
            path.write_text(arg)
        elif kind == "copy":
            path.write_bytes(photos[arg])
        elif kind == "locked":
            path.write_bytes(photos[arg])
            path.chmod(0)
        elif kind == "cut":
            data = photos[arg[0]]
            path.write_bytes(data[:max(1, int(len(data) * arg[1]))])
        elif kind == "flip":
            path.write_bytes(_flipped(photos[arg[0]], random.Random(arg[1])))
        elif kind == "huge":
            path.write_bytes(_huge_png())
        elif kind == "npy":
            path.write_bytes(_npy(np.array([{"a": 1}], dtype=object) if arg == "object"
                                  else rng.random(arg).astype(np.float32)))
    (folder / MANIFEST).write_bytes(manifest_bytes(case))


def _tree(folder: Path) -> dict[str, tuple]:
    """Every path under `folder`: (sha256 or "dir", mode, mtime_ns); unreadable files by their stat alone."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            digest = "dir" if name in dirs else None
            if digest is None:
                try:
                    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
            out[os.path.relpath(path, folder)] = (digest, st.st_mode, st.st_mtime_ns)
    return out


def _env(cache: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    env.pop("INTERP_WEIGHTS", None)
    return env


def command(case: Case, shard: str, rerun: bool) -> list[str]:
    argv = [*AS_A_USER, sys.executable, "-m", "interp_cli", "batch", MANIFEST, "--outdir", "out", "--weights", "demo",
            "--steps", "2", "--json", "--shard", shard, "--align" if case.align else "--no-align"]
    if case.size is not None:
        argv += ["--size", str(case.size)]
    return argv + (["--skip-existing"] if rerun else [])


def run_workers(case: Case, folder: Path, rerun: bool, timeout: float) -> list[dict]:
    shards = {"one": ["1/1"], "shards": ["1/2", "2/2"], "same": ["1/1", "1/1"]}[case.workers]
    env = _env(folder / "cache")
    procs = [(shard, subprocess.Popen(command(case, shard, rerun), cwd=folder, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, errors="replace")) for shard in shards]
    done = []
    for shard, proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            done.append({"shard": shard, "rc": None, "stdout": out, "stderr": err})
            continue
        done.append({"shard": shard, "rc": proc.returncode, "stdout": out, "stderr": err})
    return done


def _valid_output(path: Path, output: str) -> str | None:
    """Why the file a good row made is not a valid file of its kind, or None."""
    from PIL import Image

    try:
        if output.endswith("/"):
            frames = sorted(path.glob("*.png"))
            if len(frames) < 2:
                return f"{len(frames)} frames in {output}"
            for frame in frames:
                with Image.open(frame) as im:
                    im.load()
        elif output.endswith(".gif"):
            with Image.open(path) as im:
                if getattr(im, "n_frames", 1) < 2:
                    return f"{output}: a GIF of one frame"
                im.load()
        elif output.endswith(".png"):
            with Image.open(path) as im:
                im.load()
        elif output.endswith(".mp4"):
            if path.read_bytes()[4:8] != b"ftyp" or path.stat().st_size < 500:
                return f"{output}: not an MP4"
        elif output.endswith(".html"):
            if "<html" not in path.read_text(errors="replace").lower():
                return f"{output}: not HTML"
    except OSError as err:
        return f"{output}: {err}"
    return None


def judge(case: Case, folder: Path, runs: list[dict], before: dict, rerun: bool, first: dict | None) -> list[str]:
    """What went wrong in one round of workers (empty: nothing)."""
    from interp_cli.files import temp_like

    problems = []
    tried: dict[int, int] = {}  # a bad row: how many workers failed it
    made_here: dict[int, int] = {}  # a row: how many workers made it
    count = {"one": 1, "shards": 2, "same": 1}[case.workers]
    refused = case.manifest_fault is not None
    for run in runs:
        tag = f"[{'rerun ' if rerun else ''}shard {run['shard']}]"
        k = int(run["shard"].split("/")[0])
        mine = [(n, line) for n, line in enumerate(case.rows, 1) if (n - 1) % count == k - 1]
        bad = {n for n, line in mine if not line.good}
        if run["rc"] is None:
            problems.append(f"{tag} timed out")
            continue
        err_lines = [line for line in run["stderr"].splitlines() if line.strip()]
        if "Traceback" in run["stderr"] or "internal error" in run["stderr"].lower():
            problems.append(f"{tag} a traceback or internal error on stderr")
        try:
            docs = [json.loads(line) for line in run["stdout"].splitlines() if line.strip()]
        except ValueError:
            problems.append(f"{tag} stdout is not JSON lines")
            continue
        summary = docs[-1] if docs and docs[-1].get("summary") else None
        if summary is None:
            problems.append(f"{tag} no summary line last")
            continue
        if refused:
            if run["rc"] != 2:
                problems.append(f"{tag} exit {run['rc']} for a refused manifest ({case.manifest_fault}), not 2")
            if len(err_lines) != 1 or not err_lines[0].startswith("interp: error: in/pairs.csv"):
                problems.append(f"{tag} a refused manifest's stderr is not one line naming it: {err_lines[:3]}")
            if summary.get("exit_code") != 2 or len(docs) != 1:
                problems.append(f"{tag} a refused manifest's JSON is not one summary with exit_code 2")
            continue
        results = {doc["row"]: doc for doc in docs[:-1]}
        # Two workers on the same rows: a row the other one is making (or failing) is skipped here, "ok", with
        # "claimed_elsewhere"; its outcome is the other worker's to say (checked over both, below).
        elsewhere = {n for n, doc in results.items() if doc.get("claimed_elsewhere")}
        skipped_bad, bad = bad & elsewhere, bad - elsewhere
        for n in sorted(elsewhere):
            tried[n] = tried.get(n, 0)
        for n in bad:
            tried[n] = tried.get(n, 0) + 1
        if run["rc"] != (1 if bad else 0):
            problems.append(f"{tag} exit {run['rc']}, expected {1 if bad else 0} ({len(bad)} bad rows)")
        said = {}
        for line in err_lines:
            found = re.search(r"\] row (\d+) failed: in/pairs\.csv:(\d+): ", line)
            if found is None:
                if not line.startswith("warning:"):
                    problems.append(f"{tag} a stderr line that names no failed row: {line[:200]!r}")
                continue
            said.setdefault(int(found[1]), []).append(line)
        for n in sorted(set(said) | bad):
            if n not in bad:
                problems.append(f"{tag} good row {n} ({case.rows[n - 1].output}) failed: {said[n][0][:300]}")
            elif len(said.get(n, ())) != 1:
                problems.append(f"{tag} bad row {n} ({case.rows[n - 1].fault}) named by {len(said.get(n, ()))} "
                                "stderr lines, not one")
            elif case.rows[n - 1].names and case.rows[n - 1].names[:40] not in said[n][0]:
                problems.append(f"{tag} bad row {n} ({case.rows[n - 1].fault}): its line does not name "
                                f"{case.rows[n - 1].names[:40]!r}: {said[n][0][:300]}")
        if sorted(results) != [n for n, _ in mine]:
            problems.append(f"{tag} JSON results for rows {sorted(results)}, expected {[n for n, _ in mine]}")
        for n, line in mine:
            doc = results.get(n, {})
            made_here[n] = made_here.get(n, 0) + (doc.get("ok") is True and not doc.get("skipped"))
            if n in elsewhere:
                if (doc.get("ok"), doc.get("skipped")) != (True, True):
                    problems.append(f"{tag} row {n} claimed elsewhere but not a skip: {doc}")
                continue
            if doc.get("ok") is not line.good:
                problems.append(f"{tag} row {n} ({line.fault}): JSON ok={doc.get('ok')}: {doc.get('error')}")
            if rerun and line.good and bool(doc.get("skipped")) == line.repaired and case.workers != "same":
                problems.append(f"{tag} row {n} ({line.fault}) {'skipped' if line.repaired else 'made again'} on the "
                                "rerun")
        good = len(mine) - len(bad) - len(skipped_bad)
        made_or_skipped = summary.get("made", 0) + summary.get("skipped", 0)
        if (made_or_skipped, summary.get("failed")) != (good + len(skipped_bad), len(bad)) or \
                summary.get("rows") != len(mine):
            problems.append(f"{tag} summary {summary} for {good} good and {len(bad)} bad rows")
        if rerun and case.workers != "same" and summary.get("made") != sum(line.repaired for _, line in mine):
            problems.append(f"{tag} the rerun made {summary['made']} rows")
    if case.workers == "same" and not refused and all(run["rc"] is not None for run in runs):
        for n, line in enumerate(case.rows, 1):
            if not line.good and not tried.get(n):
                problems.append(f"bad row {n} ({line.fault}) failed in neither worker: each left it to the other")
            if rerun and line.good and made_here.get(n, 0) != line.repaired:
                problems.append(f"row {n} ({line.fault}) made {made_here.get(n, 0)} times on the rerun")
    if refused:
        if (folder / "out").exists() and not any(kind in ("copy", "bytes", "dir", "ro") and where.startswith("out/")
                                                 for kind, where, _ in case.setup):
            problems.append("a refused manifest left out/")
    after = _tree(folder)
    if not refused:
        for n, line in enumerate(case.rows, 1):
            if line.good:
                why = _valid_output(folder / "out" / line.output.rstrip("/"), line.output)
                if why:
                    problems.append(f"row {n}: {why}")
        # Nothing else in --outdir: a good row's output, the folders above it, the files set up before the run.
        owned = [f"out/{line.output.rstrip('/')}" for line in case.rows if line.good] + \
            [where for _, where, _ in case.setup if where.startswith("out/")]
        for path in after:
            # With two workers at once, a folder one made for a bad row that the other failed last stays, empty: the
            # one that made it cannot remove it while the other's claim is in it, the other did not make it. Known,
            # left (benchmarks/README.md); a file left is still a finding.
            empty = after[path][0] == "dir" and not any(p.startswith(path + "/") and after[p][0] != "dir"
                                                        for p in after)
            if empty and case.workers != "one":
                continue
            if path.startswith("out/") and not any(path == own or path.startswith(own + "/") or
                                                   own.startswith(path + "/") for own in owned):
                problems.append(f"a failed row left {path} in --outdir")
    for path, seen in before.items():
        if path.startswith("in/") or path == "in" or (path.startswith("out/") and first is None):
            if after.get(path) != seen:
                problems.append(f"input {path} changed: {seen} -> {after.get(path)}")
    if first is not None:  # the rerun: every output as the first run left it
        for path, seen in first.items():  # a folder's mtime moves with a claim made and removed in it: not a change
            if path.startswith("out/") and (after.get(path) != seen if seen[0] != "dir" else path not in after):
                problems.append(f"rerun changed {path}")
    for path in after:
        if temp_like(Path(path).name) or ".tmp-" in path or ".claim-" in path:
            problems.append(f"left behind: {path}")
    return problems


def run_case(case: Case, folder: Path, photos: dict[str, bytes], timeout: float) -> dict:
    build(case, folder, photos)
    before = _tree(folder)
    started = time.monotonic()
    runs = run_workers(case, folder, False, timeout)
    problems = judge(case, folder, runs, before, False, None)
    first = _tree(folder)
    reruns = []
    if not problems:
        reruns = run_workers(case, folder, True, timeout)
        problems = judge(case, folder, reruns, before, True, first)
    if not problems and any(line.repair for line in case.rows) and case.manifest_fault is None:
        repair(case, folder)  # the bad rows' files put right: a last rerun makes those rows and only those
        before, first = _tree(folder), _tree(folder)
        last = run_workers(case, folder, True, timeout)
        reruns += last
        problems = judge(case, folder, last, before, True, first)
    return {"seed": case.seed, "problems": problems, "seconds": round(time.monotonic() - started, 1),
            "case": asdict(case), "runs": runs, "reruns": reruns, "manifest": (folder / MANIFEST).read_bytes().decode(
                "utf-8", "backslashreplace")}


def repair(case: Case, folder: Path) -> None:
    """Put each repairable bad row's fault right, as its user would after reading its line: the input replaced by a
    good file of its kind, the file or folder in the way of its output removed, a read-only folder made writable."""
    import numpy as np

    for line in case.rows:
        if line.good or not line.repair:
            continue
        path = folder / line.repair
        if os.path.isdir(path) and not os.path.islink(path):
            path.chmod(0o755)
            if line.fault != "ro_folder":
                path.rmdir()
        elif os.path.lexists(path):
            path.chmod(0o644)
            path.unlink()
        if line.repair.startswith("in/"):
            if path.suffix == ".npy":
                path.write_bytes(_npy(np.random.default_rng(1).normal(size=(10, 128)).astype(np.float32)))
            else:
                shutil.copyfile(FACES / "obama.jpg" if case.align else REPO / "examples" / "demo_a.png", path)
        line.good, line.repaired, line.output = True, True, line.cells[-1]


def _cleanup(folder: Path) -> None:
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    shutil.rmtree(folder)


def fuzz(seconds: float, seed: int, max_rows: int, failures: Path | None, timeout: float, verbose: bool,
         cases: int | None, home: Path) -> tuple[int, int, int, dict]:
    photos = _photo_bytes()
    end, ran, failed, rows, seen = time.monotonic() + seconds, 0, 0, 0, {}
    while time.monotonic() < end and (cases is None or ran < cases):
        case = draw(seed * 1_000_003 + ran, max_rows)
        folder = home / f"case-{ran:04d}"
        result = run_case(case, folder, photos, timeout)
        ran += 1
        rows += len(case.rows)
        for line in case.rows:
            seen[line.fault] = seen.get(line.fault, 0) + 1
        if case.manifest_fault:
            seen[case.manifest_fault] = seen.get(case.manifest_fault, 0) + 1
        if verbose:
            print(f"  case {ran}: {len(case.rows)} rows, {case.workers}, {case.manifest_fault or 'rows'} "
                  f"{result['seconds']}s {'FAIL' if result['problems'] else 'ok'}", flush=True)
        if result["problems"]:
            failed += 1
            print(f"FAIL case {ran} (seed {case.seed}): {result['problems'][:4]}", flush=True)
            if failures is not None:
                failures.mkdir(parents=True, exist_ok=True)
                (failures / f"case-{ran:04d}.json").write_text(json.dumps(result, indent=1))
        _cleanup(folder)
    return ran, rows, failed, seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cases", type=int, default=None, help="stop after this many cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=8, help="most rows in one manifest")
    parser.add_argument("--failures", type=Path, default=None, help="folder to save failing cases in")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a worker may take")
    parser.add_argument("--replay", type=Path, default=None, help="rerun one saved failure's seed and print it")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    from interp_cli.stops import script_temp

    with script_temp("batchfuzz-") as home:
        if args.replay is not None:
            saved = json.loads(args.replay.read_text())
            case = draw(saved["seed"], saved["case"]["max_rows"])
            result = run_case(case, home / "replay", _photo_bytes(), args.timeout)
            print(json.dumps({k: result[k] for k in ("problems", "manifest", "runs", "reruns")}, indent=1))
            return 1 if result["problems"] else 0
        ran, rows, failed, seen = fuzz(args.seconds, args.seed, args.rows, args.failures, args.timeout, args.verbose,
                                       args.cases, home)
    print(f"manifest: {ran} cases, {rows} rows, {failed} failures (seed {args.seed})", flush=True)
    print("drawn: " + ", ".join(f"{name} {n}" for name, n in sorted(seen.items())), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    from interp_cli.stops import run_script  # a SIGTERM cleans up as Ctrl-C does

    sys.exit(run_script(main, "fuzz_manifest"))
