"""interp_cli/replay.py: frames shown again (holds, a pingpong's way back) drawn once and replayed."""

from __future__ import annotations

import errno
import tempfile

import numpy as np
import pytest

from interp_cli import replay
from interp_cli.blend import first_showings, plan_frames
from interp_cli.errors import InterpError


def _drawn(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize("options", [{"pingpong": True, "hold": 2}, {"loop": True, "hold": 1}, {"pingpong": True},
                                     {"hold": 3}])
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


class _FullDisk:
    """A temp file on a file system with no room left."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def seek(self, *args):
        return 0

    def close(self):
        pass


def test_no_room_for_the_way_back_says_where_and_what_frees_it(monkeypatch):
    monkeypatch.setattr(replay.tempfile, "TemporaryFile", lambda **kwargs: _FullDisk())
    plan = plan_frames(2, 4, pingpong=True)
    sources = first_showings(plan)
    with pytest.raises(InterpError) as err:
        list(replay.replay(iter(_drawn(4)), sources))
    assert str(err.value) == (f"{tempfile.gettempdir()}: no room to keep the frames a morph shows again (the way "
                              "back of a pingpong, or of a loop through two inputs) until they are shown: no space "
                              "left on device; free some space there, or set TMPDIR to a folder with room")
