"""Frames a morph shows more than once, drawn once: a `--hold`'s copies and a `--pingpong`'s way back.

    sources = blend.first_showings(plan)
    drawn = blend.iter_codes(codes, to_draw(plan, sources))    # only the frames no earlier frame shows
    frames = replay(render(drawn), sources)                    # every frame of the plan, in order

Drawing a code again cost its render (a pingpong's way back doubled the render time) and was not even the
same frame: the renderer's sums run in another order for another batch size, so a copy drawn in another batch
could be a level apart in a pixel (often under torch 2.1), and a pingpong was a palindrome only to that level.
Replayed, each copy is its first showing's frame byte for byte.

A hold's copies follow their frame, and are copied from it. A frame shown again later (the way back) is kept
until then in an anonymous temp file (`tempfile.TemporaryFile`: in $TMPDIR, gone when closed or when the
process dies, never a name left behind), not in memory: a 600-step pingpong at 1024 px keeps 599 frames of
3 MB, which the page cache holds while there is room and the disk takes when there is not.
"""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from interp_cli.errors import NO_ROOM, InterpError, environment_error, option


def to_draw(plan: Sequence, sources: Sequence[int]) -> list:
    """The specs of `plan` that must be drawn: the frames that are their own first showing, in order."""
    return [spec for i, spec in enumerate(plan) if sources[i] == i]


def replay(drawn: Iterable[np.ndarray], sources: Sequence[int]) -> Iterator[np.ndarray]:
    """Every frame of a plan, in order: the `drawn` frames (those `to_draw` named, in order) where they come,
    and for a frame whose source (`blend.first_showings`) is an earlier one, a copy of that frame. Each frame is
    an array of its own, so a caller that draws on one changes no other."""
    drawn = iter(drawn)
    later = _shown_again_later(sources)
    spill = _Spill()
    held = None  # a clean copy of the frame just shown, when copies of it follow
    try:
        for i, source in enumerate(sources):
            if source == i:
                frame = next(drawn)
                if i in later:
                    spill.put(i, frame)
            elif source == sources[i - 1]:
                yield held.copy()  # a hold's copy (of the frame drawn or replayed just before)
                continue
            else:
                frame = spill.get(source)
            if i + 1 < len(sources) and sources[i + 1] == source:
                held = frame.copy()
            yield frame
    finally:
        spill.close()


def _shown_again_later(sources: Sequence[int]) -> set[int]:
    """The frames that are shown again after another frame (not just copied on the spot, as a hold's are)."""
    return {source for i, source in enumerate(sources) if source != i and sources[i - 1] != source}


class _Spill:
    """Frames kept for a later replay in an anonymous temp file, made at the first one kept."""

    def __init__(self):
        self._file = None
        self._where: dict[int, tuple[int, tuple[int, ...]]] = {}  # frame index -> (offset, shape)
        self._end = 0

    def put(self, index: int, frame: np.ndarray) -> None:
        data = np.ascontiguousarray(frame, dtype=np.uint8)
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="interp-replay-")
            self._file.seek(self._end)
            self._file.write(data.reshape(-1))
        except OSError as err:
            raise _failed(err) from None
        self._where[index] = (self._end, data.shape)
        self._end += data.nbytes

    def get(self, index: int) -> np.ndarray:
        offset, shape = self._where[index]
        frame = np.empty(shape, np.uint8)
        try:
            self._file.seek(offset)
            read = self._file.readinto(frame.reshape(-1))
        except OSError as err:
            raise _failed(err) from None
        if read != frame.nbytes:  # the file is ours alone and unlinked: only a failing disk could do this
            raise _failed(OSError(errno.EIO, f"read {read} of {frame.nbytes} bytes back"))
        return frame

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _failed(err: OSError) -> InterpError:
    """A failure to keep or read back a frame, said of the temp folder, with what frees it: only $TMPDIR
    chooses where the temp goes (a place for -o would not help)."""
    folder = tempfile.gettempdir()
    if err.errno in NO_ROOM and err.errno != errno.EFBIG:
        return InterpError(f"{folder}: no room to keep the frames a morph shows again (the way back of a "
                           f"{option('pingpong')}, or of a {option('loop')} through two inputs) until they are shown: "
                           f"{(err.strerror or str(err)).lower()}; free some space there, or set TMPDIR to a folder "
                           f"with room")
    return environment_error(err, folder)
