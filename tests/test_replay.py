"""interp_cli/replay.py: frames shown again (holds, a pingpong's way back) drawn once and replayed."""

from __future__ import annotations

import errno
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from interp_cli import replay
from interp_cli.blend import first_showings, plan_frames
from interp_cli.errors import InterpError


def _drawn(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(count)]


# {"hold": 1}: the last frame is the one copy of the frame before it (`--hold 1`, no way back).
@pytest.mark.parametrize("options", [{"pingpong": True, "hold": 2}, {"loop": True, "hold": 1}, {"pingpong": True},
                                     {"hold": 3}, {"hold": 1}])
def test_every_frame_comes_back_as_its_first_showing_each_an_array_of_its_own(options):
    plan = plan_frames(3, 5, **options)
    sources = first_showings(plan)
    drawn = _drawn(len(replay.to_draw(plan, sources)))
    frames = []
    for frame in replay.replay(iter(drawn), sources):
        frames.append(frame.copy())
        frame[:] = 0  # a caller that draws on a frame changes no frame after it
    by_index = dict(zip(sorted(set(sources)), _drawn(len(drawn))))  # as drawn (the caller zeroed those)
    assert len(frames) == len(plan)
    assert all(np.array_equal(frame, by_index[source]) for frame, source in zip(frames, sources))


def _finish_counted(finished: list):
    """A finish as --size makes one (a new, larger array), each call's frame kept in `finished`."""
    def finish(frame):
        finished.append(frame.copy())
        return np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1) ^ 0x5A
    return finish


@pytest.mark.parametrize("count, options", [(3, {"pingpong": True, "hold": 2}), (3, {"loop": True, "hold": 1}),
                                            (3, {"hold": 3}), (3, {"pingpong": True}), (2, {"loop": True})])
def test_a_finished_frame_is_finished_once_and_its_copies_and_later_showings_copy_it(count, options):
    """A morph's --size or --paste (`finish`) ran again on each hold's copy, replayed before it (`--size 512` of a
    1024 px model, 63 ms of Lanczos a copy), and on each frame of a pingpong's way back (or of a --loop through two
    keyframes), read back as drawn. Now each frame drawn is finished once; a hold's copies and a later showing are
    copies of the finished frame; every frame is still its first showing finished, an array of its own."""
    plan = plan_frames(count, 5, **options)
    sources = first_showings(plan)
    drawn = _drawn(len(replay.to_draw(plan, sources)))
    finished = []
    frames = []
    for frame in replay.replay(iter(drawn), sources, _finish_counted(finished)):
        frames.append(frame.copy())
        frame[:] = 0
    by_index = dict(zip(sorted(set(sources)), _drawn(len(drawn))))
    assert len(frames) == len(plan)
    assert all(np.array_equal(frame, np.repeat(np.repeat(by_index[source], 2, 0), 2, 1) ^ 0x5A)
               for frame, source in zip(frames, sources))
    assert len(finished) == len(drawn) < len(plan)
    assert all(np.array_equal(got, want) for got, want in zip(finished, _drawn(len(drawn))))


def test_past_the_bound_a_later_showing_is_kept_as_drawn_and_finished_again(monkeypatch):
    """Finished frames kept for the way back are bounded (`FINISHED_KEPT`: a pasted frame is the photo's size);
    past the bound the frame is kept as drawn, and finished again when shown: the same frames either way."""
    plan = plan_frames(2, 6, pingpong=True)
    sources = first_showings(plan)
    drawn = _drawn(len(replay.to_draw(plan, sources)))
    expected = [np.repeat(np.repeat(drawn[source], 2, 0), 2, 1) ^ 0x5A for source in sources]
    monkeypatch.setattr(replay, "FINISHED_KEPT", 2 * expected[0].nbytes)  # two frames' worth
    finished = []
    frames = [frame.copy() for frame in replay.replay(iter(drawn), sources, _finish_counted(finished))]
    assert all(np.array_equal(got, want) for got, want in zip(frames, expected))
    later = len(plan) - len(drawn)  # the way back: 4 frames, 2 kept finished, 2 finished again
    assert later == 4 and len(finished) == len(drawn) + later - 2


class _FullDisk:
    """A temp file on a file system with no room left."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def seek(self, *args):
        return 0

    def close(self):
        pass


def test_no_room_for_the_way_back_says_where_and_what_frees_it_in_the_callers_words(monkeypatch, tmp_path):
    """A Python caller was told "set TMPDIR to a folder with room"; done in its process (`os.environ`), the
    retry failed alike, since Python reads $TMPDIR once, at its first temp file. It is now told tempfile.tempdir,
    and the retry, so pointed, has room; the command still says TMPDIR (a new process reads it)."""
    from interp_cli.errors import cli_words

    full, real = tempfile.gettempdir(), tempfile.TemporaryFile
    # The temp folder Python would use now has no room; any other has.
    monkeypatch.setattr(replay.tempfile, "TemporaryFile",
                        lambda **kwargs: _FullDisk() if tempfile.gettempdir() == full else real(**kwargs))
    plan = plan_frames(2, 4, pingpong=True)
    sources = first_showings(plan)
    said = (f"{full}: no room to keep the frames a morph shows again (the way back of a {{}}, or of a {{}} through "
            "two inputs) until they are shown: no space left on device; free some space there, or {}")
    with cli_words(), pytest.raises(InterpError) as err:
        list(replay.replay(iter(_drawn(4)), sources))
    assert str(err.value) == said.format("--pingpong", "--loop", "set TMPDIR to a folder with room")
    with pytest.raises(InterpError) as err:
        list(replay.replay(iter(_drawn(4)), sources))
    assert str(err.value) == said.format("pingpong", "loop", 'point tempfile.tempdir at a folder with room '
                                         '(tempfile.tempdir = "/path/with/room"; TMPDIR is read once, at Python\'s '
                                         'first temp file)')
    room = tmp_path / "room"
    room.mkdir()
    monkeypatch.setenv("TMPDIR", str(room))  # what the old words had a Python caller do: no change
    with pytest.raises(InterpError):
        list(replay.replay(iter(_drawn(4)), sources))
    monkeypatch.setattr(tempfile, "tempdir", str(room))  # what the words say now
    assert len(list(replay.replay(iter(_drawn(4)), sources))) == len(plan)


def test_a_file_size_limit_on_the_way_back_is_said_as_that_limit_not_as_a_full_disk(tmp_path):
    """A real `ulimit -f` (RLIMIT_FSIZE, in a child process) stops the temp file that keeps the way back: the words
    name the limit, as every write's do, and never "no room ... free some space", which would not help."""
    script = f"""
import resource, signal, tempfile
import numpy as np
from interp_cli import replay
from interp_cli.blend import first_showings, plan_frames
from interp_cli.errors import InterpError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG, as under a batch scheduler's limit
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
tempfile.tempdir = {str(tmp_path)!r}
sources = first_showings(plan_frames(2, 6, pingpong=True))
try:
    list(replay.replay((np.full((64, 64, 3), i, np.uint8) for i in range(6)), sources))
except InterpError as err:
    print(err)
"""
    said = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert said.returncode == 0 and said.stderr == "", said.stderr
    assert said.stdout == (f"{tmp_path}: cannot write: file too large (over this process's file-size limit of "
                           "20,000 bytes, `ulimit -f`); raise that limit\n")


def test_without_keep_finished_a_later_showing_is_kept_as_drawn_and_finished_again():
    """`keep_finished=False` (a --paste morph: pasting again costs what keeping a frame of the photo's size does)
    keeps the way back as drawn, finishing it again when shown: the same frames."""
    plan = plan_frames(2, 6, pingpong=True)
    sources = first_showings(plan)
    drawn = _drawn(len(replay.to_draw(plan, sources)))
    finished = []
    frames = [frame.copy() for frame in replay.replay(iter(drawn), sources, _finish_counted(finished),
                                                     keep_finished=False)]
    assert all(np.array_equal(got, np.repeat(np.repeat(drawn[source], 2, 0), 2, 1) ^ 0x5A)
               for got, source in zip(frames, sources))
    assert len(finished) == len(plan) == 10
