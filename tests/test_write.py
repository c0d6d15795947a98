"""interp_cli.write: outputs decode back to what was written, appear atomically, and a failure
leaves neither a partial file nor a damaged pre-existing one."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from interp_cli.cli import cli
from interp_cli.errors import InterpError, UsageError
from interp_cli.frame_writer import frame_rate
from interp_cli.output_paths import check_output_path, output_kind
from interp_cli.write import (
    FramesWriter,
    open_writer,
    quality_to_crf,
    write_image,
)
from tests.browser import drawn, gif_frames
from tests.cli_runner import cli_runner

ROOT = Path(__file__).resolve().parent.parent

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
DEMO_A, DEMO_B = os.path.join(EXAMPLES, "demo_a.png"), os.path.join(EXAMPLES, "demo_b.png")


def _frames(n: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Smooth, moving colour gradients (video-codec friendly, distinct per frame)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    out = []
    for i in range(n):
        r = 127 + 100 * np.sin(x / width * 3 + i * 0.3)
        g = 127 + 100 * np.cos(y / height * 3 - i * 0.2)
        b = np.full_like(x, 40 + 150 * i / max(1, n - 1))
        out.append(np.stack([r, g, b], axis=-1).round().astype(np.uint8))
    return out


def _decode_mp4(path) -> tuple[dict, list[np.ndarray]]:
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    width, height = meta["size"]
    frames = [np.frombuffer(buf, np.uint8).reshape(height, width, 3) for buf in gen]
    return meta, frames


def _top_level_boxes(path) -> list[bytes]:
    data = path.read_bytes()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        boxes.append(kind)
        if size == 0:
            break
        pos += size
    return boxes


def _gif_frames(path) -> tuple[Image.Image, list[np.ndarray], list[int]]:
    im = Image.open(path)
    frames, durations = [], []
    for i in range(im.n_frames):
        im.seek(i)
        frames.append(np.asarray(im.convert("RGB")))
        durations.append(im.info["duration"])
    return im, frames, durations


# --- kinds and path checks ----------------------------------------------------------------------


def test_output_kind(tmp_path):
    assert output_kind("a.mp4") == output_kind("A.MP4") == "mp4"
    assert output_kind("a.gif") == "gif" and output_kind("a.HTML") == "html"
    assert output_kind("a.png") == "png" and output_kind("a.npy") == "npy"
    assert output_kind("frames") == output_kind("out/frames/") == "frames"
    (tmp_path / "frames.v2").mkdir()
    assert output_kind(tmp_path / "frames.v2") == "frames"  # an existing directory is a frames target
    (tmp_path / "weird.mp4").mkdir()  # ... unless typed like a file: then said with the "/" only
    assert output_kind(f"{tmp_path / 'weird.mp4'}/") == "frames"
    with pytest.raises(UsageError, match=r"weird.mp4: is a folder, but a \.mp4 output is a file; remove or rename "
                                         r"the folder \(or end the name with / to write a morph's PNG frames"):
        output_kind(str(tmp_path / "weird.mp4"))
    assert output_kind(tmp_path / "weird.mp4") == "frames"  # a Path, which cannot end in "/", still may
    with pytest.raises(UsageError) as err:  # a command that writes no frames does not offer them
        output_kind(str(tmp_path / "weird.mp4"), "codes are written as .npy")
    assert str(err.value).endswith("output is a file; remove or rename the folder")
    with pytest.raises(UsageError) as err:
        output_kind("out.avi")
    assert str(err.value) == ("out.avi: unsupported output type '.avi' (a morph is written as .mp4, .gif, .html, "
                              "a .png contact sheet, or PNG frames into a folder named with a trailing slash: frames/)")
    with pytest.raises(UsageError) as err:
        output_kind("aligned.jpg", "the aligned face is written as .png")
    assert str(err.value) == "aligned.jpg: unsupported output type '.jpg' (the aligned face is written as .png)"


def run_cli(*args):
    return cli_runner().invoke(cli, [str(a) for a in args])


def _weights(args) -> list[str]:
    return [] if args[0] == "align" else ["--weights", "demo"]  # align loads no model


@pytest.mark.parametrize("args", [
    [DEMO_A, DEMO_B, "-o", "/dev/stdout"], [DEMO_A, DEMO_B, "-o", "-"], [DEMO_A, DEMO_B, "-o", "/dev/null"],
    [DEMO_A, DEMO_B, "-o", "/dev/stdout/"], [DEMO_A, DEMO_B, "-o", "x.gif", "--sheet", "-"],
    ["encode", DEMO_A, "-o", "-"], ["align", DEMO_A, "-o", "/dev/stdout"], ["mix", DEMO_A, DEMO_B, "-o", "-"],
], ids=["stdout", "dash", "null", "stdout-slash", "sheet-dash", "encode", "align", "mix"])
def test_standard_output_and_devices_are_refused_saying_so(args, tmp_path, monkeypatch):
    # They were told to use a folder, "/dev/stdout/" (which then failed) or "-/" (a folder named "-").
    monkeypatch.chdir(tmp_path)
    result = cli_runner().invoke(cli, [*args, *_weights(args)])
    named = f"--sheet {args[-1]}" if "--sheet" in args else args[args.index("-o") + 1]
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f": {named}: writing to standard output or a device is not supported; name a file" in result.stderr
    assert "-/" not in result.stderr and "/dev/stdout/)" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_refused_output_types_read_alike(tmp_path, monkeypatch):
    # render and mix had sentences of their own ("x.gif: render writes ..."), morph another for .npy.
    monkeypatch.chdir(tmp_path)
    np.save("a.npy", np.zeros((10, 128), np.float32))
    for args, ending in [
        (["render", "a.npy", "-o", "x.gif"], "(render writes a .png image or a .npy float array)"),
        (["render", "a.npy", "-o", "x.webp"], "(render writes a .png image or a .npy float array)"),
        (["mix", DEMO_A, DEMO_B, "-o", "x.gif"], "(mix writes a .png image or a .npy code)"),
        (["encode", DEMO_A, "-o", "x.png"], "(codes are written as .npy)"),
        (["align", DEMO_A, "-o", "x.gif"], "(the aligned face is written as .png)"),
        ([DEMO_A, DEMO_B, "-o", "x.npy"], "(a morph is written as .mp4, .gif, .html, a .png contact sheet, or PNG "
                                          "frames into a folder named with a trailing slash: frames/)"),
        ([DEMO_A, DEMO_B, "-o", "x.gif", "--sheet", "s.gif"], "(the contact sheet is a .png file)"),
    ]:
        result = cli_runner().invoke(cli, [*args, *_weights(args)])
        named = args[-1] if "--sheet" not in args else f"--sheet {args[-1]}"
        suffix = os.path.splitext(args[-1])[1]
        assert result.exit_code == 2, args
        assert result.stderr == f"interp: error: {named}: unsupported output type '{suffix}' {ending}\n", args


@pytest.mark.parametrize("name", ["out/deep/x.gif", "out/deep/frames/", "out/deep/x.mp4", "out/deep/x.html"])
def test_a_writer_makes_its_missing_folders_and_removes_them_if_dropped(tmp_path, monkeypatch, name):
    """A Python caller's open_writer("out/deep/x.gif") refused the missing folders; now it makes them, as a batch
    row's output does, and a writer left by an exception takes them away again (an existing folder stays)."""
    monkeypatch.chdir(tmp_path)
    Path("out").mkdir()
    frame = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(RuntimeError, match="cut"):
        with open_writer(name) as writer:
            writer.write(frame)
            assert Path("out/deep").is_dir()
            raise RuntimeError("cut")
    assert os.listdir(tmp_path) == ["out"] and os.listdir("out") == []
    with open_writer(name) as writer:
        writer.write(frame)
    assert Path(name).exists() and not [p for p in Path("out/deep").iterdir() if p.name.startswith(".")]
    write_image("else/where/x.png", frame)
    assert Image.open("else/where/x.png").size == (16, 16)


def test_check_output_path_missing_parent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as err:
        check_output_path("out/x.mp4", make_parents=False)
    assert str(err.value) == "out/x.mp4: directory 'out' does not exist"
    check_output_path("out/x.mp4")  # as every writer of interp's checks it: made by the writer
    assert not os.path.lexists("out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="'file' is not a directory"):
        check_output_path("file/x.mp4")
    check_output_path("x.mp4")  # the current directory is fine


def _morph_under_file_modes(tmp_path, output, *, steps=2, **popen):
    """`interp` morphing the demo pair into `output`, run with file modes binding it as they bind a user (as root:
    under setpriv, tests/file_modes.py), its cache in tmp_path."""
    from tests.file_modes import file_modes_binding

    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    words = [*file_modes_binding(), sys.executable, "-m", "interp_cli", DEMO_A, DEMO_B, "--weights", "demo",
             "--steps", str(steps), "-o", str(output)]
    if popen:
        return subprocess.Popen(words, env=env, text=True, **popen)
    return subprocess.run(words, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", ["x.mp4", "frames/"])
def test_check_output_path_not_writable(tmp_path, name):
    """A folder of mode 555 refuses the output before any work, one line, exit 2, nothing made in it. This test was
    skipped as root (every run of the suite here); it now runs the command with file modes binding root too."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done = _morph_under_file_modes(tmp_path, f"{locked}/{name}")
    finally:
        locked.chmod(0o755)
    assert (done.returncode, done.stderr) == (2, f"interp: error: {locked}/{name}: directory '{locked}' is not "
                                                 "writable\n")
    assert os.listdir(locked) == []


@pytest.mark.parametrize("mode", [0o555, 0o600])
def test_a_frames_folder_whose_frames_cannot_be_removed_is_refused_not_half_replaced(tmp_path, mode):
    """`-o frames/` over an older frames folder of mode 555 (or 600) wrote the new one in its place, but the old
    one, moved aside to be deleted, could not be emptied: it stayed beside it for good, hidden (`.frames.old-...`),
    the old frames in it. The output is now refused up front, exit 2, the older frames kept as they were."""
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(frames / "frame_0000.png")
    older = (frames / "frame_0000.png").read_bytes()
    frames.chmod(mode)
    try:
        done = _morph_under_file_modes(tmp_path, f"{frames}/")
    finally:
        frames.chmod(0o755)
    assert (done.returncode, done.stderr) == (2, f"interp: error: {frames}/: the frames already in '{frames}' cannot "
                                                 "be removed (the directory is not writable); refusing to replace "
                                                 "it\n")
    assert os.listdir(frames) == ["frame_0000.png"] and (frames / "frame_0000.png").read_bytes() == older
    assert [entry for entry in os.listdir(tmp_path) if entry.startswith(".")] == []


@pytest.mark.parametrize("flag", ["i", "a"])
def test_a_frames_folder_holding_an_immutable_frame_is_refused_not_left_behind_hidden(tmp_path, flag):
    """`-o frames/` over frames one of which is immutable or append-only (`chattr +i`, `+a`: not even root removes
    it): the new frames took the folder's place, exit 0, and the old folder stayed beside it for good, hidden
    (`.frames.old-...`), that frame in it, the run saying nothing. The output is now refused up front, exit 2."""
    from tests.file_modes import file_attribute

    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(2):
        Image.new("RGB", (4, 4), (9, n, 9)).save(frames / f"frame_000{n}.png")
    older = sorted((p.name, p.read_bytes()) for p in frames.iterdir())
    with file_attribute(frames / "frame_0001.png", flag, cleared_under=tmp_path):  # and an old folder's, left
        done = _morph_under_file_modes(tmp_path, f"{frames}/")
    why = {"i": "immutable (chattr +i)", "a": "append-only (chattr +a)"}[flag]
    assert (done.returncode, done.stderr) == (2, f"interp: error: {frames}/: the frames already in '{frames}' cannot "
                                                 f"be removed: frame_0001.png is {why}; refusing to replace it\n")
    assert sorted((p.name, p.read_bytes()) for p in frames.iterdir()) == older
    assert [entry for entry in os.listdir(tmp_path) if entry.startswith(".")] == []


def test_a_frames_folder_of_another_users_frames_in_a_sticky_folder_is_refused_not_left_behind_hidden():
    """A frames folder of mode 1777 (shared, sticky, as /tmp) holding another user's frames, in a folder this user may
    write in: the folder is writable, so `-o frames/` wrote the new frames in its place, exit 0, but the old ones, not
    this user's to remove from a sticky folder, stayed beside it for good (`.frames.old-...`). Now refused up front.
    Run as root: the command as `nobody` (setpriv), the frames root's."""
    import tempfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to run the command as another user")
    shared = Path(tempfile.mkdtemp())  # not in tmp_path, whose parent is root's, 700: nobody could search it
    try:
        shared.chmod(0o777)
        frames = shared / "frames"
        frames.mkdir()
        Image.new("RGB", (4, 4), (9, 9, 9)).save(frames / "frame_0000.png")
        frames.chmod(0o1777)
        env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(shared / "cache"), PYTHONPATH=str(ROOT))
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                               "interp_cli", DEMO_A, DEMO_B, "--weights", "demo", "--steps", "2", "-o", f"{frames}/"],
                              env=env, capture_output=True, text=True, timeout=300, cwd=shared)
        assert (done.returncode, done.stderr) == (
            2, f"interp: error: {frames}/: the frames already in '{frames}' cannot be removed: frame_0000.png is "
               "another user's, in a sticky folder; refusing to replace it\n")
        assert os.listdir(frames) == ["frame_0000.png"]
        assert [entry for entry in os.listdir(shared) if entry.startswith(".")] == []
    finally:
        shutil.rmtree(shared)


def _written_temp(folder: Path) -> bool:
    """Whether a writer's temp in `folder` holds a frame: rendering has begun (the output check's probe, a temp of
    the same name, made and removed at once, never holds anything)."""
    for entry in os.scandir(folder):
        try:
            if ".tmp-" in entry.name and (any(os.scandir(entry.path)) if entry.is_dir() else entry.stat().st_size):
                return True
        except FileNotFoundError:  # the probe, gone meanwhile
            continue
    return False


@pytest.mark.parametrize("name", ["x.gif", "frames/", "new/"])
def test_a_folder_made_unwritable_during_the_run_fails_the_commit_and_keeps_the_older_output(tmp_path, name):
    """The output's folder made unwritable (chmod 555) while the frames render: the commit is refused (a new frames
    folder's too: FramesWriter retries on ENOTEMPTY/EEXIST only, never on EACCES), and an older frames folder's swap
    checks the folder again first. One line naming the output, exit 2, no traceback, the older output as it was.
    Its temp cannot be removed from that folder; the next run there sweeps it."""
    out = tmp_path / "out"
    out.mkdir()
    target = out / name.rstrip("/")
    shown = f"{target}/" if name.endswith("/") else str(target)
    older = None
    if name == "frames/":
        target.mkdir()
        Image.new("RGB", (4, 4)).save(target / "frame_0000.png")
        older = {"frame_0000.png": (target / "frame_0000.png").read_bytes()}
    elif name == "x.gif":
        target.write_bytes(b"GIF89a older")
        older = target.read_bytes()
    run = _morph_under_file_modes(tmp_path, shown, steps=40, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not _written_temp(out):
            assert run.poll() is None, run.communicate()
        os.kill(run.pid, signal.SIGSTOP)
        out.chmod(0o555)
        os.kill(run.pid, signal.SIGCONT)
        _, stderr = run.communicate(timeout=300)
    finally:
        out.chmod(0o755)
        if run.poll() is None:
            run.kill()
    lines = stderr.splitlines()
    said = f"directory '{out}' is not writable" if name == "frames/" else "permission denied"  # re-checked to swap
    assert (run.returncode, lines[-1]) == (2, f"interp: error: {shown}: {said}"), stderr
    assert not any("Traceback" in line or line.startswith("interp: error") for line in lines[:-1]), stderr
    if name == "frames/":
        assert {p.name: p.read_bytes() for p in target.iterdir()} == older
    elif name == "x.gif":
        assert target.read_bytes() == older
    else:
        assert not target.exists()
    again = _morph_under_file_modes(tmp_path, shown)
    assert again.returncode == 0, again.stderr
    assert os.listdir(out) == [target.name]  # the stale temp swept by the next run there


def test_check_output_path_not_writable_message(tmp_path, monkeypatch):
    # Same check as above, reachable as root too: os.access is what the code consults.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(UsageError) as err:
        check_output_path(tmp_path / "x.gif")
    assert str(err.value) == f"{tmp_path / 'x.gif'}: directory '{tmp_path}' is not writable"


def test_a_directory_that_takes_no_new_files_is_not_called_missing(tmp_path, monkeypatch):
    """The auditor's case: `-o /proc/x.png` said "cannot write in directory '/proc' (no such file or directory)"."""
    import interp_cli.output_paths as paths_module

    def no_new_files(target, *args, **kwargs):  # what making a file in /proc answers, even to root
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.fspath(target))

    monkeypatch.setattr(paths_module, "claim_temp", no_new_files)
    with pytest.raises(UsageError) as err:
        check_output_path(tmp_path / "x.png")
    assert str(err.value) == (f"{tmp_path / 'x.png'}: cannot create files in directory '{tmp_path}': its file system "
                              f"takes no new files (making one there said 'no such file or directory', though the "
                              f"directory exists)")


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/proc/self"), reason="needs root (others are refused "
                    "earlier, by the permission check) and /proc")
def test_proc_as_root_is_a_directory_that_takes_no_new_files():
    with pytest.raises(UsageError, match=r"^/proc/x\.png: cannot create files in directory '/proc': its file system "
                                         r"takes no new files"):
        check_output_path("/proc/x.png")


def test_check_output_path_refuses_to_clobber_foreign_directories(tmp_path):
    target = tmp_path / "shots"
    target.mkdir()
    (target / "frame_0000.png").write_bytes(b"old")
    check_output_path(target)  # only our own frames: replaceable
    (target / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(UsageError, match="holiday.jpg"):
        check_output_path(target)
    plain = tmp_path / "plainfile"
    plain.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        check_output_path(plain)


def test_single_image_paths_are_not_animations(tmp_path):
    with pytest.raises(UsageError, match=r"unsupported output type '\.png' \(frames are written as \.mp4"):
        open_writer(tmp_path / "x.png")


def test_bad_fps_and_quality(tmp_path):
    for bad in (0, -1, float("nan"), "30"):
        with pytest.raises(UsageError, match="fps"):
            open_writer(tmp_path / "x.mp4", fps=bad)
    for bad in (-1, 11, "8", True):
        with pytest.raises(UsageError, match="quality"):
            open_writer(tmp_path / "x.mp4", quality=bad)
    assert os.listdir(tmp_path) == []


def test_a_python_callers_writer_has_the_commands_defaults(tmp_path):
    """`open_writer(path)` with no fps or quality writes as `interp a b -o out.mp4` does: 30 fps, quality 8 (CRF 18)."""
    given = {param.name: param.default for param in cli.commands["morph"].params}
    with open_writer(tmp_path / "out.mp4") as writer:
        assert (writer.fps, writer.crf) == (given["fps"], quality_to_crf(given["quality"])) == (30, 18)
        writer.abort()


def test_quality_to_crf_scale():
    assert [quality_to_crf(q) for q in (0, 5, 8, 10)] == [34, 24, 18, 14]


# --- MP4 -------------------------------------------------------------------------------------


def test_mp4_round_trip(tmp_path):
    frames = _frames(24)
    path = tmp_path / "out.mp4"
    with open_writer(path, fps=24, quality=8) as w:
        for f in frames:
            w.write(f)
    assert w.frames_written == 24
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]
    meta, decoded = _decode_mp4(path)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["fps"] == 24 and meta["size"] == (64, 48)
    assert meta["duration"] == pytest.approx(1.0, abs=0.05)
    assert len(decoded) == 24
    errors = [np.abs(d.astype(int) - f.astype(int)).mean() for d, f in zip(decoded, frames)]
    assert max(errors) < 4, errors
    # Frames stay in order: each decoded frame is closest to its own source.
    for i, d in enumerate(decoded):
        assert i == int(np.argmin([np.abs(d.astype(int) - f.astype(int)).mean() for f in frames]))
    boxes = _top_level_boxes(path)
    assert boxes.index(b"moov") < boxes.index(b"mdat")  # +faststart: index first, streams in browsers


def _mp4_times(path) -> list[tuple[bytes, int, int]]:
    """(box, creation time, modification time) of each mvhd, tkhd and mdhd box in the MP4's moov."""
    data, found = path.read_bytes(), []

    def walk(pos: int, end: int) -> None:
        while pos + 8 <= end:
            size, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if size < 8:
                return
            if kind in (b"moov", b"trak", b"mdia"):
                walk(pos + 8, pos + size)
            elif kind in (b"mvhd", b"tkhd", b"mdhd"):
                version = data[pos + 8]
                fmt, length = (">II", 8) if version == 0 else (">QQ", 16)
                found.append((kind, *struct.unpack(fmt, data[pos + 12:pos + 12 + length])))
            pos += size

    walk(0, len(data))
    return found


def test_the_same_frames_give_the_same_bytes_whenever_and_wherever_written(tmp_path):
    """What a Makefile, a requeued job or a script comparing outputs relies on: the same frames written a second
    later, into another folder (under other temporary names), give the same bytes in every kind. An MP4 holds no
    date (ffmpeg stamps mvhd/tkhd/mdhd only when asked to: -metadata creation_time), a page or PNG none either."""
    import time

    frames = _frames(6)
    kinds = ("m.mp4", "m.gif", "m.html", "frames/")
    for i, folder in enumerate((tmp_path / "one", tmp_path / "two" / "deeper")):
        if i:
            time.sleep(1.1)  # across a second's boundary, where a stamped time would change
        for name in kinds:
            with open_writer(folder / name, fps=12) as w:
                for frame in frames:
                    w.write(frame)
    first = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "two" / "deeper"): p.read_bytes()
              for p in (tmp_path / "two" / "deeper").rglob("*") if p.is_file()}
    assert len(first) == 3 + len(frames) and sorted(first) == sorted(second)
    assert [str(name) for name in sorted(first) if first[name] != second[name]] == []
    times = _mp4_times(tmp_path / "one" / "m.mp4")
    assert sorted(kind for kind, _, _ in times) == [b"mdhd", b"mvhd", b"tkhd"]
    assert all(created == modified == 0 for _, created, modified in times), times


# Saturated colours, where the BT.601 and BT.709 matrices disagree most (pure green by 38 levels), and skin.
PATCHES = [(230, 30, 30), (30, 200, 40), (40, 40, 220), (40, 210, 210), (220, 40, 200), (230, 220, 40),
           (224, 172, 140), (120, 80, 60), (128, 128, 128), (250, 250, 250), (20, 20, 20), (255, 0, 0),
           (0, 255, 0), (0, 0, 255), (200, 120, 60), (90, 140, 200)]


def _patch_frame(size: int) -> np.ndarray:
    """A size x size frame of 4 x 4 flat patches, PATCHES in reading order."""
    cell = size // 4
    return np.kron(np.array(PATCHES, np.uint8).reshape(4, 4, 3), np.ones((cell, cell, 1), np.uint8))


def _patch_means(image: np.ndarray) -> np.ndarray:
    """Each patch's mean colour, [16, 3] float, over its middle half (away from chroma-subsampled edges)."""
    cell = image.shape[0] // 4
    inner = slice(cell // 4, cell - cell // 4)
    return np.array([image[y * cell:(y + 1) * cell][inner, x * cell:(x + 1) * cell][:, inner].reshape(-1, 3).mean(0)
                     for y in range(4) for x in range(4)])


def _write_patches(path, size: int) -> np.ndarray:
    frame = _patch_frame(size)
    with open_writer(path, fps=10) as w:
        for _ in range(3):
            w.write(frame)
    return frame


def test_mp4_is_bt709_limited_range_and_tagged_so(tmp_path):
    """What a player needs to turn the pixels back into the frame's colours: the stream says BT.709 (matrix,
    primaries, transfer) and limited range, and its Y'CbCr values are the frame's under that matrix."""
    path = tmp_path / "p.mp4"
    frame = _write_patches(path, 64)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    probe = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    stream = next(line for line in probe.splitlines() if "Video:" in line)
    assert "yuv420p(tv, bt709" in stream, stream  # ffmpeg prints one "bt709" when all three tags say it
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    luma = np.frombuffer(raw[:64 * 64], np.uint8).reshape(64, 64).astype(np.float64)
    cb, cr = (np.frombuffer(raw[64 * 64 + i * 32 * 32:][:32 * 32], np.uint8).reshape(32, 32).repeat(2, 0).repeat(2, 1)
              for i in (0, 1))
    # BT.709, limited range: Y' in 16..235, Cb and Cr in 16..240
    y, u, v = (luma - 16) / 219, (cb - 128.0) / 224, (cr - 128.0) / 224
    red, blue = y + 1.5748 * v, y + 1.8556 * u
    green = (y - 0.2126 * red - 0.0722 * blue) / 0.7152
    decoded = np.clip(np.stack([red, green, blue], -1) * 255, 0, 255)
    error = np.abs(_patch_means(decoded) - _patch_means(frame))
    assert error.max() < 3, error.max()


def test_a_browser_plays_the_mp4_in_the_frames_colours(browser, tmp_path):
    """Chromium, drawing the video into a canvas, shows the colours of the frames written: at 1024 px, the
    generator's size, an untagged stream was taken for BT.709 while it held BT.601 (green 255 came out 217)."""
    path = tmp_path / "p.mp4"
    frame = _write_patches(path, 1024)
    shown = drawn(browser, path.read_bytes(), "video/mp4").astype(np.float64)
    error = np.abs(_patch_means(shown) - _patch_means(frame))
    # Chromium's software decoder converts BT.709 with rounded coefficients: blue lands up to 12 levels low
    # (its red and green, and an exact BT.709 decode, are within 2). Written as BT.601, it was off by 38.
    assert error[:, :2].max() < 4 and error.max() < 14 and error.mean() < 2.5, (error.max(), error.mean())


def _frame_durations(path) -> list[Fraction]:
    """Each frame's duration in seconds as the MP4 stores it (its stream's time base times each packet's
    duration), read by ffmpeg without decoding: what ffprobe's r_frame_rate and an editor derive the rate from."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    lines = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-c", "copy", "-f", "framecrc", "-"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    base = Fraction(next(line for line in lines if line.startswith("#tb 0:")).split(":")[1].strip())
    return [base * int(line.split(",")[3]) for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("typed, rate", [(23.976, Fraction(24000, 1001)), (23.98, Fraction(24000, 1001)),
                                         (29.97, Fraction(30000, 1001)), (59.94, Fraction(60000, 1001)),
                                         (119.88, Fraction(120000, 1001)), (239.76, Fraction(240000, 1001)),
                                         (12.5, Fraction(25, 2)), (30, Fraction(30))])
def test_mp4_stores_the_ntsc_rate_that_23_976_and_its_kin_name(tmp_path, typed, rate):
    """--fps 23.976 was stored as 2997/125 (ffmpeg: "11988 tbn"), not the 24000/1001 every editor means by it;
    119.88 and 239.76 as 120 and 240."""
    path = tmp_path / "ntsc.mp4"
    with open_writer(path, fps=typed) as w:
        for f in _frames(5, 16, 16):
            w.write(f)
    assert _frame_durations(path) == [1 / rate] * 5


@pytest.mark.parametrize("fps", [0.1, 0.5, 1, 49, 240])
def test_mp4_and_gif_last_frames_over_fps_at_the_rates_extremes(tmp_path, fps):
    """Seven frames, some held (repeated), last 7 / fps in the MP4's stream and in the GIF's delays (whole
    centiseconds, within half of one)."""
    frames = _frames(4, 8, 8)
    frames = [frames[0], frames[0], frames[1], frames[2], frames[2], frames[2], frames[3]]
    for name in ("t.mp4", "t.gif"):
        with open_writer(tmp_path / name, fps=fps) as w:
            for f in frames:
                w.write(f)
    assert sum(_frame_durations(tmp_path / "t.mp4")) == Fraction(7) / Fraction(str(fps))
    if fps <= 50:  # above, the writer raises delays to 2 cs (browsers slow shorter ones): a morph asks for 50 fps
        assert abs(sum(_gif_frames(tmp_path / "t.gif")[2]) - 7000 / fps) <= 5


def test_the_ntsc_rule_takes_only_the_usual_roundings():
    assert frame_rate(47.952) == frame_rate(47.95) == Fraction(48000, 1001)
    assert frame_rate(24000 / 1001) == Fraction(24000, 1001)  # given in full
    # Not the roundings of an NTSC rate (or of a base outside limits.NTSC_BASES): the number itself.
    assert [frame_rate(fps) for fps in (23.97, 23.9, 99.9, 24, 1, 0.5, 0.1)] == \
        [Fraction(2397, 100), Fraction(239, 10), Fraction(999, 10), 24, 1, Fraction(1, 2), Fraction(1, 10)]


def test_gif_and_page_time_an_ntsc_rate_as_the_mp4_does(tmp_path):
    """120 frames at 24000/1001 fps last 500.5 cs: the delays add up to 500 (half to even, as Python rounds),
    where the float 23.976 made them 501; the page's player runs at the MP4's rate."""
    with open_writer(tmp_path / "n.gif", fps=23.976) as w:
        for f in _frames(120, 8, 8):
            w.write(f)
    durations = _gif_frames(tmp_path / "n.gif")[2]
    assert len(durations) == 120 and sum(durations) == 5000
    with open_writer(tmp_path / "n.html", fps=29.97) as w:
        for f in _frames(3, 8, 8):
            w.write(f)
    text = (tmp_path / "n.html").read_text(encoding="utf-8")
    assert f'var MORPH = {{"fps": {30000 / 1001!r}, ' in text and "8\u00d78 \u00b7 29.97 fps" in text


def test_mp4_odd_size_is_padded_to_even_by_edge_replication(tmp_path):
    frames = _frames(6, height=49, width=65)
    path = tmp_path / "odd.mp4"
    with open_writer(path, fps=12.5) as w:
        for f in frames:
            w.write(f)
    meta, decoded = _decode_mp4(path)
    assert meta["size"] == (66, 50) and len(decoded) == 6
    assert meta["fps"] == 12.5
    for d, f in zip(decoded, frames):
        assert np.abs(d[:49, :65].astype(int) - f).mean() < 4
        # The extra column/row repeat the edge (allowing for chroma subsampling blur).
        assert np.abs(d[:49, 65].astype(int) - f[:, 64]).mean() < 8
        assert np.abs(d[49, :65].astype(int) - f[48, :]).mean() < 8


def test_an_odd_size_for_an_mp4_is_refused_before_any_work_and_kept_by_the_other_outputs(tmp_path):
    """--size 101 -o m.mp4 wrote a 102x102 video, silently: H.264 as browsers play it cannot be 101 px. Now
    exit 2 at once, naming the even sizes beside it, which work; a GIF keeps 101; a batch with an .mp4 row
    is refused before any row, naming the manifest's line."""
    odd = run_cli(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 2, "--size", 101, "-o", tmp_path / "m.mp4")
    assert odd.exit_code == 2 and not (tmp_path / "m.mp4").exists()
    assert odd.stderr.strip() == ("interp: error: --size 101: an MP4 needs even sides (H.264, as browsers and "
                                  "QuickTime play it, keeps colour per 2x2 pixels); use --size 100 or --size 102, or "
                                  "write a .gif, .html or frames/, which keep 101 px")
    for size in (100, 102):  # what the message offers
        done = run_cli(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 2, "--size", size, "-o", tmp_path / "m.mp4",
                       "--json")
        assert done.exit_code == 0, done.stderr
        assert _decode_mp4(tmp_path / "m.mp4")[0]["size"] == (size, size)
        assert (json.loads(done.stdout)["width"], json.loads(done.stdout)["height"]) == (size, size)
    gif = run_cli(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 2, "--size", 101, "-o", tmp_path / "m.gif")
    assert gif.exit_code == 0 and Image.open(tmp_path / "m.gif").size == (101, 101)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{DEMO_A},{DEMO_B},a.gif\n{DEMO_B},{DEMO_A},b.mp4\n")
    batch = run_cli("batch", manifest, "--outdir", tmp_path / "out", "--weights", "demo", "--size", 101)
    assert batch.exit_code == 2 and not (tmp_path / "out").exists()
    assert batch.stderr.strip().startswith(f"interp: error: {manifest}:2: b.mp4: --size 101: an MP4 needs even sides")


def test_mp4_quality_changes_file_size(tmp_path):
    rng = np.random.default_rng(1)
    noisy = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    sizes = {}
    for q in (2, 10):
        with open_writer(tmp_path / f"q{q}.mp4", quality=q) as w:
            for f in noisy:
                w.write(f)
        sizes[q] = (tmp_path / f"q{q}.mp4").stat().st_size
    assert sizes[10] > 2 * sizes[2]


def test_mp4_encoder_failure_is_an_interp_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: "/bin/false")
    target = tmp_path / "broken.mp4"
    target.write_bytes(b"old")
    with pytest.raises(InterpError, match="broken.mp4: ffmpeg"):
        with open_writer(target) as w:
            frame = _frames(1, 256, 256)[0]  # 196 KB, more than a pipe buffer
            for _ in range(3):
                w.write(frame)
    assert os.listdir(tmp_path) == ["broken.mp4"] and target.read_bytes() == b"old"


def test_mp4_memory_does_not_grow_with_frame_count(tmp_path):
    frame = _frames(1, 256, 256)[0]

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            with open_writer(tmp_path / f"m{n}.mp4", fps=30, quality=0) as w:
                for _ in range(n):
                    w.write(frame)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(10), peak(100)
    # Keeping the 90 extra frames would cost 90 * 196 KB = 17.7 MB.
    assert large - small < 1_000_000, (small, large)


# --- GIF -------------------------------------------------------------------------------------


def test_gif_frames_loop_and_duration(tmp_path):
    frames = _frames(10)
    path = tmp_path / "out.gif"
    with open_writer(path, fps=25) as w:
        for f in frames:
            w.write(f)
    im, decoded, durations = _gif_frames(path)
    assert im.n_frames == 10 and im.size == (64, 48)
    assert im.info["loop"] == 0  # forever
    assert durations == [40] * 10
    for d, f in zip(decoded, frames):
        assert np.abs(d.astype(int) - f).mean() < 3


def test_gif_total_duration_is_right_when_delay_is_fractional(tmp_path):
    path = tmp_path / "thirty.gif"
    with open_writer(path, fps=30) as w:
        for f in _frames(30, 8, 8):
            w.write(f)
    _, _, durations = _gif_frames(path)
    assert len(durations) == 30 and sum(durations) == 1000  # 1 s, in 30/40 ms steps
    assert set(durations) == {30, 40}


def test_gif_each_frame_gets_its_own_palette(tmp_path):
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((16, 16, 3), np.uint8)
    blue[..., 2] = 180
    blue[8:, :, 1] = 90
    path = tmp_path / "pal.gif"
    with open_writer(path, fps=10) as w:
        w.write(red)
        w.write(blue)
    _, decoded, durations = _gif_frames(path)
    assert np.array_equal(decoded[0], red) and np.array_equal(decoded[1], blue)
    assert durations == [100, 100]


_PATCH = np.zeros((96, 96), bool)
_PATCH[10:26, 10:26] = _PATCH[70:86, 60:76] = True


def _patch_gif(path) -> list[np.ndarray]:
    """A --paste morph in small: a photo that stays, two patches that change colour (far apart, so the
    rectangle around them holds unchanged pixels too), then a held frame. Written to `path` at 10 fps;
    returns the frames."""
    background = np.tile(np.linspace(0, 255, 96).astype(np.uint8)[None, :, None], (96, 1, 3))
    background[..., 1] = background[..., 1][::-1].T  # a smooth image of far more than 256 colours
    frames = []
    for i in range(6):
        frame = background.copy()
        frame[_PATCH] = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)][i]
        frames.append(frame)
    frames.append(frames[-1].copy())  # a held frame: nothing changes
    with open_writer(path, fps=10) as w:
        for f in frames:
            w.write(f)
    return frames




def _recoloured_gif(path, background: np.ndarray, where: np.ndarray, colours: list) -> list[np.ndarray]:
    """A GIF at 10 fps of `background` with the pixels `where` in each of `colours` in turn; returns the frames."""
    frames = []
    for colour in colours:
        frame = background.copy()
        frame[where] = colour
        frames.append(frame)
    with open_writer(path, fps=10) as w:
        for frame in frames:
            w.write(frame)
    return frames


def _assert_unchanged_pixels_stay(shown: list[np.ndarray], frames: list[np.ndarray]) -> None:
    assert len(shown) == len(frames)
    for on_screen, frame in zip(shown[1:], frames[1:]):
        assert np.array_equal(on_screen[~_PATCH], shown[0][~_PATCH])  # as first drawn
        assert np.array_equal(on_screen[_PATCH], frame[_PATCH])  # the patch itself: one colour, exact


def test_gif_pixels_that_do_not_change_stay_put_on_screen_and_are_not_stored_again(tmp_path):
    # Each frame re-quantised the whole photo with its own palette, so pixels that did not change flickered
    # on screen, and were stored again every frame.
    path = tmp_path / "patch.gif"
    frames = _patch_gif(path)
    _, decoded, durations = _gif_frames(path)
    assert durations == [100] * 7
    _assert_unchanged_pixels_stay(decoded, frames)
    first = tmp_path / "first.gif"
    with open_writer(first, fps=10) as w:
        w.write(frames[0])
    assert path.stat().st_size < first.stat().st_size + 6 * 300  # each later frame: its two patches only


def test_a_gif_draws_a_change_in_one_colour_channel_alone(tmp_path):
    """A patch whose red, then blue, then green alone changes: each frame shows the patch's own colour, as the frames
    give it, and the rest stays as first drawn. (The patch test above changes at least two channels each time.)"""
    background = np.tile(np.linspace(0, 255, 96).astype(np.uint8)[None, :, None], (96, 1, 3))
    path = tmp_path / "channels.gif"
    frames = _recoloured_gif(path, background, _PATCH, [(0, 0, 0), (200, 0, 0), (200, 0, 200), (200, 200, 200)])
    _assert_unchanged_pixels_stay(_gif_frames(path)[1], frames)


def test_a_gif_whose_frames_hold_and_change_back_decodes_whole_in_ffmpeg(tmp_path):
    """Pillow forgives a damaged image block; ffmpeg (as video tools and stricter viewers) does not: every frame of
    a patch shown, held, and taken away again (a small block of few colours, whose colour table is small) decodes
    there without a word, and shows what Pillow shows."""
    background = np.tile(np.linspace(0, 255, 96).astype(np.uint8)[None, :, None], (96, 1, 3))
    patched = background.copy()
    patched[10:20, 10:20] = (255, 0, 0)
    frames = [background, patched, patched.copy(), background]
    path = tmp_path / "back.gif"
    with open_writer(path, fps=10) as w:
        for frame in frames:
            w.write(frame)
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo",
                           "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, b"")
    decoded = np.frombuffer(done.stdout, np.uint8).reshape(-1, *frames[0].shape)
    assert len(decoded) == len(frames)
    assert all(np.array_equal(d, shown) for d, shown in zip(decoded, _gif_frames(path)[1]))


def test_a_gif_draws_a_change_whose_first_and_last_rows_reach_past_the_rows_between(tmp_path):
    """A diagonal line that changes colour: its top row is changed only at the far left, its bottom row only at
    the far right, so the rectangle redrawn must take its columns from every changed row, the first and the
    last included (the patches above are squares, whose rows all span the same columns)."""
    background = np.tile(np.linspace(0, 255, 64).astype(np.uint8)[None, :, None], (64, 1, 3))
    line = np.zeros((64, 64), bool)
    line[np.arange(10, 41), np.arange(10, 41)] = True
    path = tmp_path / "diagonal.gif"
    frames = _recoloured_gif(path, background, line, [(0, 0, 0), (255, 0, 0), (0, 0, 255), (0, 200, 0)])
    shown = _gif_frames(path)[1]
    for on_screen, frame in zip(shown[1:], frames[1:]):
        assert np.array_equal(on_screen[line], frame[line])  # both ends of the line included
        assert np.array_equal(on_screen[~line], shown[0][~line])


def test_a_gif_change_of_many_colours_around_unchanged_pixels_is_drawn_in_its_own_colours(tmp_path):
    """A grey frame, then one of 4,096 colours but for a grey block that stays: 255 colours are drawn and one
    index is left transparent for the block. Every one of the 255 is in use, so the index drawn transparent must be
    the free one: no changed pixel may show the grey frame before it."""
    y, x = np.mgrid[0:64, 0:64]
    before = np.full((64, 64, 3), 128, np.uint8)
    after = np.stack([x * 4, y * 4, 255 - x * 2], axis=-1).astype(np.uint8)
    after[30:34, 30:34] = 128
    path = tmp_path / "many.gif"
    with open_writer(path, fps=10) as w:
        w.write(before)
        w.write(after)
    shown = _gif_frames(path)[1][1].astype(int)
    assert np.abs(shown - after).max() <= 24  # median cut's error on this gradient: 16 at most


@pytest.mark.parametrize("shape", [(40_000, 1, 3), (1, 40_000, 3)])
def test_a_gif_of_frames_one_pixel_thin_and_past_the_palette_sample_is_written(tmp_path, shape):
    """Frames of more pixels than a palette is chosen from (32,768) are scaled down for it, each side to at least
    one pixel: a strip one pixel wide or high scaled to none could not be quantised."""
    frames = [np.zeros(shape, np.uint8), np.full(shape, 200, np.uint8)]
    with open_writer(tmp_path / "strip.gif", fps=10) as w:
        for frame in frames:
            w.write(frame)
    shown = _gif_frames(tmp_path / "strip.gif")[1]
    assert all(np.array_equal(a, b) for a, b in zip(shown, frames)) and len(shown) == 2


def test_ffmpeg_reads_a_gifs_pixels_as_square(tmp_path):
    """The screen descriptor's aspect byte is 0 (no ratio given): 1 there reads as pixels 1:4 (SAR 16:64), and
    a video made from the GIF by ffmpeg, or a player that honours the byte, shows the morph squeezed."""
    path = tmp_path / "square.gif"
    with open_writer(path, fps=10) as w:
        for frame in _frames(2, 16, 24):
            w.write(frame)
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True, timeout=60)
    stream = [line for line in done.stderr.splitlines() if "Video: gif" in line]
    assert len(stream) == 1 and " 24x16," in stream[0] and "SAR" not in stream[0], done.stderr


def test_a_browser_shows_a_gif_that_stores_only_what_changed_as_its_frames(browser, tmp_path):
    # The frames that redraw a rectangle, or one transparent pixel, as Chromium composes them for display.
    path = tmp_path / "patch.gif"
    frames = _patch_gif(path)
    shown = gif_frames(browser, path.read_bytes(), tmp_path)
    assert [ms for _, ms in shown] == [100] * 7
    _assert_unchanged_pixels_stay([pixels for pixels, _ in shown], frames)
    assert np.array_equal(shown[0][0], _gif_frames(path)[1][0])  # the first frame, whole, as Pillow reads it


def test_gif_memory_does_not_grow_with_frame_count(tmp_path):
    frame = _frames(1, 128, 128)[0]

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            with open_writer(tmp_path / f"m{n}.gif") as w:
                for _ in range(n):
                    w.write(frame)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(5), peak(50)
    assert large - small < 500_000, (small, large)  # 45 kept frames would be >= 737 KB even quantised


# --- frames directory ----------------------------------------------------------------------------


def test_frames_directory(tmp_path):
    frames = _frames(12)
    target = tmp_path / "frames"
    with open_writer(str(target) + "/") as w:
        for f in frames:
            w.write(f)
    names = sorted(os.listdir(target))
    assert names == [f"frame_{i:04d}.png" for i in range(12)]
    for name, f in zip(names, frames):
        assert np.array_equal(np.asarray(Image.open(target / name)), f)
    assert sorted(os.listdir(tmp_path)) == ["frames"]


def test_frames_padding_follows_expected_count_and_widens_if_outgrown(tmp_path):
    for expected, name in ((12_345, "frame_00000.png"), (10_001, "frame_00000.png"), (10_000, "frame_0000.png")):
        with open_writer(tmp_path / "many", expected_frames=expected) as w:  # 10,000 frames: 0000 to 9999
            w.write(_frames(1, 4, 4)[0])
        assert os.listdir(tmp_path / "many") == [name], expected
    # 10 frames, 0 to 9, fit one digit as 10,000 fit four; 11 are the first that need two, as 10,001 need five.
    for count, digits in ((12, 2), (11, 2), (10, 1)):
        writer = FramesWriter(tmp_path / f"grow{count}")
        writer.digits = 1  # stand-in for running past 9999 frames without writing 10000 files
        with writer:
            for f in _frames(count, 4, 4):
                writer.write(f)
        assert sorted(os.listdir(tmp_path / f"grow{count}")) == [f"frame_{i:0{digits}d}.png" for i in range(count)]


def test_frames_directory_replaces_previous_frames_only_on_success(tmp_path):
    target = tmp_path / "frames"
    target.mkdir()
    for i in range(5):
        (target / f"frame_{i:04d}.png").write_bytes(b"old %d" % i)
    with pytest.raises(RuntimeError):
        with open_writer(target) as w:
            w.write(_frames(1)[0])
            raise RuntimeError("render failed")
    assert sorted(os.listdir(tmp_path)) == ["frames"]
    assert (target / "frame_0004.png").read_bytes() == b"old 4"
    with open_writer(target) as w:
        for f in _frames(3):
            w.write(f)
    assert sorted(os.listdir(target)) == [f"frame_{i:04d}.png" for i in range(3)]
    assert sorted(os.listdir(tmp_path)) == ["frames"]


def test_a_stop_as_the_old_frames_are_moved_aside_loses_no_frames(tmp_path):
    """A SIGTERM (here a Python caller's handler raising its own exception) landing as the old frames folder had
    been renamed aside for the new one: the writer took the rename for failed and removed the folder it had moved
    the old frames to, then dropped the new ones, so the stop lost both. Now the swap runs whole and the stop is
    acted on after it: the folder holds the new frames, whole, and nothing is left beside it (a real SIGTERM,
    landing as the rename returns)."""
    from tests.races import Stopped, stop_inside

    target = tmp_path / "frames"
    target.mkdir()
    for i in range(5):
        (target / f"frame_{i:04d}.png").write_bytes(b"old %d" % i)
    with stop_inside(os, "rename", lambda source, *args, **kwargs: Path(source) == target), \
            pytest.raises(Stopped):
        with open_writer(target) as w:
            for f in _frames(3):
                w.write(f)
    assert sorted(os.listdir(tmp_path)) == ["frames"]
    assert sorted(os.listdir(target)) == [f"frame_{i:04d}.png" for i in range(3)]
    for i, f in enumerate(_frames(3)):
        assert np.array_equal(np.asarray(Image.open(target / f"frame_{i:04d}.png")), f)


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "out.html", "frames"])
def test_a_stop_as_a_writer_makes_its_temp_leaves_none_while_the_caller_goes_on(tmp_path, name):
    """A Python caller's SIGTERM handler raising its own exception as a writer's temp had been made, before the
    writer had its name in hand (a real SIGTERM, landing as `new_temp` returns): the hidden temp stayed beside the
    output, locked, for as long as the caller's process lived (only its exit settled it). Now it goes with the
    stop."""
    from interp_cli import gif, page, write
    from tests.races import Stopped, stop_inside

    with stop_inside({".html": page, ".gif": gif}.get(Path(name).suffix, write), "new_temp"), pytest.raises(Stopped):
        open_writer(tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_a_stop_as_an_outputs_folder_is_probed_leaves_no_probe(tmp_path):
    """Landing as the temp that tells whether an output's folder takes new files had been made (before it was
    removed again): the probe stayed there, locked, while the caller's process lived. Now it goes with the stop."""
    from interp_cli import output_paths
    from tests.races import Stopped, stop_inside

    with stop_inside(output_paths, "claim_temp"), pytest.raises(Stopped):
        open_writer(tmp_path / "out.gif")
    assert os.listdir(tmp_path) == []


# --- atomicity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "out.html"])
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_midway_leaves_existing_file_intact_and_no_temp(tmp_path, name, exc):
    target = tmp_path / name
    target.write_bytes(b"precious old output")
    with pytest.raises(exc):
        with open_writer(target) as w:
            for f in _frames(3):
                w.write(f)
            assert len(os.listdir(tmp_path)) == 2  # the temp file is a sibling while writing
            raise exc()
    assert os.listdir(tmp_path) == [name]
    assert target.read_bytes() == b"precious old output"


@pytest.mark.parametrize("name", ["new.mp4", "new.gif", "new.html", "newframes"])
def test_failure_without_existing_target_leaves_nothing(tmp_path, name):
    with pytest.raises(ValueError, match="expected 64x48"):
        with open_writer(tmp_path / name) as w:
            w.write(_frames(1)[0])
            w.write(np.zeros((10, 10, 3), np.uint8))  # wrong size: a bug upstream
    assert os.listdir(tmp_path) == []


def test_temp_name_is_a_hidden_sibling_keeping_the_suffix(tmp_path):
    with open_writer(tmp_path / "clip.mp4") as w:
        w.write(_frames(1)[0])
        (tmp_name,) = os.listdir(tmp_path)
        assert tmp_name.startswith(".clip.tmp-") and tmp_name.endswith(".mp4")
    assert os.listdir(tmp_path) == ["clip.mp4"]


def test_explicit_abort_and_empty_close(tmp_path):
    w = open_writer(tmp_path / "a.mp4")
    w.write(_frames(1)[0])
    w.abort()
    assert os.listdir(tmp_path) == []
    with pytest.raises(InterpError, match="no frames"):
        open_writer(tmp_path / "b.gif").close()
    assert os.listdir(tmp_path) == []


def test_output_gets_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    with open_writer(tmp_path / "p.gif") as w:
        w.write(_frames(1)[0])
    assert (tmp_path / "p.gif").stat().st_mode & 0o777 == 0o666 & ~umask


# --- single images and the contact sheet --------------------------------------------------------


def test_write_image_png_and_npy(tmp_path):
    frame = _frames(1)[0]
    write_image(tmp_path / "still.png", frame)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "still.png")), frame)
    code = np.random.default_rng(0).standard_normal((18, 512)).astype(np.float32)
    write_image(tmp_path / "code.npy", code)
    loaded = np.load(tmp_path / "code.npy")
    assert loaded.dtype == np.float32 and np.array_equal(loaded, code)
    assert sorted(os.listdir(tmp_path)) == ["code.npy", "still.png"]
    (tmp_path / "keep.png").write_bytes(b"old")
    with pytest.raises(ValueError):
        write_image(tmp_path / "keep.png", code)  # float data is not a PNG
    assert (tmp_path / "keep.png").read_bytes() == b"old"
    with pytest.raises(UsageError, match=r"unsupported output type '\.mp4' \(a single image is written as \.png"):
        write_image(tmp_path / "x.mp4", frame)
    assert sorted(os.listdir(tmp_path)) == ["code.npy", "keep.png", "still.png"]


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "out.html", "frames"])
def test_real_ctrl_c_leaves_no_temp_and_keeps_old_output(tmp_path, name):
    target = tmp_path / name
    if name == "frames":
        target.mkdir()
        (target / "frame_0000.png").write_bytes(b"old")
    else:
        target.write_bytes(b"old")
    script = textwrap.dedent(f"""
        import sys, numpy as np
        from interp_cli.write import open_writer
        frame = np.zeros((64, 64, 3), np.uint8)
        with open_writer({str(target)!r}) as w:
            for i in range(100000):
                w.write(frame)
                if i == 2:
                    print("writing", flush=True)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"writing\n"
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode != 0 and b"KeyboardInterrupt" in err
    assert os.listdir(tmp_path) == [name]
    if name == "frames":
        assert os.listdir(target) == ["frame_0000.png"]
    else:
        assert target.read_bytes() == b"old"


@pytest.mark.parametrize("name", ["same.gif", "same.mp4", "same.html", "same_frames"])
def test_two_writers_of_one_target_both_succeed_and_the_last_wins(tmp_path, name):
    first, second = open_writer(tmp_path / name), open_writer(tmp_path / name)
    for frame in _frames(2):
        first.write(frame)
    for frame in _frames(3):
        second.write(frame)
    first.close()
    second.close()
    assert os.listdir(tmp_path) == [name]  # one output, no temps
    target = tmp_path / name
    if target.is_dir():
        assert sorted(os.listdir(target)) == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    elif name.endswith(".gif"):
        assert Image.open(target).n_frames == 3


@pytest.mark.parametrize("name", ["x" * 250 + ".mp4", "d" * 300 + "/x.gif", "é" * 120 + "/"])
def test_a_name_too_long_for_the_file_system_is_refused_before_any_work(tmp_path, name):
    with pytest.raises(UsageError, match="bytes; the most this file system allows here is"):
        check_output_path(tmp_path / name)


@pytest.mark.parametrize("text", ["x", "x.gif", ".gif", "x.", "a/b.c/d", "a/b.c/d.e", "x/.", "x.y/.", "..", "a/..",
                                  "a.b/..", "...", "a..", ".a.b", "a/./b.c", "b.c/", "/", "", ".", "a/b.gif/.",
                                  "\u00e9.gif", "x .gif", "a.b.", "./x.y", "a.b//"])
def test_a_names_file_type_is_judged_as_path_suffix_judges_it(text):
    """`missing_file_type` asks it of every batch row without building a Path: the same answer as Path's."""
    from interp_cli.output_paths import _has_suffix

    assert _has_suffix(text) is bool(Path(text).suffix)


@pytest.mark.parametrize("name, width, keeps", [("wide.html", 65501, "a .gif or frames/"),
                                                ("wide.gif", 65536, "frames/")])
def test_frames_wider_than_the_format_holds_are_refused_in_one_line_naming_what_keeps_them(tmp_path, capfd, name,
                                                                                          width, keeps):
    """A page's frames are JPEGs (65,500 px a side): one wider failed as "broken data stream when writing image
    file", with libjpeg's own line on stderr. A GIF's sides are 16-bit. Refused at the first frame, nothing
    written."""
    with pytest.raises(UsageError) as err:
        with open_writer(tmp_path / name) as writer:
            writer.write(np.zeros((4, width, 3), np.uint8))
    assert str(err.value) == (f"{tmp_path / name}: frames of {width}x4 are too large for "
                              f"{'a GIF' if name.endswith('.gif') else 'an .html page (its frames are JPEGs)'}: its "
                              f"frames are at most {width - 1} px a side; write {keeps}, which keep {width}x4")
    assert not list(tmp_path.iterdir())
    assert capfd.readouterr().err == ""


def test_an_mp4_with_no_ffmpeg_that_runs_is_one_line_naming_it_and_the_outputs_that_need_none(tmp_path):
    """imageio-ffmpeg installed without a binary that runs here (no wheel for the machine, a noexec mount, a lost
    mode bit) and no ffmpeg on PATH: its RuntimeError came out as "internal error". Now one line naming the output
    and what works: an ffmpeg, IMAGEIO_FFMPEG_EXE, or a GIF or PNG frames, which the same command then writes."""
    installed = Path(imageio_ffmpeg.__file__).parent
    hidden = tmp_path / "site"
    shutil.copytree(installed, hidden / "imageio_ffmpeg", ignore=shutil.ignore_patterns("__pycache__"))
    for binary in (hidden / "imageio_ffmpeg" / "binaries").iterdir():
        binary.chmod(0o644)  # there, but it cannot run
    bare = tmp_path / "bin"  # PATH with no ffmpeg on it
    bare.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERP_", "HF_", "IMAGEIO_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(hidden), str(ROOT)]), PATH=str(bare), HF_HUB_OFFLINE="1",
               INTERP_CACHE_DIR=str(tmp_path / ".cache"), PYTHONDONTWRITEBYTECODE="1")
    work = tmp_path / "work"
    work.mkdir()
    (work / "m.mp4").write_bytes(b"older")

    def interp(*args):
        return subprocess.run([sys.executable, "-m", "interp_cli", str(ROOT / "examples" / "demo_a.png"),
                               str(ROOT / "examples" / "demo_b.png"), "--weights", "demo", "--steps", "2", "-q",
                               *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    done = interp("-o", "m.mp4")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    line = done.stderr
    assert line.startswith("interp: error: m.mp4: no ffmpeg that runs here") and "IMAGEIO_FFMPEG_EXE" in line, line
    assert "Traceback" not in line and "internal error" not in line
    assert sorted(os.listdir(work)) == ["m.mp4"] and (work / "m.mp4").read_bytes() == b"older"
    assert "write m.gif or PNG frames to m/ instead" in line, line
    for advised in ("m.gif", "m/"):  # what the line offers works in that same environment
        assert interp("-o", advised).returncode == 0
    assert (work / "m.gif").is_file() and sorted(os.listdir(work / "m")) == ["frame_0000.png", "frame_0001.png"]


def _open_files_limit(soft: int, hard: int | None = None):
    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, soft if hard is None else hard))
    return limit


@pytest.mark.parametrize("soft, hard", [(6, None), (8, None), (8, 4096)])
def test_a_descriptor_limit_too_low_for_ffmpeg_is_said_with_the_limit_and_how_to_raise_it(tmp_path, soft, hard):
    """Under a real `ulimit -n 6`, imageio-ffmpeg's probe of its binary fails for want of descriptors and the MP4 was
    refused as "no ffmpeg that runs here ... install ffmpeg", sending the user after a program that was there; at
    8, "cannot start ffmpeg (Too many open files)" named no limit. Now: the limit, and the `ulimit -n` that raises it
    (a hard limit as low, which that shell cannot raise, said too), exit 1 as for a full disk, nothing left."""
    out = tmp_path / "m.mp4"
    done = subprocess.run([sys.executable, "-m", "interp_cli", os.path.join(EXAMPLES, "demo_a.png"),
                           os.path.join(EXAMPLES, "demo_b.png"), "--weights", "demo", "--steps", "3", "--size", "64",
                           "--no-cache", "-o", str(out), "--json"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)),
                          preexec_fn=_open_files_limit(soft, hard))
    line, = done.stderr.splitlines()[-1:]
    said = (f"{out}: too many open files: this process may have only {soft} open at once (ulimit -n is {soft}); "
            "raise it: `ulimit -n 1024` in the shell that runs interp")
    if hard is None:
        said += f" (its hard limit, `ulimit -Hn`, is {soft}: run from a new shell, or ask for more)"
    assert (done.returncode, line) == (1, f"interp: error: {said}"), done.stderr
    assert json.loads(done.stdout) == {"error": said, "exit_code": 1, "path": str(out), "warnings": []}
    assert sorted(os.listdir(tmp_path)) == []


_CALLER_UNDER_A_DESCRIPTOR_LIMIT = """
import os, resource, sys
import interp_cli
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[4]), 4096))
held = []
while sys.argv[5] == "filled":  # the caller's own files (a service's sockets), up to its limit but a few
    try:
        held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        break
for fd in held[-5:]:
    os.close(fd)
args = dict(weights="demo", steps=3, size=64, cache=False)
try:
    interp_cli.morph(sys.argv[1:3], sys.argv[3], **args)
except interp_cli.InterpError as err:
    print(err)
    exec(str(err).split("raise it: ", 1)[1])  # the advice, as a Python caller would run it
interp_cli.morph(sys.argv[1:3], sys.argv[3], **args)
print("written")
"""


@pytest.mark.parametrize("soft, files, advised", [(8, "none", 1024), (1024, "filled", 2048)])
def test_a_python_caller_over_its_descriptor_limit_is_told_a_call_that_raises_it(tmp_path, soft, files, advised):
    """The same limit told to a Python caller in Python's words (`resource.setrlimit`, not the shell's ulimit): the
    advice, run as given, lets the same call write the MP4. A caller whose own files filled a limit of 1024 (the
    usual default) was told to set it to 1024, which changed nothing: the same call failed again. Now the advice
    is 1024 below that, twice the limit from there."""
    out = tmp_path / "m.mp4"
    done = subprocess.run([sys.executable, "-c", _CALLER_UNDER_A_DESCRIPTOR_LIMIT, os.path.join(EXAMPLES, "demo_a.png"),
                           os.path.join(EXAMPLES, "demo_b.png"), str(out), str(soft), files], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)))
    told, written = done.stdout.splitlines()
    assert told == (f"{out}: too many open files: this process may have only {soft} open at once (its "
                    f"RLIMIT_NOFILE); raise it: resource.setrlimit(resource.RLIMIT_NOFILE, ({advised}, "
                    "resource.getrlimit(resource.RLIMIT_NOFILE)[1]))"), done.stderr
    assert written == "written" and out.stat().st_size > 0



# --- what the mutation pass (fifth round) found untested: write.py and frame_writer.py ----------------------------


@pytest.mark.parametrize("size, padded, repeats", [((65, 48), (66, 48), "last column repeats"),
                                                   ((64, 49), (64, 50), "last row repeats"),
                                                   ((65, 49), (66, 50), "last column and row repeat"),
                                                   # an even side that is no multiple of 3 (50) is kept as it is
                                                   ((65, 50), (66, 50), "last column repeats"),
                                                   ((50, 49), (50, 50), "last row repeats")])
def test_the_padding_warning_names_the_odd_side_and_both_sizes(tmp_path, size, padded, repeats):
    """The warning says which edge an MP4 of odd frames repeats and both sizes, each the right way round: a
    --paste photo 300x375 was checked (test_paste), a photo odd in width or in both sides was not."""
    from interp_cli.write import padded_warning

    path = tmp_path / "m.mp4"
    with open_writer(path) as w:
        w.write(_frames(1, height=size[1], width=size[0])[0])
    assert w.written_size == padded == _decode_mp4(path)[0]["size"]
    assert padded_warning(path, size, w.written_size) == (
        f"warning: {path}: written {padded[0]}x{padded[1]}: the frames are {size[0]}x{size[1]} and an MP4 needs even "
        f"sides, so its {repeats} the edge (a .gif, .html or frames/ keep {size[0]}x{size[1]})")


@pytest.mark.parametrize("name", ["twice.mp4", "twice.gif", "twice.html", "twice_frames"])
def test_finish_called_again_or_after_an_abort_changes_nothing(tmp_path, name):
    """`finish()` is once: a Python caller that finishes, then finishes again (or leaves the `with` block, which
    closes) still commits the whole output; a writer aborted stays aborted, finish() and close() quiet, and
    commit() refused, with nothing written. An MP4's second finish had closed its ffmpeg log twice: an
    AttributeError that dropped the finished video."""
    frames = _frames(3)
    writer = open_writer(tmp_path / name)
    for frame in frames:
        writer.write(frame)
    writer.finish()
    writer.finish()
    writer.close()  # finished: close leaves the commit to whoever finished
    assert not (tmp_path / name).exists()
    writer.commit()
    assert (tmp_path / name).exists()
    dropped = open_writer(tmp_path / f"dropped-{name}")
    dropped.write(frames[0])
    dropped.abort()
    dropped.finish()
    dropped.close()
    with pytest.raises(ValueError, match="writer is aborted, not finished"):
        dropped.commit()
    assert sorted(os.listdir(tmp_path)) == [name]


def test_the_advice_for_frames_at_h264s_bounds_names_a_rate_and_size_that_fit():
    """At H.264's largest frame (8192x4352, 139,264 blocks) only the rate can be too high: the advice names the
    fastest --fps that fits (fps=120 from Python) and an even --size that fits, and each fits; one block more and
    no rate fits, so none is named. A frame 16,384 px wide (the widest) at more than its 16,320 fps is too fast,
    not too wide."""
    from interp_cli.frame_writer import frames_too_large

    def resized(width):  # a --paste photo's frames: 2 px of photo for each px of --size
        return 2 * width, width * 17 // 16

    largest = frames_too_large("mp4", "out.mp4", (8192, 4352), 120.01, resized)
    assert largest == ("out.mp4: frames of 8192x4352 are too large for an MP4: H.264 plays at most 16,711,680 "
                       "blocks of 16x16 px a second, 120 frames of this size; use fps=120 or less, or use size=4088 "
                       "or less, or write a .gif, .html or frames/, which keep 8192x4352")
    assert frames_too_large("mp4", "out.mp4", (8192, 4352), 120, resized) is None
    assert frames_too_large("mp4", "out.mp4", resized(4088), 120.01) is None  # even: 4089 is refused for an MP4
    assert frames_too_large("mp4", "out.mp4", resized(4090), 120.01) is not None
    taller = frames_too_large("mp4", "out.mp4", (8192, 4368), 1, resized)
    assert "holds frames of at most 139,264 blocks" in taller and "fps=" not in taller
    widest = frames_too_large("mp4", "out.mp4", (16_384, 16), 16_321)
    assert "plays at most 16,711,680 blocks of 16x16 px a second, 16320 frames" in widest
    assert "use fps=16320 or less" in widest and frames_too_large("mp4", "out.mp4", (16_384, 16), 16_320) is None


@pytest.mark.parametrize("kind, per_px, fits", [("gif", 19, 3449), ("html", 19, 3447), ("mp4", 5, 3276),
                                                 ("gif", 8000, 8)])  # only the smallest --size fits
def test_the_size_advised_for_frames_too_large_is_the_largest_that_fits_and_even_for_an_mp4(kind, per_px, fits):
    """A --paste photo whose frames outgrow a format at every --size up to 4096 is told the largest --size that
    fits: a GIF or page any whole number (3449, not 3448), an MP4 an even one (an odd one is refused for an MP4)."""
    from interp_cli.frame_writer import frames_too_large

    def resized(width):
        return per_px * width, 8

    said = frames_too_large(kind, f"out.{kind}", resized(4096), 10, resized)
    assert f"use size={fits} or less" in said
    assert frames_too_large(kind, f"out.{kind}", resized(fits), 10) is None
    assert frames_too_large(kind, f"out.{kind}", resized(fits + 1), 10) is not None


def test_frames_another_run_moves_in_just_before_ours_are_replaced_by_ours(tmp_path, monkeypatch):
    """Two runs writing the same frames/ folder: the other run's frames land after ours found the place free and
    before ours are renamed there (the other writer commits for real at that moment, as ours is flushed). The
    rename then fails (the folder is not empty), and ours replace theirs as they would have replaced older frames:
    the last to finish wins, whole, with no error and nothing left beside it."""
    import interp_cli.files as files

    target = tmp_path / "frames"
    ours, theirs = open_writer(target), open_writer(target)
    for frame in _frames(3):
        ours.write(frame)
    for frame in _frames(2)[::-1]:
        theirs.write(frame)
    flush = files.fsync_path
    landed = []

    def theirs_land_first(path):
        flush(path)
        if not landed and Path(path) == ours._tmp:
            landed.append(True)
            theirs.close()

    monkeypatch.setattr(files, "fsync_path", theirs_land_first)
    ours.close()
    assert landed and sorted(os.listdir(tmp_path)) == ["frames"]
    assert sorted(os.listdir(target)) == [f"frame_{i:04d}.png" for i in range(3)]
    for i, f in enumerate(_frames(3)):
        assert np.array_equal(np.asarray(Image.open(target / f"frame_{i:04d}.png")), f)


@pytest.mark.parametrize("name", ["thin.gif", "thin.mp4", "thin_frames", "thin.html"])
def test_a_writer_told_its_frames_are_one_pixel_wide_writes_them_and_zero_is_refused(tmp_path, name):
    """`size` given up front (what a Python caller knows before the first frame) may be as small as a frame can be,
    1 px a side; 0 is refused before anything is made."""
    with pytest.raises(ValueError, match=r"size must be positive \(width, height\), got \(0, 3\)"):
        open_writer(tmp_path / name, size=(0, 3))
    assert os.listdir(tmp_path) == []
    frames = [np.full((3, 1, 3), 40 * i, np.uint8) for i in range(2)]
    with open_writer(tmp_path / name, size=(1, 3)) as w:
        for frame in frames:
            w.write(frame)
    assert w.written_size == ((2, 4) if name.endswith(".mp4") else (1, 3))
    if name.endswith(".gif"):
        assert [f.shape for f in _gif_frames(tmp_path / name)[1]] == [(3, 1, 3)] * 2
    elif name.endswith("_frames"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / name / "frame_0001.png")), frames[1])
    assert sorted(os.listdir(tmp_path)) == [name]


@pytest.mark.parametrize("binary", ["missing", "not-executable"])
def test_an_imageio_ffmpeg_exe_that_cannot_start_is_named_with_the_setting_and_the_outputs_that_need_none(
        tmp_path, binary):
    """IMAGEIO_FFMPEG_EXE (set long ago in a shell's profile) naming a file that is gone or cannot run: imageio-ffmpeg
    hands it out unprobed, and the line read "m.mp4: cannot start ffmpeg (No such file or directory)", as if the
    output's folder were missing. Now it names the binary and the setting, and the outputs that need no ffmpeg,
    which the same command then writes; the older m.mp4 is untouched."""
    exe = tmp_path / "tools" / "ffmpeg"
    if binary == "not-executable":
        exe.parent.mkdir()
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o644)
    work = tmp_path / "work"
    work.mkdir()
    (work / "m.mp4").write_bytes(b"older")
    env = dict(os.environ, IMAGEIO_FFMPEG_EXE=str(exe), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT),
               INTERP_CACHE_DIR=str(tmp_path / ".cache"))

    def interp(output):
        return subprocess.run([sys.executable, "-m", "interp_cli", DEMO_A, DEMO_B, "--weights", "demo", "--steps", "2",
                               "-q", "-o", output], cwd=work, env=env, capture_output=True, text=True, timeout=300)

    done = interp("m.mp4")
    why = "No such file or directory" if binary == "missing" else "Permission denied"
    assert done.returncode == 1
    assert done.stderr == (f"interp: error: m.mp4: cannot start ffmpeg {exe} (IMAGEIO_FFMPEG_EXE): {why}; "
                           "write m.gif or PNG frames to m/ instead\n")
    assert sorted(os.listdir(work)) == ["m.mp4"] and (work / "m.mp4").read_bytes() == b"older"
    assert interp("m.gif").returncode == 0 and Image.open(work / "m.gif").n_frames == 2


@pytest.mark.parametrize("name", ["open.mp4", "open.gif", "open.html", "open_frames"])
def test_a_writer_aborted_midway_holds_no_descriptor_while_the_caller_keeps_it(tmp_path, name):
    """A Python caller that drops outputs midway (each cut short, the writer still referenced by its own list or a
    traceback) must not run out of descriptors: abort closes what the writer opened (ffmpeg's pipe, its log), the
    moment it is called, not when the object is collected."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd")
    before = sorted(os.listdir(fds))
    kept = []
    for _ in range(3):
        writer = open_writer(tmp_path / name)
        writer.write(_frames(1)[0])
        writer.abort()
        kept.append(writer)
    assert sorted(os.listdir(fds)) == before
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["bad.mp4", "bad.gif", "bad.html", "bad_frames"])
def test_a_frame_that_is_not_rgb_bytes_or_not_the_first_ones_size_is_refused_and_nothing_is_left(tmp_path, name):
    """A Python caller's frame of floats (a render in 0..1), grey or RGBA, or one of another size than the first,
    is refused in one line saying what was given and what is expected; the writer then drops what it had."""
    first = _frames(1)[0]
    for frame, said in ((first.astype(np.float32) / 255, "frames must be [H, W, 3] uint8, got float32 array of "
                                                         "shape (48, 64, 3)"),
                        (first[..., 0], "frames must be [H, W, 3] uint8, got uint8 array of shape (48, 64)"),
                        (np.dstack([first, first[..., :1]]), "got uint8 array of shape (48, 64, 4)"),
                        (first[:24, :32], "frame 1 is 32x24, expected 64x48")):
        with pytest.raises(ValueError) as caught:
            with open_writer(tmp_path / name) as w:
                w.write(first)
                w.write(frame)
        assert said in str(caught.value)
        assert os.listdir(tmp_path) == []


# --- what the mutation pass (sixth round) found untested: write.py, gif.py -----------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("count", [2, 400])
def test_an_mp4_whose_disk_fills_under_ffmpeg_is_said_as_a_full_disk_and_the_older_video_stays(tmp_path, count):
    """ffmpeg's own write failing with ENOSPC (its temp made /dev/full, a device every write to fails so): ffmpeg
    exits 1, and says "No space left on device" only on its stderr, which is where the one line comes from, as any
    writer's full disk reads. 2 small frames fit the pipe and fail at the finish; 400 fail while being written. The
    older m.mp4 is kept byte for byte, and nothing else is left (an ffmpeg failing at the finish whose exit
    status went unread would have put its temp, here a link to /dev/full, in m.mp4's place)."""
    target = tmp_path / "m.mp4"
    target.write_bytes(b"yesterday's video")
    writer = open_writer(target)
    os.unlink(writer._tmp)
    os.symlink("/dev/full", writer._tmp)
    with pytest.raises(InterpError) as caught:
        with writer:
            for frame in _frames(count, 32, 32):
                writer.write(frame)
    assert str(caught.value) == f"{target}: cannot write: no space left on device; free some space or write elsewhere"
    assert os.listdir(tmp_path) == ["m.mp4"] and target.read_bytes() == b"yesterday's video"


def test_write_image_appends_a_codes_record_only_when_given_one(tmp_path):
    """`interp encode`'s code carries which model made it (`record`), read back by read_npy_record; without one
    the file is np.save's bytes alone, as any .npy reader expects (no `null` record after the data). A grey PNG
    is written as given; a 4-channel frame is refused, the older file kept."""
    from interp_cli.npy import read_npy_record, record_bytes

    code = np.arange(18 * 512, dtype=np.float32).reshape(18, 512)
    saved = io.BytesIO()
    np.save(saved, code, allow_pickle=False)
    write_image(tmp_path / "plain.npy", code)
    assert (tmp_path / "plain.npy").read_bytes() == saved.getvalue()
    assert read_npy_record(tmp_path / "plain.npy")[1] is None
    record = {"weights": "demo", "w_space": "3f2a"}
    write_image(tmp_path / "made.npy", code, record=record)
    assert (tmp_path / "made.npy").read_bytes() == saved.getvalue() + record_bytes(record)
    array, found = read_npy_record(tmp_path / "made.npy")
    assert found == record and np.array_equal(array, code)
    grey = _frames(1)[0][..., 1]
    write_image(tmp_path / "grey.png", grey)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "grey.png")), grey)
    with pytest.raises(ValueError, match=r"got uint8 \(48, 64, 4\)"):
        write_image(tmp_path / "grey.png", np.dstack([_frames(1)[0], grey]))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "grey.png")), grey)


def test_png_frames_are_compressed(tmp_path):
    """frames/ holds zlib-compressed PNGs (fast level 1): a flat 256x256 frame takes well under 2 kB, where PNG's
    stored (level 0) form takes its 196 kB of pixels; a morph's frames/ is many of them."""
    with open_writer(tmp_path / "flat/") as w:
        for _ in range(2):
            w.write(np.full((256, 256, 3), 90, np.uint8))
    sizes = [(tmp_path / "flat" / name).stat().st_size for name in sorted(os.listdir(tmp_path / "flat"))]
    assert len(sizes) == 2 and max(sizes) < 2000, sizes


def test_mp4_bytes_do_not_depend_on_the_cpu_count(tmp_path):
    """x264 picks its thread count from the CPUs the process may use, and its frame threads change the coded
    stream: the same frames gave other bytes on 1 and 2 cores. Real processes, each pinned (sched_setaffinity, which
    ffmpeg inherits and x264 counts) to one CPU or to all of them."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to compare")
    script = textwrap.dedent("""
        import os, sys
        import numpy as np
        from interp_cli.write import open_writer
        os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[2].split(",")})
        y, x = np.mgrid[0:256, 0:256] / 256
        noise = np.random.default_rng(0).integers(0, 40, (256, 256, 3))
        with open_writer(sys.argv[1], fps=24, size=(256, 256)) as writer:
            for i in range(24):
                frame = np.stack([x, y, (x * y + i / 24) % 1], -1) * 200 + noise * np.sin(i / 3)
                writer.write(np.clip(frame, 0, 255).astype(np.uint8))
            writer.finish()
            writer.commit()
    """)
    written = []
    for pinned in ([cpus[0]], cpus):
        out = tmp_path / f"{len(pinned)}.mp4"
        subprocess.run([sys.executable, "-c", script, str(out), ",".join(map(str, pinned))], check=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        written.append(out.read_bytes())
    assert written[0] == written[1]
