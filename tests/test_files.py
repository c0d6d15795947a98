"""interp_cli.files: the atomic write, stale-temp cleanup, hashing and same-file check."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from interp_cli import claims, files, sha256_record
from interp_cli.errors import InterpError


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with files.atomic_write(target) as fh:
            fh.write(b"half")
            assert len(os.listdir(tmp_path)) == 2  # the temp sits beside the target meanwhile
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"old"
    with files.atomic_write(target) as fh:
        fh.write(b"new")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"new"


def test_atomic_write_cleans_up_on_keyboard_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_write(tmp_path / "x.txt", "w") as fh:
            fh.write("x")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_temp_name_is_hidden_and_keeps_the_suffix(tmp_path):
    name = files.temp_name(tmp_path / "clip.mp4").name
    assert name.startswith(".clip.tmp-") and name.endswith(".mp4")


# A real writer in its own process: starts OUT (.mp4: ffmpeg writes the temp; .gif; a frames folder),
# writes one frame, says "ready", then waits for "go" and finishes, or is SIGKILLed.
WRITER = """
import os, signal, sys, time
from pathlib import Path
import numpy as np
from interp_cli.write import open_writer
out, action = sys.argv[1], sys.argv[2]
frames = np.random.default_rng(0).integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
with open_writer(out, fps=10) as writer:
    writer.write(frames[0])
    Path(out.rstrip("/") + ".ready").touch()
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while not Path(out.rstrip("/") + ".go").exists():
        time.sleep(0.02)
    for frame in frames[1:]:
        writer.write(frame)
"""


def _writer(out, action, prefix=()):
    """A WRITER process; returns once its temp exists."""
    child = subprocess.Popen([*prefix, sys.executable, "-c", WRITER, str(out), action])
    ready = str(out).rstrip("/") + ".ready"
    deadline = time.monotonic() + 60
    while not os.path.exists(ready):
        assert child.poll() is None or action == "kill", "the writer did not start"
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.02)
    os.unlink(ready)
    return child


def _hidden(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith("."))


def _sweep_elsewhere(directory, prefix=()):
    """clean_stale_temps(directory) in a fresh process (`prefix`: its namespaces); the names it removed."""
    code = "import sys; from interp_cli import files; print(*[p.name for p in files.clean_stale_temps(sys.argv[1])])"
    done = subprocess.run([*prefix, sys.executable, "-c", code, str(directory)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _unshare(*flags, host=None):
    """A prefix running a command in new namespaces, not as their pid 1 (`sh` is; `; :` stops its exec),
    so that its pid in there means nothing outside; skips the test where unshare is not permitted."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", *flags, "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare {' '.join(flags)} is not permitted here: {probe.stderr.decode().strip()}")
    rename = f"hostname {host} && " if host else ""
    return ["unshare", *flags, "--fork", "sh", "-c", rename + '"$@"; :', "sh"]


def _finish(child, out):
    Path(str(out).rstrip("/") + ".go").touch()
    assert child.wait(timeout=60) == 0
    os.unlink(str(out).rstrip("/") + ".go")


def test_a_live_writers_temp_survives_a_sweep_and_a_killed_ones_goes(tmp_path):
    live = _writer(tmp_path / "live.mp4", "wait")
    killed = _writer(tmp_path / "killed.gif", "kill")
    assert killed.wait(timeout=60) == -signal.SIGKILL
    (stale,) = [name for name in _hidden(tmp_path) if name.startswith(".killed.tmp-")]
    assert _sweep_elsewhere(tmp_path) == [stale]
    _finish(live, tmp_path / "live.mp4")
    assert sorted(os.listdir(tmp_path)) == ["live.mp4"] and (tmp_path / "live.mp4").stat().st_size > 1000


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK])
def test_a_file_system_without_flock_still_gets_whole_outputs_and_keeps_a_writers_temp(tmp_path, monkeypatch, code):
    """Lustre mounted without `-o flock` answers every flock with ENOSYS (some FUSE file systems EOPNOTSUPP,
    NFS whose lock manager is unreachable ENOLCK): writing there used to fail every output ("function not
    implemented") and leave its temp behind for good. The temp is written unlocked instead, and a sweep,
    which cannot lock it either, cannot tell a live writer from a dead one, so it leaves it alone."""
    def no_flock(fd, operation):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.fcntl, "flock", no_flock)
    with files.atomic_write(tmp_path / "out.bin") as fh:
        fh.write(b"data")
    assert os.listdir(tmp_path) == ["out.bin"] and (tmp_path / "out.bin").read_bytes() == b"data"
    live = [files.new_temp(tmp_path / "clip.mp4"), files.new_temp(tmp_path / "frames", directory=True)]
    files._cleaned.discard(str(tmp_path))
    assert files.clean_stale_temps(tmp_path) == [] and all(os.path.lexists(tmp) for tmp in live)
    for tmp in live:
        files.discard(tmp)
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_lock_that_fails_otherwise_leaves_no_temp_behind(tmp_path, monkeypatch):
    """Any other flock failure fails the write, as one line naming the output, without the empty temp it
    had made: unlocked, no later sweep would ever remove it."""
    def broken_flock(fd, operation):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files.fcntl, "flock", broken_flock)
    with pytest.raises(InterpError, match="out.bin: "):
        with files.atomic_write(tmp_path / "out.bin") as fh:
            fh.write(b"data")
    assert os.listdir(tmp_path) == []


def test_writers_in_other_pid_namespaces_keep_their_temps(tmp_path):
    """Same host name, separate PID namespaces (host-network pods, `unshare --pid`): each writer's pid
    means nothing to the other, so only the lock can tell that the temps are alive."""
    prefix = _unshare("--pid")
    outputs = [tmp_path / "a.mp4", tmp_path / "b.gif", tmp_path / "frames/"]
    writers = [_writer(out, "wait", prefix) for out in outputs]
    temps = _hidden(tmp_path)
    assert len(temps) >= 3  # two files and a folder (and its lock file)
    # The sweeper is pid 1 of its namespace, each writer pid 2 of its own: pid 2 is dead over there.
    assert _sweep_elsewhere(tmp_path, _unshare("--pid")[:3]) == []
    assert _hidden(tmp_path) == temps
    for child, out in zip(writers, outputs):
        _finish(child, out)
    assert sorted(os.listdir(tmp_path)) == ["a.mp4", "b.gif", "frames"]
    assert len(os.listdir(tmp_path / "frames")) == 8


def test_a_killed_writers_temps_go_whatever_its_host_name(tmp_path):
    """A retried pod gets a new host name: the next run removes the dead one's temps all the same."""
    prefix = _unshare("--pid", "--uts", host="writer-on-another-host")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    for out in (tmp_path / "one/a.mp4", tmp_path / "two/frames/"):
        assert _writer(out, "kill", prefix).wait(timeout=60) == 0  # sh outlives the SIGKILLed writer
    left = _hidden(tmp_path / "one") + _hidden(tmp_path / "two")
    assert len(left) == 3  # the MP4's temp, the frames' temp folder and its lock file
    assert sorted(_sweep_elsewhere(tmp_path / "one") + _sweep_elsewhere(tmp_path / "two")) == sorted(left)
    assert os.listdir(tmp_path / "one") == os.listdir(tmp_path / "two") == []


def test_a_dead_writers_folder_is_reported_once_whichever_is_listed_first(tmp_path, monkeypatch):
    # The sweep removes a temp folder when it takes its lock file: listed before the folder (the order
    # is the file system's), the folder was then "removed" a second time and reported twice.
    folder, lock = tmp_path / ".frames.tmp-0123456789abcdef", tmp_path / ".frames.tmp-0123456789abcdef.lock"
    folder.mkdir()
    (folder / "frame_0000.png").write_bytes(b"x")
    lock.write_bytes(b"")  # its writer is dead: nobody holds the lock
    listing = os.scandir

    def lock_first(path="."):  # the swept folder only (shutil.rmtree lists through os.scandir too)
        if not isinstance(path, str) or path != str(tmp_path):
            return listing(path)
        return iter(sorted(listing(path), key=lambda entry: not entry.name.endswith(".lock")))

    monkeypatch.setattr(files.os, "scandir", lock_first)
    files._cleaned.discard(str(tmp_path))
    assert sorted(files.clean_stale_temps(tmp_path)) == [folder, lock]
    assert os.listdir(tmp_path) == []


def test_clean_stale_temps_touches_nothing_else(tmp_path):
    keep = [".hidden", "out.tmp-123.mp4", ".out.tmp-zz-1-12345678.mp4", ".out.tmp-0123456789abcdef.mp4",
            "photo.png"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    os.mkfifo(tmp_path / ".f.tmp-0123456789abcdef.gif")  # never opened for long, never removed
    (tmp_path / ".out.tmp-0123456789abcdef.mp4").unlink()
    (tmp_path / ".link.tmp-0123456789abcdef.gif").symlink_to(tmp_path / "photo.png")
    keep = [name for name in keep if "0123" not in name] + [".f.tmp-0123456789abcdef.gif",
                                                            ".link.tmp-0123456789abcdef.gif"]
    ours = files.new_temp(tmp_path / "x.gif")  # ours, alive
    files._cleaned.discard(str(tmp_path))
    assert files.clean_stale_temps(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted([*keep, ours.name])
    files.discard(ours)


def test_clean_stale_temps_puts_back_frames_moved_aside(tmp_path):
    code = """
import os, signal, sys
from interp_cli import files
old = files.claim_temp(sys.argv[1] + "/shots", "old", directory=True, create=False)
os.rename(sys.argv[1] + "/shots", old)
os.kill(os.getpid(), signal.SIGKILL)
"""
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "frame_0000.png").write_bytes(b"x")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=60)
    assert len(_hidden(tmp_path)) == 2 and not (tmp_path / "shots").exists()
    files.clean_stale_temps(tmp_path)
    assert os.listdir(tmp_path) == ["shots"] and os.listdir(tmp_path / "shots") == ["frame_0000.png"]


def test_ffmpeg_writes_the_very_file_we_hold_locked(tmp_path, monkeypatch):
    """ffmpeg opens the temp by name (and rereads it for +faststart): it must not replace the file,
    or our lock would sit on an orphaned inode while the sweep saw an unlocked temp."""
    from interp_cli import frame_writer, write

    seen = []
    real_commit = frame_writer.commit

    def checking_commit(tmp, target):
        fd, locked = files.held_temps[os.fspath(tmp)]
        seen.append(files.same_inode(fd, tmp) and locked == os.fspath(tmp))
        real_commit(tmp, target)

    monkeypatch.setattr(frame_writer, "commit", checking_commit)  # where FrameWriter commits
    with write.open_writer(tmp_path / "a.mp4", fps=10) as writer:
        for _ in range(5):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert seen == [True] and files.held_temps == {}


def test_sha256_of_and_same_file(tmp_path):
    a = tmp_path / "a.png"
    a.write_bytes(b"abc")
    assert sha256_record.sha256_of(a) == hashlib.sha256(b"abc").hexdigest()
    (tmp_path / "link.png").symlink_to(a)
    os.link(a, tmp_path / "hard.png")
    (tmp_path / "copy.png").write_bytes(b"abc")
    assert files.same_file(a, tmp_path / "link.png") and files.same_file(a, tmp_path / "hard.png")
    assert not files.same_file(a, tmp_path / "copy.png")
    assert not files.same_file(a, tmp_path / "missing.png")


def test_an_input_that_is_no_regular_file_is_named_for_what_it_is(tmp_path):
    """Each path an input cannot be is refused in its own words, naming it, as an InputError (exit 2) with its
    path: a folder, a FIFO (stat()ed, never opened: opening one blocks until something writes), a device, a socket,
    a missing file and one under a file. A photo passes and is named as given."""
    import socket

    photo = tmp_path / "a.png"
    photo.write_bytes(b"x")
    os.mkfifo(tmp_path / "pipe.png")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.png"))
    try:
        expected = {
            tmp_path: "is a directory, not an image",
            tmp_path / "pipe.png": "is a FIFO (named pipe), not a regular file",
            Path(os.devnull): "is a device, not a regular file",
            tmp_path / "sock.png": "is a socket or other special file, not a regular file",
            tmp_path / "missing.png": "no such file",
            photo / "b.png": "no such file (a parent is not a directory)",
        }
        for path, said in expected.items():
            with pytest.raises(InterpError) as caught:
                files.check_input_file(path, "an image")
            assert (str(caught.value), caught.value.exit_code, caught.value.path) == (f"{path}: {said}", 2, str(path))
    finally:
        server.close()
    assert files.check_input_file(photo) == str(photo)


def test_too_long_name_counts_the_temp_name_on_the_last_part(tmp_path):
    room = os.pathconf(tmp_path, "PC_NAME_MAX") - files.TEMP_NAME_EXTRA
    assert files.too_long_name("a" * room, tmp_path) is None
    assert files.too_long_name("a" * (room + 1), tmp_path) is not None
    # The longest name taken can be written under each temp it is made in first (a frames folder's, with its lock
    # file; the old frames moved aside; a batch row's claim): a byte too few counted failed at the write instead.
    longest = tmp_path / ("a" * room)
    for made in (files.new_temp(longest, directory=True), files.claim_temp(longest, "old", directory=True)):
        files.discard(made)
    with claims.claimed(longest) as mine:
        assert mine is True and len(_hidden(tmp_path)) == 1
    assert os.listdir(tmp_path) == []
    assert files.too_long_name(f"{'d' * (room + 1)}/x.gif", tmp_path) is None  # a folder has no temp name
    assert files.too_long_name(f"{'d' * 300}/x.gif", tmp_path) is not None


def test_a_sheet_onto_an_input_names_the_option(tmp_path, monkeypatch):
    # It said "a.png: is the input a.png", as if -o were the one at fault; a clash between outputs says --sheet.
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.chdir(tmp_path)
    shutil.copy(examples / "demo_a.png", "a.png")
    result = cli_runner().invoke(cli, ["a.png", str(examples / "demo_b.png"), "--weights", "demo", "--steps", "3",
                                       "-o", "s.gif", "--sheet", "a.png"])
    assert result.exit_code == 2
    assert result.stderr == "interp: error: --sheet a.png: is the input a.png; choose another output name\n"
    from interp_cli import pipeline  # the Python API's refusal reads the same, in its keywords
    from interp_cli.errors import UsageError

    with pytest.raises(UsageError, match=r'^sheet="a\.png": is the input a\.png;'):
        pipeline.morph(["a.png", examples / "demo_b.png"], "s.gif", sheet="a.png", weights="demo")
    assert sorted(os.listdir()) == ["a.png"]


def test_a_frames_folder_holding_an_input_is_refused_and_the_input_kept(tmp_path, monkeypatch):
    """`-o frames/` where frames/ holds an input: the frames output replaces the folder, which would delete the
    photo. Refused before anything is made, naming both, as is a --sheet written over an input (a hard link too);
    the photo is where it was. No test made a frames output of an input's own folder."""
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.chdir(tmp_path)
    os.mkdir("frames")
    shutil.copy(examples / "demo_a.png", "frames/a.png")
    os.link("frames/a.png", "linked.png")
    for output, said in [("frames/", "frames/: this directory holds the input frames/a.png; choose another output"),
                         ("frames", "frames: this directory holds the input frames/a.png; choose another output")]:
        result = cli_runner().invoke(cli, ["frames/a.png", str(examples / "demo_b.png"), "--weights", "demo",
                                           "--steps", "3", "-o", output])
        assert (result.exit_code, result.stderr) == (2, f"interp: error: {said}\n")
    result = cli_runner().invoke(cli, ["frames/a.png", str(examples / "demo_b.png"), "--weights", "demo", "--steps",
                                       "3", "-o", "m.gif", "--sheet", "linked.png"])
    assert (result.exit_code, result.stderr) == (
        2, "interp: error: --sheet linked.png: is the input frames/a.png; choose another output name\n")
    assert sorted(os.listdir()) == ["frames", "linked.png"] and os.listdir("frames") == ["a.png"]
    assert Path("frames/a.png").read_bytes() == (examples / "demo_a.png").read_bytes()


def _file_system_type(path: Path) -> str | None:
    """The type of the file system `path` lies on, from the kernel's own table (the longest mount point above it)."""
    best, kind = "", None
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            fields = line.split()
            point, fstype = fields[4].replace("\\040", " "), fields[fields.index("-") + 1]
            if (str(path) == point or str(path).startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, fstype
    return kind


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="project IDs are read with a Linux ioctl")
def test_project_id_reads_a_folders_project_where_its_file_system_keeps_one(tmp_path):
    """What a batch tells a project quota's folder by: ext4 and XFS answer FS_IOC_FSGETXATTR, a folder in no project
    is 0; /proc, which keeps none, and a missing folder give None, never an error."""
    kind = _file_system_type(tmp_path.resolve())
    if kind in ("ext4", "xfs"):
        assert files.project_id(tmp_path) == 0
    assert files.project_id("/proc") is None and files.project_id(tmp_path / "missing") is None


# A real SIGTERM whose handler (a Python caller's) raises, landing inside a call as it returns (tests/races.py): the
# moment between a descriptor being opened or a lock taken and the code that lets it go having it in hand.


def test_a_stop_as_a_sweep_locks_a_dead_writers_temp_leaves_it_to_the_next_sweep(tmp_path):
    """Landing as a sweep took a dead writer's temp's lock to judge it: the caller's process held that lock for the
    rest of its life, so every other run's sweep took the temp for a live writer's and left it. Now the lock goes
    with the stop, and the next sweep removes the temp."""
    import fcntl

    from tests.races import Stopped, stop_inside

    dead = files.temp_name(tmp_path / "m.gif")
    dead.touch()  # no one holds its lock: a killed writer's
    with stop_inside(fcntl, "flock"), pytest.raises(Stopped):
        files.clean_stale_temps(tmp_path)
    assert _sweep_elsewhere(tmp_path) == [dead.name]
    assert os.listdir(tmp_path) == []


def test_a_stop_as_a_shared_files_lock_is_opened_leaves_no_descriptor_open(tmp_path):
    """Landing as `held_lock` opened `<file>.lock`: the descriptor stayed open in the caller's process, one more
    for each stop. Now it is closed with the stop (the lock file itself is left, as always)."""
    from tests.races import Stopped, stop_inside

    def descriptors():
        return sorted(os.listdir("/proc/self/fd"))

    before = descriptors()
    target = tmp_path / "records.json"
    with stop_inside(os, "open", lambda path, *args, **kwargs: os.fspath(path).endswith(".lock")), \
            pytest.raises(Stopped):
        with files.held_lock(target, wait=0):
            pytest.fail("the block ran")
    assert descriptors() == before
    assert os.listdir(tmp_path) == ["records.json.lock"]


@pytest.mark.parametrize("how", ["atomic_write", "StagedFile"])
def test_a_stop_as_a_temp_is_made_for_a_whole_write_leaves_none_while_the_caller_goes_on(tmp_path, how):
    """Landing as `new_temp` returned, before the writer had the temp's name in hand: the hidden temp stayed
    beside the target, locked, for as long as the caller's process lived (only its exit settled it). Now it goes
    with the stop, and the target is untouched."""
    from tests.races import Stopped, stop_inside

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with stop_inside(files, "new_temp"), pytest.raises(Stopped):
        if how == "atomic_write":
            with files.atomic_write(target) as fh:
                fh.write(b"new")
        else:
            files.StagedFile(target, b"new")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"old"


def test_a_stop_as_an_outputs_folders_are_made_leaves_none(tmp_path):
    """A command's small outputs (a --sheet in a new folder) get their folders made at commit, and removed again
    if the commit fails. A stop landing as a folder was made (before it was listed as made here) left the empty
    folders behind. Now they go with the stop (a real SIGTERM, landing as `os.mkdir` returns)."""
    from tests.races import Stopped, stop_inside

    outputs = files.Outputs()
    outputs.later(tmp_path / "new" / "deeper" / "sheet.png", b"a sheet")
    with stop_inside(os, "mkdir"), pytest.raises(Stopped):
        outputs.commit()
    assert os.listdir(tmp_path) == []


def test_a_command_that_fails_after_an_output_is_finished_leaves_the_old_outputs_and_no_temp(tmp_path):
    """`Outputs` moves a command's outputs into place together or not at all: a video finished in its temp and a
    sheet still to write, then a failure (an error in the block: the next photo unreadable) leaves the old video
    and nothing new beside it. An output finished but never committed left its hidden temp beside the old one."""
    video = tmp_path / "m.gif"
    video.write_bytes(b"old")
    with pytest.raises(InterpError, match="the next photo"):
        with files.Outputs() as outputs:
            outputs.add(files.StagedFile(video, b"new"))
            outputs.later(tmp_path / "sheets" / "m.png", b"a sheet")
            raise InterpError("the next photo could not be read")
    assert os.listdir(tmp_path) == ["m.gif"] and video.read_bytes() == b"old"
    with files.Outputs() as outputs:  # and without the failure, both are written
        outputs.add(files.StagedFile(video, b"new"))
        outputs.later(tmp_path / "sheets" / "m.png", b"a sheet")
        outputs.commit()
    assert video.read_bytes() == b"new" and (tmp_path / "sheets" / "m.png").read_bytes() == b"a sheet"
    assert sorted(os.listdir(tmp_path)) == ["m.gif", "sheets"]


def test_arrays_kept_out_of_memory_come_back_as_they_went_in_any_order_and_leave_nothing(tmp_path, monkeypatch):
    """ArraySpill (the frames a morph replays, the photos a --paste morph uses again): each array read back whole,
    with its shape and dtype, in any order and as often as asked, each a fresh copy; nothing named on the disk."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    rng = np.random.default_rng(0)
    put = {"frame": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), "code": rng.standard_normal((18, 512)),
           "empty": np.zeros((0, 3), np.float32), "crop": rng.standard_normal((2, 3)).astype(np.float32).T}
    with files.ArraySpill() as spill:
        for key, array in put.items():
            spill.put(key, array)
        assert os.listdir(tmp_path) == []
        for key in [*reversed(put), *put]:
            back = spill.get(key)
            assert back.dtype == put[key].dtype and np.array_equal(back, put[key]) and "code" in spill
            back[...] = 0  # a copy: the next read is whole again
        with pytest.raises(KeyError):
            spill.get("missing")
    assert "code" not in spill


def test_a_claim_is_made_as_any_file_is_so_a_groups_workers_can_take_each_others_over(tmp_path):
    """A batch's claim file is made 0666 minus the umask, as a temp is: workers of one group under umask 002 (a shared
    project's folder) open each other's claims to take over a killed one's. A mode of 0665 passed every file."""
    old = os.umask(0o002)
    try:
        with claims.claimed(tmp_path / "row.gif") as mine:
            (claim,) = _hidden(tmp_path)
            assert mine is True and os.stat(tmp_path / claim).st_mode & 0o777 == 0o664
        temp = files.new_temp(tmp_path / "out.bin")
        assert os.stat(temp).st_mode & 0o777 == 0o664
        files.discard(temp)
    finally:
        os.umask(old)


@pytest.mark.parametrize("before, after", [(0o600, 0o600), (0o640, 0o640), (0o4750, 0o750)])
def test_a_file_written_again_keeps_its_permission_bits_but_no_set_id_bit(tmp_path, before, after):
    """A clip kept private (0600) or shared with a group (0640) stays so when it is written again, as `cp` and a
    shell's `>` keep it; a set-user-id bit is not carried onto new content. Only test_outputs' morphs checked it."""
    target = tmp_path / "m.gif"
    target.write_bytes(b"old")
    os.chmod(target, before)
    with files.atomic_write(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o7777 == after
