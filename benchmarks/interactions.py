"""Options that meet: an all-pairs (pairwise covering) run of `interp morph` over its features.

Each morph feature was audited alone; this runs every PAIR of feature values at least once, in few
commands, on the demo model (offline, CPU), and checks on each command what a user relies on:

- exit 0, no traceback; `--quiet` leaves stderr empty; without `--json`, stdout stays empty;
- the output exists with the frame count and frame size asked for (read back from the file: GIF and
  frames with PIL, MP4 with the bundled ffmpeg, the HTML page's first <img>, a .png sheet's size);
- `--json` parses and names the output, its kind, frames and size, and the sheet's size when asked;
- an output that already exists is replaced by the new one (a frames folder holds only the new frames);
- the same command run twice gives the same bytes (README: "The same inputs and options give the same
  bytes ... cache hit or miss"), and the second run encodes nothing (`encoder_calls` 0);
- no stray temporary (`.NAME.tmp-...`) in the output folder or the cache; the inputs are untouched;
- refusals (the same photo twice in a row, by kind) exit 2 with one stderr line (or the JSON failure
  object), write nothing and leave an existing output alone;
- a batch mixing the kinds, with one bad row, writes the good rows with the CLI's bytes and fails the
  bad one alone.

The pairs come from a small seeded greedy (AETG-like) generator below; no dependency.

    python benchmarks/interactions.py                 # the whole covering array, ~30 commands
    python benchmarks/interactions.py --rows 0,3,7    # some rows only (tests/test_interactions.py)
    python benchmarks/interactions.py --list          # print the commands, run nothing
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_FACES = ROOT / "tests" / "data" / "faces"
EXAMPLES = ROOT / "examples"
MODEL_SIZE = 64  # the demo model's render

# Input sets: photos from tests/data/faces (obama.jpg and biden.jpg are ../shared/faces' own, kept in the
# repository so a clean checkout runs this) and examples/ (demo_a/b: the model's own cartoon faces); "aba"
# visits a photo twice but never as neighbours, which is allowed.
INPUTS = {
    "ob": [TEST_FACES / "obama.jpg", TEST_FACES / "biden.jpg"],
    "aba": [TEST_FACES / "obama.jpg", TEST_FACES / "biden.jpg", TEST_FACES / "obama.jpg"],
    "demo": [EXAMPLES / "demo_a.png", EXAMPLES / "demo_b.png"],
    "tests": [TEST_FACES / "obama_speech.jpg", TEST_FACES / "two_people.jpg"],
}

FACTORS: dict[str, list] = {
    "kind": ["mp4", "gif", "frames", "png", "html"],
    "inputs": list(INPUTS),
    "paste": [False, True],
    "size": [None, 48, 97],
    "steps": [2, 3],
    "motion": ["open", "loop", "pingpong"],
    "hold": [0, 1],
    "ease": ["linear", "smooth", "cubic"],
    "interp": ["lerp", "slerp", "spline"],
    "layers": ["all", "coarse", "0-3"],
    "tune": [0, 1],
    "refine": [0, 1],
    "json": [False, True],
    "quiet": [False, True],
    "sheet": [False, True],
    "existing": [False, True],
    "twice": [False, True],
}

# Pairs interp refuses by design; the generator leaves them out and REFUSALS below runs each once.
FORBIDDEN = {
    ("kind", "mp4", "size", 97),  # H.264 needs even sides: exit 2, "use --size 96 or --size 98"
    ("inputs", "aba", "motion", "loop"),  # the loop's last step, obama -> obama, would be a still: exit 2
    ("inputs", "demo", "paste", True),  # no photo face in the demo's cartoons to paste into: exit 1
}


def all_pairs(factors: dict[str, list], seed: int = 0, tries: int = 40, forbidden=frozenset()) -> list[dict]:
    """Rows covering every pair of values of two factors at least once (greedy, seeded).

    Each new row starts from a pair not yet covered, then fills the other factors one by one (in a
    random order) with the value that covers most new pairs; of `tries` such rows the best is kept.
    """
    names = list(factors)
    uncovered = {
        (a, va, b, vb)
        for a, b in itertools.combinations(names, 2)
        for va in factors[a]
        for vb in factors[b]
    } - set(forbidden)
    rng = random.Random(seed)
    rows: list[dict] = []

    def pair(name: str, value, other: str, ov) -> tuple:
        a, b = sorted((name, other), key=names.index)
        return a, value if a == name else ov, b, value if b == name else ov

    def gain(row: dict, name: str, value) -> int:
        """New pairs covered by setting `name` to `value`; -1 where that makes a forbidden pair."""
        keys = [pair(name, value, other, ov) for other, ov in row.items()]
        if any(k in forbidden for k in keys):
            return -1
        return sum(k in uncovered for k in keys)

    def covers(row: dict) -> set:
        return {
            (a, row[a], b, row[b]) for a, b in itertools.combinations(names, 2)
        } & uncovered

    while uncovered:
        best, best_new = None, -1
        start_pairs = sorted(uncovered, key=repr)
        for _ in range(tries):
            a, va, b, vb = rng.choice(start_pairs)
            row = {a: va, b: vb}
            rest = [n for n in names if n not in row]
            rng.shuffle(rest)
            for name in rest:
                values = list(factors[name])
                rng.shuffle(values)
                row[name] = max(values, key=lambda v: gain(row, name, v))
            if any(pair(x, row[x], y, row[y]) in forbidden for x, y in itertools.combinations(names, 2)):
                continue  # every value of some factor made a forbidden pair
            new = covers(row)
            if len(new) > best_new:
                best, best_new = row, len(new)
        rows.append({n: best[n] for n in names})
        uncovered -= covers(best)
    return rows


def input_paths(key: str) -> list[Path]:
    missing = [str(p) for p in INPUTS[key] if not p.is_file()]
    if missing:
        raise SystemExit(f"missing input photo {missing[0]}")
    return INPUTS[key]


def output_name(row: dict) -> str:
    return {"mp4": "m.mp4", "gif": "m.gif", "frames": "frames/", "png": "m.png", "html": "m.html"}[row["kind"]]


def morph_args(row: dict) -> list[str]:
    """The row as `interp morph` arguments (inputs and -o added by the caller)."""
    args = ["--weights", "demo", "--steps", str(row["steps"]), "--ease", row["ease"],
            "--interp", row["interp"], "--layers", row["layers"]]
    if row["paste"]:
        args.append("--paste")
    if row["size"]:
        args += ["--size", str(row["size"])]
    if row["motion"] != "open":
        args.append("--" + row["motion"])
    if row["hold"]:
        args += ["--hold", str(row["hold"])]
    if row["tune"]:
        args += ["--tune", str(row["tune"])]
    if row["refine"]:
        args += ["--refine", str(row["refine"])]
    if row["json"]:
        args.append("--json")
    if row["quiet"]:
        args.append("-q")
    if row["sheet"]:
        args += ["--sheet", "sheet.png"]
    return args


def expected_frames(k: int, steps: int, motion: str, hold: int) -> int:
    """README/--help's arithmetic, written out here on its own (not interp_cli.blend's)."""
    if motion == "loop":
        return k * (steps - 1) + k * hold
    if motion == "pingpong":
        return 2 * (k - 1) * (steps - 1) + 2 * (k - 1) * hold
    return (k - 1) * (steps - 1) + 1 + k * hold


def photo_size(path: Path) -> tuple[int, int]:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).size


def expected_size(row: dict, inputs: list[Path]) -> tuple[int, int] | None:
    """(width, height) of a frame, or None where only the width is fixed (pasted, height rounded)."""
    if not row["paste"]:
        side = row["size"] or MODEL_SIZE
        return side, side
    return None


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def read_frames(kind: str, out: Path) -> tuple[int, tuple[int, int]]:
    """(frame count, (width, height)) read back from the written file."""
    from PIL import Image

    if kind == "gif":
        with Image.open(out) as im:
            return im.n_frames, im.size
    if kind == "frames":
        names = sorted(out.iterdir())
        with Image.open(names[0]) as im:
            return len(names), im.size
    if kind == "png":
        with Image.open(out) as im:
            return -1, im.size
    if kind == "mp4":
        run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out), "-map", "0:v", "-c", "copy",
                              "-f", "null", "-"], capture_output=True, text=True)
        frames = int(re.findall(r"frame=\s*(\d+)", run.stderr)[-1])
        w, h = re.search(r"Video: .*?, (\d+)x(\d+)", run.stderr).groups()
        return frames, (int(w), int(h))
    if kind == "html":
        text = out.read_text(encoding="utf-8")
        tag = re.search(r'<img id="frame"[^>]*>', text).group(0)
        w = int(re.search(r'width="(\d+)"', tag).group(1))
        h = int(re.search(r'height="(\d+)"', tag).group(1))
        return -1, (w, h)
    raise ValueError(kind)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.iterdir()):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def temps(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if ".tmp-" in p.name)


def plant_existing(out: Path, kind: str) -> None:
    """An older output where the new one goes: junk bytes, or a frames folder with more frames."""
    if kind == "frames":
        out.mkdir()
        for i in range(12):
            (out / f"frame_{i:04d}.png").write_bytes(b"old")
    else:
        out.write_bytes(b"old output")


def interp(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "interp_cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def check_row(i: int, row: dict, work: Path, env: dict) -> list[str]:
    """Run one row; return the broken invariants (empty: all held)."""
    problems: list[str] = []
    folder = work / f"row{i:02d}"
    folder.mkdir()
    inputs = input_paths(row["inputs"])
    name = output_name(row)
    out = folder / name.rstrip("/")
    before = {p: digest(p) for p in inputs}
    if row["existing"]:
        plant_existing(out, row["kind"])
    args = [str(p) for p in inputs] + ["-o", name] + morph_args(row)
    runs = []
    for n in range(2 if row["twice"] else 1):
        t0 = time.perf_counter()
        run = interp(args, folder, env)
        runs.append((run, time.perf_counter() - t0))
        if run.returncode != 0:
            problems.append(f"exit {run.returncode}: {run.stderr.strip()[-400:]}")
            return problems
        if "Traceback" in run.stderr:
            problems.append("traceback on stderr")
        if row["quiet"] and run.stderr:
            problems.append(f"--quiet printed on stderr: {run.stderr[:200]!r}")
        if not row["json"] and run.stdout:
            problems.append(f"stdout without --json: {run.stdout[:200]!r}")
        if n == 0:
            first = digest(out), (digest(folder / "sheet.png") if row["sheet"] else None)
    k = len(inputs)
    want_frames = expected_frames(k, row["steps"], row["motion"], row["hold"])
    count, size = read_frames(row["kind"], out)
    if row["kind"] == "png":
        pass  # a contact sheet: its size is checked against --json's sheet_size below
    elif row["kind"] == "html":
        if count not in (-1, want_frames):
            problems.append(f"html frames {count}, want {want_frames}")
    elif count != want_frames:
        problems.append(f"{count} frames in the file, want {want_frames}")
    want = expected_size(row, inputs)
    if row["kind"] != "png":
        if want is not None and size != want:
            problems.append(f"frame size {size}, want {want}")
        if want is None:
            pw, ph = photo_size(inputs[0])
            width = row["size"] or pw
            if size[0] != width and not (row["kind"] == "mp4" and abs(size[0] - width) == 1):
                problems.append(f"pasted width {size[0]}, want {width}")
            if abs(size[1] - width * ph / pw) > 1.5:
                problems.append(f"pasted height {size[1]}, want about {width * ph / pw:.1f}")
    if row["json"]:
        for run, _ in runs:
            try:
                doc = json.loads(run.stdout)
            except ValueError:
                problems.append(f"--json stdout does not parse: {run.stdout[:200]!r}")
                continue
            if doc.get("output") != name:
                problems.append(f"--json output {doc.get('output')!r}, want {name!r}")
            kind = {"png": "png"}.get(row["kind"], row["kind"])
            if doc.get("kind") != kind:
                problems.append(f"--json kind {doc.get('kind')!r}, want {kind!r}")
            if doc.get("frames") != want_frames:
                problems.append(f"--json frames {doc.get('frames')}, want {want_frames}")
            if row["kind"] not in ("png",) and (doc.get("width"), doc.get("height")) != size:
                problems.append(f"--json size {doc.get('width')}x{doc.get('height')}, file {size}")
            sheet_doc = doc.get("sheet_size")
            if row["kind"] == "png" or row["sheet"]:
                sheet = out if row["kind"] == "png" else folder / "sheet.png"
                if not sheet_doc:
                    problems.append("--json sheet_size missing")
                else:
                    from PIL import Image

                    with Image.open(sheet) as im:
                        if im.size != (sheet_doc["width"], sheet_doc["height"]):
                            problems.append(f"sheet {im.size}, --json sheet_size {sheet_doc}")
            if row["sheet"] and doc.get("sheet") != "sheet.png":
                problems.append(f"--json sheet {doc.get('sheet')!r}")
        if row["twice"] and len(runs) == 2:
            doc2 = json.loads(runs[1][0].stdout)
            if doc2.get("encoder_calls") != 0:
                problems.append(f"second run encoded {doc2.get('encoder_calls')} codes (cache miss)")
            if row["tune"] and not (doc2.get("tune") or {}).get("cached"):
                problems.append("second run tuned again (tuned cache miss)")
    if row["sheet"] and not (folder / "sheet.png").is_file():
        problems.append("no sheet.png")
    if row["twice"]:
        again = digest(out), (digest(folder / "sheet.png") if row["sheet"] else None)
        if again != first:
            problems.append("the second run's bytes differ from the first's")
    stray = temps(folder) + temps(Path(env["INTERP_CACHE_DIR"]))
    if stray:
        problems.append(f"stray temporaries: {stray}")
    present = sorted(p.name for p in folder.iterdir())
    if present != sorted([name.rstrip("/"), *(["sheet.png"] if row["sheet"] else [])]):
        problems.append(f"unexpected files in the output folder: {present}")
    if {p: digest(p) for p in inputs} != before:
        problems.append("an input changed")
    return problems


TWICE = [TEST_FACES / "obama.jpg", TEST_FACES / "obama.jpg"]
REFUSALS = [  # (inputs, kind, extra options, --json, an output already there, exit code); nothing is written
    # the same photo twice in a row: the morph would be a still
    (TWICE, "mp4", [], False, True, 2),
    (TWICE, "gif", [], True, False, 2),
    (TWICE, "frames", [], True, True, 2),
    (TWICE, "png", [], False, False, 2),
    (TWICE, "html", [], True, True, 2),
    # FORBIDDEN's pairs
    (INPUTS["ob"], "mp4", ["--size", "97"], True, True, 2),
    (INPUTS["aba"], "gif", ["--loop"], False, True, 2),
    (INPUTS["demo"], "frames", ["--paste"], True, False, 1),
]


def check_refusal(i: int, case: tuple, work: Path, env: dict) -> list[str]:
    inputs, kind, extra, as_json, existing, code = case
    problems = []
    folder = work / f"refuse{i}"
    folder.mkdir()
    name = output_name({"kind": kind})
    out = folder / name.rstrip("/")
    if existing:
        plant_existing(out, kind)
    old = digest(out) if existing else None
    before = {p: digest(p) for p in inputs}
    args = [*map(str, inputs), "-o", name, "--weights", "demo", "--steps", "2", *extra]
    if as_json:
        args.append("--json")
    run = interp(args, folder, env)
    if run.returncode != code:
        problems.append(f"exit {run.returncode}, want {code}")
    lines = run.stderr.splitlines()
    if as_json:
        try:
            doc = json.loads(run.stdout)
            if doc.get("exit_code") != code or not doc.get("error"):
                problems.append(f"--json failure object {doc}")
        except ValueError:
            problems.append(f"--json stdout does not parse: {run.stdout[:200]!r}")
        if len(lines) > 1:
            problems.append(f"stderr {lines}")
    elif len(lines) != 1 or not lines[0].startswith("interp: error:"):
        problems.append(f"stderr is not one error line: {lines}")
    if "Traceback" in run.stderr:
        problems.append("traceback")
    if existing:
        if digest(out) != old:
            problems.append("the existing output was touched")
    elif out.exists():
        problems.append("an output was written")
    if sorted(p.name for p in folder.iterdir()) != ([out.name] if existing else []):
        problems.append(f"files left in the output folder: {sorted(p.name for p in folder.iterdir())}")
    if {p: digest(p) for p in inputs} != before:
        problems.append("an input changed")
    return problems


BATCH_ROWS = [  # (inputs, output name, a CLI row with the same options to compare bytes with)
    ("ob", "b1.gif"),
    ("demo", "b2/"),
    ("aba", "b3.html"),
    ("tests", "b4.png"),
    ("bad", "b5.mp4"),  # the same photo twice: fails alone
    ("ob", "b6.mp4"),
]
BATCH_OPTIONS = ["--weights", "demo", "--steps", "3", "--hold", "1", "--layers", "coarse", "--size", "48",
                 "--ease", "smooth"]


def check_batch(work: Path, env: dict) -> list[str]:
    problems = []
    folder = work / "batch"
    folder.mkdir()
    with open(folder / "pairs.csv", "w", newline="") as f:
        w = csv.writer(f)
        for key, name in BATCH_ROWS:
            paths = [TEST_FACES / "obama.jpg"] * 2 if key == "bad" else input_paths(key)
            w.writerow([*map(str, paths), name])
    run = subprocess.run([sys.executable, "-m", "interp_cli", "batch", "pairs.csv", "--outdir", "out",
                          "--json", "--sheets", *BATCH_OPTIONS], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=600)
    if run.returncode == 0:
        problems.append("batch with a bad row exited 0")
    if "Traceback" in run.stderr:
        problems.append("traceback")
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    failed = [d for d in lines if d.get("error") and not d.get("summary")]
    if len(failed) != 1 or "b5" not in json.dumps(failed[0]):
        problems.append(f"failed rows: {failed}")
    made = {line["row"]: line for line in lines if line.get("ok")}
    for number, (key, name) in enumerate(BATCH_ROWS, 1):
        target = folder / "out" / name.rstrip("/")
        stem = name.rstrip("/").rsplit(".", 1)[0] if not name.endswith("/") else name.rstrip("/")
        sheet = None if name.endswith(".png") else os.path.join("out", f"{stem}.sheet.png")
        line = made.get(number, {})
        if key != "bad" and (line.get("output"), line.get("sheet")) != (os.path.join("out", name.rstrip("/")), sheet):
            problems.append(f"row {number}: JSON names output {line.get('output')!r}, sheet {line.get('sheet')!r}")
        if key == "bad":
            if target.exists():
                problems.append(f"{name} written for a bad row")
            continue
        if not target.exists():
            problems.append(f"{name} missing")
            continue
        cli = folder / "cli" / name
        cli.parent.mkdir(exist_ok=True)
        twin_sheet = ["--sheet", f"cli/{stem}.sheet.png"] if sheet else []
        one = interp([*map(str, input_paths(key)), "-o", str(cli) + ("/" if name.endswith("/") else ""),
                      *BATCH_OPTIONS, *twin_sheet, "-q"], folder, env)
        if one.returncode != 0:
            problems.append(f"CLI twin of {name}: exit {one.returncode} {one.stderr.strip()}")
        elif digest(cli) != digest(target):
            problems.append(f"{name}: the batch row's bytes differ from the CLI's")
        elif sheet and digest(folder / "cli" / f"{stem}.sheet.png") != digest(folder / sheet):
            problems.append(f"{name}: the batch row's sheet differs from the CLI's")
    if temps(folder) or temps(Path(env["INTERP_CACHE_DIR"])):
        problems.append("stray temporaries")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", help="comma-separated row numbers to run (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="print the commands and exit")
    ap.add_argument("--no-extras", action="store_true", help="skip the refusal and batch checks")
    opts = ap.parse_args(argv)
    rows = all_pairs(FACTORS, seed=opts.seed, forbidden=FORBIDDEN)
    picked = range(len(rows)) if not opts.rows else [int(r) for r in opts.rows.split(",")]
    n_pairs = sum(len(FACTORS[a]) * len(FACTORS[b]) for a, b in itertools.combinations(FACTORS, 2))
    print(f"{len(rows)} rows cover the {n_pairs - len(FORBIDDEN)} allowed pairs of {len(FACTORS)} features "
          f"({len(FORBIDDEN)} refused pairs run as refusals)", flush=True)
    if opts.list:
        for i in picked:
            row = rows[i]
            tail = " (twice)" if row["twice"] else ""
            tail += " (over an existing output)" if row["existing"] else ""
            print(f"{i:2d}: interp {' '.join(p.name for p in INPUTS[row['inputs']])} -o {output_name(row)} "
                  f"{' '.join(morph_args(row))}{tail}")
        return 0
    failures = 0
    with tempfile.TemporaryDirectory(prefix="interp-interactions-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(work / "cache"),
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("INTERP_WEIGHTS", None)
        t0 = time.perf_counter()
        for i in picked:
            problems = check_row(i, rows[i], work, env)
            failures += bool(problems)
            print(f"row {i:2d} {'FAIL' if problems else 'ok'}: {morph_args(rows[i])} "
                  f"{rows[i]['kind']} {rows[i]['inputs']}" + "".join(f"\n    {p}" for p in problems), flush=True)
        if not opts.no_extras:
            for i, case in enumerate(REFUSALS):
                problems = check_refusal(i, case, work, env)
                failures += bool(problems)
                print(f"refusal {i} {'FAIL' if problems else 'ok'}: {case[1]} {case[2]} {case[0][0].name}.."
                      + "".join(f"\n    {p}" for p in problems), flush=True)
            problems = check_batch(work, env)
            failures += bool(problems)
            print(f"batch {'FAIL' if problems else 'ok'}" + "".join(f"\n    {p}" for p in problems), flush=True)
        print(f"{failures} failing checks; {time.perf_counter() - t0:.0f} s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
