"""Where a command's several outputs land (-o, --sheet, --save-aligned crops), as `interp` runs.

Each output is planned and checked before any work: never an input, never another output, never inside
the -o frames folder, the folder writable for real. They are committed together at the end, so a failed
run leaves every older output as it was. An output named by a symlink is written where the link points.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from interp_cli.cli import cli
from interp_cli.errors import UsageError
from tests.cli_runner import cli_runner

ROOT = Path(__file__).resolve().parent.parent
A = ROOT / "examples" / "demo_a.png"
B = ROOT / "examples" / "demo_b.png"
MORPH = ["--weights", "demo", "--steps", "3", "--device", "cpu", "-q"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERP_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / ".hf"), INTERP_CACHE_DIR=str(tmp_path / ".cache"),
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    return env


def interp(tmp_path: Path, *args, fsize: int | None = None) -> tuple[int, str]:
    """`interp ARGS` run in `tmp_path`: (exit code, stderr). `fsize` limits every file it writes (as a full disk):
    that takes a real process, whose limit this one does not share; the rest run in this process, with the same
    environment and folder (a child there only added torch's import to each)."""
    if fsize is None:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path)
            for name in list(os.environ):
                if name.startswith(("INTERP_", "HF_")):
                    patch.delenv(name)
            for name, value in _env(tmp_path).items():
                if os.environ.get(name) != value:
                    patch.setenv(name, value)
            done = cli_runner().invoke(cli, [str(a) for a in args])
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            raise done.exception  # a child would have printed its traceback: never a quiet exit 1 here
        return done.exit_code, done.stderr

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        # the hard limit kept: this limit can be raised, by root or not (so the message says so for anyone)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    proc = subprocess.run([sys.executable, "-m", "interp_cli", *map(str, args)], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=240, preexec_fn=limit_file_size if fsize else None)
    return proc.returncode, proc.stderr


def refused(tmp_path: Path, *args) -> str:
    """Run a command that must be refused as a usage error: its one stderr line."""
    code, err = interp(tmp_path, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("interp: error: "), (code, err)
    return lines[0]


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` (but the run's cache) with a digest of its bytes, links as links."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith((".cache", ".hf")):
            continue
        if path.is_symlink():
            found[rel] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return found


def litter(folder: Path) -> list[str]:
    """Hidden names left anywhere under `folder` (a temp, a moved-aside folder), the run's cache aside."""
    return [p.relative_to(folder).as_posix() for p in folder.rglob(".*") if p.relative_to(folder).parts[0]
            not in (".cache", ".hf")]


# --- --save-aligned -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["same name", "symlink", "hard link", "encode"])
def test_save_aligned_never_overwrites_an_input(tmp_path, how):
    shutil.copy(A, tmp_path / "x.png")
    shutil.copy(B, tmp_path / "photo.png")
    if how == "same name":  # x.png's crop would be x_aligned.png, the other input
        os.rename(tmp_path / "photo.png", tmp_path / "x_aligned.png")
    elif how == "symlink":
        (tmp_path / "x_aligned.png").symlink_to("photo.png")
    elif how == "encode":  # its one input's crop would be the input itself, through a link
        (tmp_path / "x_aligned.png").symlink_to("x.png")
    else:
        os.link(tmp_path / "photo.png", tmp_path / "x_aligned.png")
    before = tree(tmp_path)
    second = "x_aligned.png" if how == "same name" else "photo.png"
    command = (["encode", "x.png", "-o", "x.npy"] if how == "encode" else ["x.png", second, "-o", "m.gif"])
    line = refused(tmp_path, *command, "--weights", "demo", "-q", "--save-aligned", ".")
    assert "--save-aligned" in line and "input" in line, line
    assert tree(tmp_path) == before


def test_save_aligned_numbers_inputs_that_share_a_name(tmp_path):
    for folder, photo in (("p", A), ("q", B)):
        (tmp_path / folder).mkdir()
        shutil.copy(photo, tmp_path / folder / "face.png")
    code, err = interp(tmp_path, "p/face.png", "q/face.png", *MORPH, "--save-aligned", "crops/new", "-o", "m.gif")
    assert code == 0, err
    crops = sorted((tmp_path / "crops/new").iterdir())
    assert [p.name for p in crops] == ["face_aligned_1.png", "face_aligned_2.png"]
    # the demo model takes its inputs as they are: each crop is its own input's picture
    for crop, photo in zip(crops, (A, B)):
        assert (Image.open(crop).convert("RGB").tobytes() == Image.open(photo).convert("RGB").tobytes())


def test_save_aligned_into_the_frames_folder_is_refused_before_any_work(tmp_path):
    line = refused(tmp_path, A, B, *MORPH, "-o", "fr/", "--save-aligned", "fr")
    assert "inside the -o frames folder fr/" in line, line
    assert tree(tmp_path) == {} and not (tmp_path / "fr").exists()
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "fr/")  # the folder is still the frames' own
    assert code == 0, err
    before = tree(tmp_path)
    refused(tmp_path, A, B, *MORPH, "-o", "fr/", "--save-aligned", "fr/sub")
    refused(tmp_path, A, B, *MORPH, "-o", "demo_a_aligned.png", "--save-aligned", ".")  # a crop is -o
    assert tree(tmp_path) == before


def _manifest(tmp_path: Path, *rows: str) -> None:
    (tmp_path / "m.csv").write_text("".join(row + "\n" for row in rows))


def test_batch_crops_are_one_per_photo_across_the_manifest(tmp_path):
    # Rows in different folders whose photos share a name: each row used to number its own inputs, so
    # face_aligned_1.png was p's face in one row and q's in the next, and the last row won.
    for folder, photo in (("p", A), ("q", B)):
        (tmp_path / folder).mkdir()
        shutil.copy(photo, tmp_path / folder / "face.png")
    _manifest(tmp_path, "p/face.png,q/face.png,one.gif", "q/face.png,p/face.png,two.gif", "q/face.png,p/face.png,x/")
    for shard in ("1/2", "2/2"):  # two workers name every crop alike
        code, err = interp(tmp_path, "batch", "m.csv", "--outdir", "out", "--shard", shard, *MORPH,
                           "--save-aligned", "crops")
        assert code == 0, err
    crops = sorted((tmp_path / "crops").iterdir())
    assert [p.name for p in crops] == ["face_aligned_1.png", "face_aligned_2.png"]  # in the order first named
    for crop, photo in zip(crops, (A, B)):
        assert Image.open(crop).convert("RGB").tobytes() == Image.open(photo).convert("RGB").tobytes()


def test_batch_crop_that_would_replace_another_rows_input_is_refused_before_any_work(tmp_path):
    shutil.copy(A, tmp_path / "a.png")
    shutil.copy(B, tmp_path / "b.png")
    (tmp_path / "crops").mkdir()
    shutil.copy(B, tmp_path / "crops" / "a_aligned.png")  # row 2's photo, where row 1's crop would go
    _manifest(tmp_path, "a.png,b.png,one.gif", "crops/a_aligned.png,a.png,two.gif")
    before = tree(tmp_path)
    line = refused(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--save-aligned", "crops")
    assert "row 1's crop a_aligned.png would overwrite an input of row 2 (line 2)" in line, line
    assert tree(tmp_path) == before
    # the same photo under another name, as a hard link, is found too
    os.replace(tmp_path / "crops" / "a_aligned.png", tmp_path / "crops" / "photo.png")
    os.link(tmp_path / "crops" / "photo.png", tmp_path / "crops" / "a_aligned.png")
    _manifest(tmp_path, "a.png,b.png,one.gif", "crops/photo.png,a.png,two.gif")
    before = tree(tmp_path)
    line = refused(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--save-aligned", "crops")
    assert "would overwrite an input of row 2" in line, line
    assert tree(tmp_path) == before


def test_batch_crop_on_or_inside_a_rows_output_is_refused(tmp_path):
    shutil.copy(A, tmp_path / "a.png")
    shutil.copy(B, tmp_path / "b.png")
    _manifest(tmp_path, "a.png,b.png,a_aligned.png", "b.png,a.png,fr/")
    line = refused(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--save-aligned", "out")
    assert "row 1's crop a_aligned.png would land on row 1's output (line 1)" in line, line
    line = refused(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--save-aligned", "out/fr")
    assert "would land inside row 2's output (line 2)" in line, line
    assert sorted(tree(tmp_path)) == ["a.png", "b.png", "m.csv"]  # no output, no crop


def test_batch_row_whose_faces_do_not_fit_fails_alone(tmp_path):
    faces = ROOT / "tests" / "data" / "faces"
    shutil.copy(faces / "obama.jpg", tmp_path / "a.jpg")
    shutil.copy(faces / "biden.jpg", tmp_path / "b.jpg")
    _manifest(tmp_path, "a.jpg,b.jpg,one.gif", "a.jpg,b.jpg,a.jpg,three.gif")
    code, err = interp(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--align", "--face", ",0",
                       "--save-aligned", "crops")
    assert code == 1, err
    assert "row 2 failed: m.csv:2: --face ,0: 2 values for 3 inputs" in err, err
    assert (tmp_path / "out" / "one.gif").exists() and not (tmp_path / "out" / "three.gif").exists()
    assert sorted(p.name for p in (tmp_path / "crops").iterdir()) == ["a_aligned.png", "b_aligned.png"]


def test_face_without_alignment_is_refused_not_ignored(tmp_path):
    # --face picks among the faces alignment finds: with alignment off (--no-align, or the demo model's
    # default) it used to be dropped without a word.
    two = ROOT / "tests" / "data" / "faces" / "two_people.jpg"
    line = refused(tmp_path, A, two, *MORPH, "--no-align", "--face", ",1", "-o", "m.gif")
    assert line == (f"interp: error: {two}: --face picks among the faces that alignment finds, and "
                    "alignment is off (--no-align is given); drop --face, or pass --align"), line
    line = refused(tmp_path, A, two, *MORPH, "--face", ",1", "-o", "m.gif")
    assert "alignment is off (this model, like the demo preset, takes its inputs as they are)" in line, line
    assert list(tmp_path.iterdir()) == [tmp_path / ".cache"] or list(tmp_path.iterdir()) == []
    code, err = interp(tmp_path, A, two, *MORPH, "--face", ",1", "--align", "-o", "m.gif")
    assert code != 2 or "--face picks" not in err, err  # with --align the face is picked (or not found)
    # a batch: once for all rows, not a failure per row after the model loaded
    (tmp_path / "m.csv").write_text(f"{A},{two},one.gif\n{two},{A},two.gif\n")
    line = refused(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--no-align", "--face", "0")
    assert line.endswith("interp: error: --face picks among the faces that alignment finds, and alignment is off "
                         "(--no-align is given); drop --face, or pass --align"), line
    code, err = interp(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--face", "0")
    assert code == 2 and err.count("--face picks") == 1 and "row 1 failed" not in err, err
    assert not (tmp_path / "out" / "one.gif").exists()


# --- --sheet ------------------------------------------------------------------------------------------


def test_sheet_inside_the_frames_folder_or_on_the_output_is_refused(tmp_path):
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "fr/")
    assert code == 0, err
    before = tree(tmp_path)
    for sheet in ("fr/frame_0000.png", "fr/sheet.png"):
        line = refused(tmp_path, A, B, *MORPH, "-o", "fr/", "--sheet", sheet)
        assert line == (f"interp: error: --sheet {sheet}: lies inside the -o frames folder fr/; put it elsewhere "
                        "(a frames folder holds only its frames)")
    line = refused(tmp_path, A, B, *MORPH, "-o", "s.png", "--sheet", "s.png")
    assert "is also the -o output s.png" in line
    assert tree(tmp_path) == before


# --- all or nothing -----------------------------------------------------------------------------------


def test_a_failed_sheet_leaves_the_older_output_sheet_and_crops(tmp_path):
    """The sheet (or a crop) not fitting must not leave a new video beside the old sheet: each is complete in
    its temp before any is moved into place."""
    args = [A, B, *MORPH, "--size", "128", "--sheet", "s.png", "--save-aligned", "crops", "-o", "out.gif"]
    code, err = interp(tmp_path, *args)  # sizes first, to put the limit between the GIF and the sheet
    assert code == 0, err
    gif, sheet = (tmp_path / "out.gif").stat().st_size, (tmp_path / "s.png").stat().st_size
    assert gif < sheet, (gif, sheet)
    (tmp_path / "out.gif").write_bytes(b"older gif")
    (tmp_path / "s.png").write_bytes(b"older sheet")
    (tmp_path / "crops/demo_a_aligned.png").write_bytes(b"older crop")
    before = tree(tmp_path)
    code, err = interp(tmp_path, *args, fsize=(gif + sheet) // 2)
    # Freeing space or writing elsewhere, which the message once advised, does not get past a process's limit.
    assert code == 1 and err.strip() == (f"interp: error: s.png: cannot write: file too large (over this process's "
                                         f"file-size limit of {(gif + sheet) // 2:,} bytes, `ulimit -f`); raise that "
                                         "limit"), err
    assert tree(tmp_path) == before and litter(tmp_path) == []


def test_a_json_run_that_fails_still_says_its_warnings_on_stderr(tmp_path):
    """Under --json the warnings wait for the JSON's "warnings", and a failure printed no JSON: a photo's damaged
    profile, said before the output could not be written, was said nowhere."""
    from tests.icc import rgb_profile

    Image.open(A).save(tmp_path / "damaged.png", icc_profile=rgb_profile("display-p3")[:300])
    code, err = interp(tmp_path, "damaged.png", B, *MORPH, "--size", "128", "--json", "--no-cache", "-o", "out.gif",
                       fsize=2000)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 2, err
    assert lines[0].startswith("warning: damaged.png: its embedded colour profile cannot be used (")
    assert lines[1].startswith("interp: error: out.gif: cannot write: file too large")


@pytest.mark.parametrize("frames", [0, -3, 2.5])
def test_sheet_frames_is_checked_before_anything_is_written(tmp_path, frames):
    from interp_cli import pipeline

    with pytest.raises(UsageError, match="sheet_frames must be"):
        pipeline.morph([A, B], tmp_path / "out.gif", sheet=tmp_path / "s.png", sheet_frames=frames, weights="demo",
                       steps=3, device="cpu", progress=False, log=lambda message: None)
    assert os.listdir(tmp_path) == []


# --- where outputs can go -----------------------------------------------------------------------------


def test_outputs_named_by_symlinks_are_written_where_they_point(tmp_path):
    (tmp_path / "shots").mkdir()
    (tmp_path / "link").symlink_to("shots")
    (tmp_path / "real.gif").write_bytes(b"older gif")
    (tmp_path / "link.gif").symlink_to("real.gif")
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "link/")
    assert code == 0, err
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "link.gif")
    assert code == 0, err
    files = tree(tmp_path)
    assert files["link"] == "-> shots" and files["link.gif"] == "-> real.gif"
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == [f"frame_{i:04d}.png" for i in range(3)]
    assert Image.open(tmp_path / "real.gif").n_frames == 3
    # a second run replaces the frames in the linked folder, as in a real one
    code, err = interp(tmp_path, A, B, *MORPH[:2], "--steps", "2", *MORPH[4:], "-o", "link/")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == ["frame_0000.png", "frame_0001.png"]
    assert os.path.islink(tmp_path / "link") and litter(tmp_path) == []


def test_every_output_makes_its_missing_folders_as_a_batch_row_does(tmp_path):
    """`-o frames/` made its folder, but `-o deep/er/frames/`, `-o deep/er/out.mp4`, `--sheet deep/er/s.png` and
    every other verb's -o refused a missing folder ("directory 'deep/er' does not exist"), where a batch row's
    `deep/er/x.mp4` and `--save-aligned deep/er/` made theirs: one rule now, every output makes its folders."""
    for words, made in (
            ([A, B, *MORPH, "-o", "f/1/frames/"], ["f/1/frames/frame_0000.png", "f/1/frames/frame_0002.png"]),
            ([A, B, *MORPH, "-o", "m/1/out.mp4", "--sheet", "s/1/s.png"], ["m/1/out.mp4", "s/1/s.png"]),
            ([A, B, *MORPH, "-o", "g/1/out.gif"], ["g/1/out.gif"]),
            ([A, B, *MORPH, "-o", "h/1/out.html"], ["h/1/out.html"]),
            ([A, B, *MORPH, "-o", "p/1/sheet.png"], ["p/1/sheet.png"]),
            (["encode", A, *MORPH[:2], "-q", "-o", "e/1/a.npy"], ["e/1/a.npy"]),
            (["render", "e/1/a.npy", *MORPH[:2], "-q", "-o", "r/1/a.png"], ["r/1/a.png"]),
            (["mix", A, B, *MORPH[:2], "-q", "-o", "x/1/m.npy"], ["x/1/m.npy"])):
        code, err = interp(tmp_path, *words)
        assert code == 0 and err == "", (words, err)
        for name in made:
            assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0, name
    assert litter(tmp_path) == []


@pytest.mark.parametrize("output", ["new/er/out.gif", "new/er/frames/"])
def test_folders_made_for_an_output_that_fails_are_removed_again(tmp_path, output):
    """A morph cut short by a full disk (a file-size limit, for real) leaves no folder it made for its output, and
    keeps one that was there (with what it held)."""
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "kept.txt").write_text("mine")
    code, err = interp(tmp_path, A, B, *MORPH[:2], "--steps", "40", *MORPH[4:], "--size", "256", "--no-cache",
                       "-o", output, fsize=20_000)
    assert code == 1 and "cannot write: file too large" in err, err
    left = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if not p.name.startswith((".cache", ".hf"))
            and p.relative_to(tmp_path).parts[0] not in (".cache", ".hf")]
    assert sorted(left) == ["new", "new/kept.txt"] and (tmp_path / "new" / "kept.txt").read_text() == "mine"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_folder_where_nothing_can_be_made_is_refused_before_any_work(tmp_path):
    line = refused(tmp_path, A, B, *MORPH, "-o", "/proc/x.gif")
    assert line.startswith("interp: error: /proc/x.gif: cannot create files in directory '/proc'"), line
    line = refused(tmp_path, "encode", A, "--weights", "demo", "-o", "a.npy", "--save-aligned", "/proc/crops")
    assert line.startswith("interp: error: --save-aligned /proc/crops: "), line
    assert tree(tmp_path) == {}


def test_a_replaced_output_keeps_its_permissions(tmp_path):
    # An atomic rename used to bring the umask's mode: a clip kept private came back world-readable.
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "m.gif", "--sheet", "s.png")
    assert code == 0, err
    os.chmod(tmp_path / "m.gif", 0o600)
    os.chmod(tmp_path / "s.png", 0o640)
    code, err = interp(tmp_path, B, A, *MORPH, "-o", "m.gif", "--sheet", "s.png")
    assert code == 0, err
    assert oct((tmp_path / "m.gif").stat().st_mode & 0o7777) == oct(0o600)
    assert oct((tmp_path / "s.png").stat().st_mode & 0o7777) == oct(0o640)
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "new.gif")
    assert code == 0 and (tmp_path / "new.gif").stat().st_mode & 0o777 == 0o666 & ~_umask()
    # single images (render, mix, align) too: they went through another rename
    assert interp(tmp_path, "encode", A, "--weights", "demo", "-o", "a.npy", "-q")[0] == 0
    render = ["render", "a.npy", "--weights", "demo", "-o", "p.png", "-q"]
    assert interp(tmp_path, *render)[0] == 0
    os.chmod(tmp_path / "p.png", 0o600)
    assert interp(tmp_path, *render)[0] == 0
    assert oct((tmp_path / "p.png").stat().st_mode & 0o777) == oct(0o600)


def test_every_new_output_folder_and_cache_entry_takes_the_umask_as_cp_would(tmp_path):
    """Outputs are written through hidden temps and renamed: a temp made private (mkstemp's 0600) would give every
    output 0600 whatever the umask. Under umask 027, as `cp` or a shell's `>` gives: files 0640, folders made 0750."""
    (tmp_path / "rows.csv").write_text(f"{A},{B},row.gif\n{A},{B},row/\n")
    old = os.umask(0o027)
    try:
        for args in (["-o", "m.mp4", "--sheet", "s.png"], ["-o", "p.html"], ["-o", "frames/"],
                     ["-o", "new/sub/x.gif", "--tune", "1"]):
            code, err = interp(tmp_path, A, B, *MORPH, *args)
            assert code == 0, err
        for args in (["encode", A, "--weights", "demo", "-o", "codes/a.npy", "-q"],
                     ["batch", "rows.csv", *MORPH, "--outdir", "out/b"]):
            code, err = interp(tmp_path, *args)
            assert code == 0, err
    finally:
        os.umask(old)
    modes = {path.relative_to(tmp_path).as_posix(): oct(path.stat().st_mode & 0o7777)
             for path in tmp_path.rglob("*") if ".hf" not in path.parts and path.name != "rows.csv"}
    assert {"m.mp4", "s.png", "p.html", "frames/frame_0000.png", "new/sub/x.gif", "codes/a.npy", "out/b/row.gif",
            "out/b/row/frame_0002.png", ".cache/latents", ".cache/tuned"} <= set(modes)
    assert {name: mode for name, mode in modes.items()
            if mode != oct(0o750 if (tmp_path / name).is_dir() else 0o640)} == {}


def test_a_replaced_frames_folder_keeps_its_permissions(tmp_path):
    """A frames folder is built beside the old one and swapped in: one kept private (0700) or from the world
    (0750) came back with the umask's mode, 0755, its frames readable by all. Now it keeps its mode, as a folder
    written into does; a batch row's frames alike."""
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "frames/")
    assert code == 0, err
    (tmp_path / "frames").chmod(0o750)
    code, err = interp(tmp_path, B, A, *MORPH, "-o", "frames/")
    assert code == 0, err
    assert oct((tmp_path / "frames").stat().st_mode & 0o7777) == oct(0o750)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_{i:04d}.png" for i in range(3)]
    (tmp_path / "rows.csv").write_text(f"{A},{B},row/\n")
    batch = ["batch", "rows.csv", *MORPH, "--outdir", "out"]
    assert interp(tmp_path, *batch)[0] == 0
    (tmp_path / "out" / "row").chmod(0o700)
    code, err = interp(tmp_path, *batch)
    assert code == 0, err
    assert oct((tmp_path / "out" / "row").stat().st_mode & 0o7777) == oct(0o700)
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "new/")
    assert code == 0 and (tmp_path / "new").stat().st_mode & 0o777 == 0o777 & ~_umask()


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a file owned by another user")
def test_another_users_file_is_replaced_with_a_mode_of_our_own(tmp_path):
    """A rename cannot keep the old file's owner: copying its private mode would lock that owner out."""
    theirs = tmp_path / "m.gif"
    theirs.write_bytes(b"old")
    os.chown(theirs, 65534, 65534)
    os.chmod(theirs, 0o600)
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "m.gif")
    assert code == 0, err
    assert theirs.stat().st_uid == 0 and theirs.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_folder_named_like_a_file_output_is_refused_unless_named_as_a_folder(tmp_path):
    # `-o x.html` where a folder x.html exists used to fill it with PNG frames, exit 0.
    (tmp_path / "x.html").mkdir()
    line = refused(tmp_path, A, B, *MORPH, "-o", "x.html")
    assert line == ("interp: error: x.html: is a folder, but a .html output is a file; remove or rename the "
                    "folder (or end the name with / to write a morph's PNG frames into it)"), line
    assert list((tmp_path / "x.html").iterdir()) == []
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "x.html/")  # as its message says
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "x.html").iterdir()) == ["frame_0000.png", "frame_0001.png",
                                                                       "frame_0002.png"]
    (tmp_path / "code.npy").mkdir()  # encode writes no frames: its refusal offers none
    line = refused(tmp_path, "encode", A, "--weights", "demo", "-o", "code.npy")
    assert line.endswith("code.npy: is a folder, but a .npy output is a file; remove or rename the folder"), line


@pytest.mark.parametrize("verb, output, accepts", [("encode", "made/", "codes are written as .npy"),
                                                     ("render", "new/x.npy/", "render writes a .png image or a "
                                                                              ".npy float array")])
def test_a_new_folder_name_as_a_one_file_output_is_not_said_to_be_a_folder_that_exists(tmp_path, verb, output,
                                                                                       accepts):
    # `interp encode a.png -o made/` said "made/: is a folder", sending its reader to look for one that is not there.
    source = A if verb == "encode" else str(tmp_path / "a.npy")
    if verb == "render":
        assert interp(tmp_path, "encode", A, "--weights", "demo", "-o", source)[0] == 0
    line = refused(tmp_path, verb, source, "--weights", "demo", "-o", output)
    assert line == f"interp: error: {output}: a name ending in / is a folder ({accepts})", line
    assert not (tmp_path / output.split("/")[0]).exists()


def test_batch_rows_with_a_photo_or_frames_too_large_fail_alone_naming_them(tmp_path):
    """A row pasting into a 17,000 px wide photo for an MP4 (libx264 failed once every frame was rendered) and a
    row with a photo over the pixel limit each fail alone, named, with what to do; the other row is written."""
    import interp_cli.align as align

    if not align.alignment_available():
        pytest.skip("--paste needs the align extra")
    faces = ROOT / "tests" / "data" / "faces"
    shutil.copy(faces / "obama.jpg", tmp_path / "a.jpg")
    shutil.copy(faces / "biden.jpg", tmp_path / "b.jpg")
    Image.new("RGB", (17000, 1000), (120, 110, 100)).save(tmp_path / "wide.jpg", quality=30)
    header = Image.new("RGB", (1, 1))  # a PNG whose header says 16000x10100 (161.6 MP): refused before decoding
    header.save(tmp_path / "huge.png")
    data = bytearray((tmp_path / "huge.png").read_bytes())
    data[16:24] = struct.pack(">II", 16000, 10100)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "huge.png").write_bytes(bytes(data))
    _manifest(tmp_path, "wide.jpg,b.jpg,wide.mp4", "huge.png,b.jpg,huge.gif", "a.jpg,b.jpg,ok.gif")
    code, err = interp(tmp_path, "batch", "m.csv", "--outdir", "out", *MORPH, "--paste")
    assert code == 1, err
    assert ("row 1 failed: m.csv:1: out/wide.mp4: frames of 17000x1000 (--paste into wide.jpg) are too large for "
            "an MP4: H.264 holds frames of at most 139,264 blocks of 16x16 px (8192x4352) and 16384 px a side; use "
            "--size 4096 or less, or write a .gif, .html or frames/, which keep 17000x1000") in err, err
    assert ("row 2 failed: m.csv:2: huge.png: image is 16000x10100 pixels, more than the 160 megapixel limit; "
            "shrink it first") in err, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok.gif"]


def test_a_pingpong_whose_way_out_cannot_be_kept_fails_in_one_line_and_writes_nothing(tmp_path):
    """The way back replays the way out's frames, kept in a temp file until then (interp_cli/replay.py): a temp
    folder that takes no more is said in one line naming it, and leaves no output."""
    code, err = interp(tmp_path, A, B, "--weights", "demo", "--steps", 30, "--pingpong", "--no-cache", "-q",
                       "-o", "out/", fsize=100_000)  # each frame's PNG fits; the 28 frames kept do not
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "cannot write: file too large" in lines[0], err
    assert not (tmp_path / "out").exists() and litter(tmp_path) == []


@pytest.mark.parametrize("args, said", [
    (["batch", "pairs.csv", "--outdir", "pairs.csv", *MORPH], "--outdir pairs.csv: exists and is not a directory"),
    ([A, B, "-o", "m.gif", "--save-aligned", "a.png", *MORPH], "--save-aligned a.png: exists and is not a directory"),
    (["encode", A, "-o", "a.npy", "--save-aligned", "a.png", "--weights", "demo"],
     "--save-aligned a.png: exists and is not a directory"),
    ([A, B, "-o", "m.gif", "--sheet", "made", *MORPH], "--sheet made: is a folder (the contact sheet is a .png file)"),
])
def test_a_folder_option_given_a_file_is_refused_in_interps_words(args, said, tmp_path, monkeypatch):
    """`--outdir pairs.csv` and `--save-aligned a.png` (and `--sheet` given a folder) were refused in click's
    words, "invalid value for '--outdir': Directory 'pairs.csv' is a file", unlike every other refusal of a
    path: interp's own check says it now, as to a Python caller, one line, exit 2, nothing touched."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.csv").write_text(f"{A},{B},m.gif\n")
    shutil.copy(A, tmp_path / "a.png")
    (tmp_path / "made").mkdir()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result = cli_runner().invoke(cli, [str(a) for a in args])
    assert (result.exit_code, result.stderr) == (2, f"interp: error: {said}\n")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "made", "pairs.csv"]


@pytest.mark.parametrize("args, path", [
    (["batch", "pairs.csv", "--outdir", "pairs.csv", *MORPH], "pairs.csv"),
    (["batch", "pairs.csv", "--outdir", "pairs.csv/sub", *MORPH], "pairs.csv/sub"),
    (["batch", "pairs.csv", "--outdir", "o" * 300, *MORPH], "o" * 300),  # a name past NAME_MAX
    ([A, B, "-o", "m.gif", "--save-aligned", "gone", *MORPH], "gone"),  # a dangling symlink
    ([A, B, "-o", "m.gif", "--save-aligned", "a.png", *MORPH], "a.png"),
    (["encode", A, "-o", "a.npy", "--save-aligned", "a.png", "--weights", "demo"], "a.png"),
    ([A, B, "-o", "pairs.csv/m.gif", *MORPH], "pairs.csv/m.gif"),  # named before, as the others are now
])
def test_a_folder_option_that_cannot_be_written_is_the_path_at_fault_under_json(args, path, tmp_path, monkeypatch):
    """`-o pairs.csv/m.gif` named its output as the file at fault (`"path"`), but `--outdir pairs.csv` and
    `--save-aligned a.png` said `"path": null`, and a batch cut short (`--outdir pairs.csv/sub`: cannot create it)
    printed a closing object with no "path" at all. Each names the output place that cannot be written now, as
    the README says of "path" (an output that cannot be written), for the shell's --json and a Python caller."""
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.csv").write_text(f"{A},{B},m.gif\n")
    shutil.copy(A, tmp_path / "a.png")
    (tmp_path / "made").mkdir()
    (tmp_path / "gone").symlink_to(tmp_path / "removed")
    result = cli_runner().invoke(cli, [*(str(a) for a in args), "--json"])
    last = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 2 and (last["exit_code"], last["path"]) == (2, path), result.stdout
    if args[0] == "batch":
        from interp_cli.batch import batch

        with pytest.raises(UsageError) as caught:
            batch("pairs.csv", args[3], weights="demo")
        assert caught.value.path == path


@pytest.mark.parametrize("args, path", [
    ([A, B, "-o", "m.gif", "--sheet", "made"], "made"),
    ([A, B, "-o", "m.gif", "--sheet", "made/"], "made/"),
    ([A, B, "-o", "x.html"], "x.html"),
    ([A, B, "-o", "made/", "--sheet", "x.html"], "x.html"),
    ([A, B, "-o", "x.txt"], None),
    ([A, B, "-o", "m.gif", "--sheet", "s.jpg"], None),
    ([A, B, "-o", "out/m2"], None),
])
def test_a_folder_in_the_way_of_an_output_file_is_the_path_at_fault_under_json(args, path, tmp_path, monkeypatch):
    """`--sheet made` or `-o x.html` where that name is a folder said `"path": null`, though a folder on the disk is
    what is in the way of the file asked for, as a file is in the way of `-o a.png/m.gif` (named). Now it is named,
    as typed, for the shell's --json and a Python caller. A name whose type interp does not write (`-o x.txt`,
    `--sheet s.jpg`, `-o out/m2`) stays null: the command is at fault there, no file on the disk."""
    import json

    from interp_cli import morph

    monkeypatch.chdir(tmp_path)
    (tmp_path / "made").mkdir()
    (tmp_path / "x.html").mkdir()
    result = cli_runner().invoke(cli, [*(str(a) for a in args), *MORPH, "--json"])
    answer = json.loads(result.stdout)
    assert result.exit_code == 2 and (answer["exit_code"], answer["path"]) == (2, path), result.stdout
    assert answer["error"] == result.stderr.removeprefix("interp: error: ").rstrip("\n")
    sheet = args[args.index("--sheet") + 1] if "--sheet" in args else None
    with pytest.raises(UsageError) as caught:
        morph([A, B], args[3], sheet=sheet, weights="demo")
    assert caught.value.path == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["made", "x.html"] and not any(tmp_path.rglob("*/*"))


# --- a real full disk and a real read-only mount ----------------------------------------------------------------

_ON_A_SMALL_DISK = """
disk=$1 results=$2 mode=$3; shift 3
mount -t tmpfs -o size=1m tmpfs "$disk" || exit 99
cp "$results/old.gif" "$disk/a.gif" && mkdir "$disk/kept" && echo mine > "$disk/kept/note"
head -c 2000000 /dev/zero > "$disk/filler" 2>/dev/null  # stops where the disk is full
if [ "$mode" = ro ]; then rm "$disk/filler"; mount -o remount,ro "$disk" || exit 99; fi
cd "$disk" && "$@" 2> "$results/stderr"
echo $? > "$results/code"
find . | sort > "$results/listing"
sha256sum a.gif > "$results/sum"
"""


def _on_a_small_disk(tmp_path: Path, name: str, mode: str, *args, cache_on_disk: bool = False) -> dict:
    """`interp ARGS` run in a 1 MB tmpfs holding an older a.gif and kept/note, full (`mode` "full") or mounted read-only
    ("ro"), in a mount namespace of its own, so that the mount goes with the process whatever happens to the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    results, disk = tmp_path / name, tmp_path / f"{name}-disk"
    results.mkdir()
    disk.mkdir()
    shutil.copyfile(tmp_path / "old.gif", results / "old.gif")
    env = _env(tmp_path)
    if cache_on_disk:
        env["INTERP_CACHE_DIR"] = str(disk / "cache")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", _ON_A_SMALL_DISK, "sh", disk,
                           results, mode, sys.executable, "-m", "interp_cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode == 99 or not (results / "code").exists():
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {done.stderr.strip()}")
    assert not os.path.ismount(disk) and os.listdir(disk) == []  # gone with its namespace
    return {"code": int((results / "code").read_text()), "stderr": (results / "stderr").read_text(),
            "listing": (results / "listing").read_text().split(), "old": (results / "sum").read_text().split()[0]}


@pytest.fixture
def old_gif(tmp_path):
    code, err = interp(tmp_path, A, B, *MORPH, "-o", "old.gif")
    assert code == 0, err
    return hashlib.sha256((tmp_path / "old.gif").read_bytes()).hexdigest()


@pytest.mark.parametrize("output", ["a.gif", "frames/", "new/sub/x.mp4", "p.html"])
@pytest.mark.parametrize(("mode", "code", "said"), [("full", 1, "cannot write: no space left on device"),
                                                    ("ro", 2, "is on a read-only file system")])
def test_a_real_full_or_read_only_disk_is_one_line_and_leaves_the_folder_as_it_was(tmp_path, old_gif, output, mode,
                                                                                    code, said):
    ran = _on_a_small_disk(tmp_path, "run", mode, A, B, *MORPH, "--steps", "8", "--size", "128", "-o", output)
    assert ran["code"] == code, ran["stderr"]
    line, = ran["stderr"].splitlines()
    assert line.startswith(f"interp: error: {output}: ") and said in line, line
    assert ran["old"] == old_gif  # the older output untouched
    left = [".", "./a.gif", "./kept", "./kept/note"] + (["./filler"] if mode == "full" else [])
    assert ran["listing"] == sorted(left)  # no temp, and no folder made for the output


@pytest.mark.parametrize("tune", [[], ["--tune", "2"]], ids=["plain", "tuned"])
def test_a_cache_on_a_full_disk_warns_once_and_the_morph_is_written(tmp_path, old_gif, tune):
    """One line for the caches one cause stops, naming those the morph uses: a plain morph was told of the
    "latent and tuned-weights caches", though it never tunes."""
    out = tmp_path / "elsewhere.gif"
    ran = _on_a_small_disk(tmp_path, "run", "full", A, B, *MORPH[:-1], *tune, "-o", out, cache_on_disk=True)
    assert ran["code"] == 0, ran["stderr"]
    warnings = [line for line in ran["stderr"].splitlines() if line.startswith("warning:")]
    said = "latent and tuned-weights caches not written (" if tune else "latent cache not written ("
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {said}"), ran["stderr"]
    assert "no space left on device" in warnings[0]
    assert Image.open(out).n_frames == 3
