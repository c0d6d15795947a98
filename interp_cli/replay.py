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
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from interp_cli.errors import InterpError, option, speaking_to_cli
from interp_cli.failures import NO_ROOM, environment_error
from interp_cli.files import ArraySpill


# Bytes of finished frames a morph keeps for their later showing (the way back): 1 GiB is 1,365 frames of a 1024 px
# model's shown at --size 512, 85 at --size 2048. In the temp file, not in memory (the page cache holds what it has
# room for), and beyond what drawn frames would take there only by the bytes that are larger.
FINISHED_KEPT = 1 << 30


def to_draw(plan: Sequence, sources: Sequence[int]) -> list:
    """The specs of `plan` that must be drawn: the frames that are their own first showing, in order."""
    return [spec for i, spec in enumerate(plan) if sources[i] == i]


def replay(drawn: Iterable[np.ndarray], sources: Sequence[int],
           finish: Callable[[np.ndarray], np.ndarray] | None = None, *,
           keep_finished: bool = True) -> Iterator[np.ndarray]:
    """Every frame of a plan, in order: the `drawn` frames (those `to_draw` named, in order) where they come,
    and for a frame whose source (`blend.first_showings`) is an earlier one, a copy of that frame. Each frame is
    an array of its own, so a caller that draws on one changes no other.

    `finish` (a morph's --size or --paste) makes each frame drawn the frame shown, once; a hold's copies copy the
    finished frame (finished again for each copy, `--size 512` of a 1024 px model cost each copy 63 ms of Lanczos
    here). With `keep_finished` (a resize: its Lanczos costs more than reading the frame back) a later showing is
    kept finished, as shown, while the finished frames kept fit in `FINISHED_KEPT` bytes; past that, and without
    it (a paste: a copy of the photo with the face blended in costs about what writing and reading back a frame
    of the photo's size does), as drawn, and finished again (benchmarks/README.md, "Work done twice")."""
    drawn = iter(drawn)
    later = _shown_again_later(sources)
    spill = _Spill()
    kept_finished: set[int] = set()  # the frames in `spill` kept as shown, not as drawn
    room = FINISHED_KEPT
    held = None  # a clean copy of the frame just shown, when copies of it follow
    try:
        for i, source in enumerate(sources):
            if source == i:
                frame = next(drawn)
                shown = finish(frame) if finish else frame
                if i in later:
                    if keep_finished and shown is not frame and shown.nbytes <= room:
                        spill.put(i, shown)
                        kept_finished.add(i)
                        room -= shown.nbytes
                    else:
                        spill.put(i, frame)
                frame = shown
            elif source == sources[i - 1]:
                yield held.copy()  # a hold's copy (of the frame drawn or replayed just before)
                continue
            elif finish and source not in kept_finished:
                frame = finish(spill.get(source))
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


class _Spill(ArraySpill):
    """Frames kept for a later replay (`files.ArraySpill`), a failure said of the temp folder (`_failed`)."""

    def __init__(self):
        super().__init__(prefix="interp-replay-")

    def put(self, index: int, frame: np.ndarray) -> None:
        try:
            super().put(index, np.ascontiguousarray(frame, dtype=np.uint8))
        except OSError as err:
            raise _failed(err) from None

    def get(self, index: int) -> np.ndarray:
        try:
            return super().get(index)
        except OSError as err:
            raise _failed(err) from None


def _failed(err: OSError) -> InterpError:
    """A failure to keep or read back a frame, said of the temp folder, with what frees it: only $TMPDIR
    chooses where the temp goes (a place for -o would not help). A Python caller is named `tempfile.tempdir`:
    Python reads $TMPDIR once, at its first temp file, so `os.environ["TMPDIR"] = ...` in a process that has made
    one (this one has) changes nothing."""
    folder = tempfile.gettempdir()
    elsewhere = "set TMPDIR to a folder with room" if speaking_to_cli() else (
        'point tempfile.tempdir at a folder with room (tempfile.tempdir = "/path/with/room"; TMPDIR is read once, '
        'at Python\'s first temp file)')
    if err.errno in NO_ROOM and err.errno != errno.EFBIG:
        return InterpError(f"{folder}: no room to keep the frames a morph shows again (the way back of a "
                           f"{option('pingpong')}, or of a {option('loop')} through two inputs) until they are shown: "
                           f"{(err.strerror or str(err)).lower()}; free some space there, or {elsewhere}")
    return environment_error(err, folder)
