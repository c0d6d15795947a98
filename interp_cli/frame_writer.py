"""The base of every frame writer (MP4, GIF, PNG frames in write.py; the HTML page in page.py): it checks
frames, counts them, and moves the finished output into place atomically (`interp_cli.files`).

It lives apart from write.py so that page.py, whose writer write.open_writer hands out, and write.py
both build on it without importing each other.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from interp_cli.errors import InterpError, UsageError, option
from interp_cli.failures import environment_error
from interp_cli.files import PathLike, commit, discard, make_folders, remove_folders, write_target
from interp_cli.limits import (GIF_MAX_SIDE, H264_MAX_FRAME_MACROBLOCKS, H264_MAX_MACROBLOCKS_PER_SECOND, H264_MAX_SIDE,
                               JPEG_MAX_SIDE, NTSC_BASES, SIZE)
from interp_cli.stops import deferred, raise_swallowed

if TYPE_CHECKING:
    import numpy as np  # imported where a frame is written: see interp_cli.write on light imports


# --- quality / fps --------------------------------------------------------------------------------


def quality_to_crf(quality: float) -> int:
    """Map quality 0..10 (10 best) to libx264 CRF: 34 - 2 * quality (8 -> 18, 5 -> 24, 0 -> 34)."""
    if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not 0 <= quality <= 10:
        raise UsageError(f"quality must be a number from 0 to 10 (10 best), got {quality!r}")
    return int(round(34 - 2 * quality))


def check_fps(fps: float) -> float:
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)) or not math.isfinite(fps) or fps <= 0:
        raise UsageError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def frame_rate(fps: float) -> Fraction:
    """The exact rate the outputs are timed by (the MP4's stream rate, the GIF's delays, the page's player).

    An NTSC rate, N * 1000/1001 for N in `limits.NTSC_BASES`, is named by its usual roundings to 2 or 3
    decimals (23.98 and 23.976, 29.97, 59.94, 119.88 ...): `--fps 23.976` is 24000/1001, what editors and
    ffprobe call 23.976 fps, not 2997/125 (3.6 ms an hour apart, but a rate no editor lists). Any other number
    is itself, as a fraction with a denominator up to 1001 (12.5 is 25/2; 23.976023976..., given in full, is
    24000/1001 too).
    """
    fps = check_fps(fps)
    for base in NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if fps in (round(float(ntsc), 2), round(float(ntsc), 3)):
            return ntsc
    return Fraction(fps).limit_denominator(1001)


# --- frame sizes ---------------------------------------------------------------------------------


def _macroblocks(width: int, height: int) -> int:
    """H.264's 16x16 blocks in a frame (sides padded to even first, as the MP4 writer pads them)."""
    return -(-(width + width % 2) // 16) * -(-(height + height % 2) // 16)


def _holds(kind: str, width: int, height: int, fps: float) -> bool:
    """Whether an output of `kind` can hold frames of width x height at `fps` (see `limits`)."""
    if kind == "mp4":
        blocks = _macroblocks(width, height)
        return (max(width, height) <= H264_MAX_SIDE and blocks <= H264_MAX_FRAME_MACROBLOCKS
                and blocks * fps <= H264_MAX_MACROBLOCKS_PER_SECOND)
    if kind == "gif":
        return max(width, height) <= GIF_MAX_SIDE
    if kind == "html":
        return max(width, height) <= JPEG_MAX_SIDE
    return True  # PNG frames: 2^31 px a side


_KIND_NAMES = {"mp4": "an MP4", "gif": "a GIF", "html": "an .html page (its frames are JPEGs)"}
_KIND_WORDS = {"gif": "a .gif", "html": ".html", "frames": "frames/"}


def frames_too_large(kind: str, output: PathLike, size: tuple[int, int], fps: float,
                     resized: Optional[Callable[[int], tuple[int, int]]] = None, whose: str = "") -> Optional[str]:
    """Why frames of `size` (width, height) cannot be written to `output` (of `kind`) at `fps`, or None. Said
    before any work where the size is known up front (a --paste photo's, from its header): libx264 failed only
    after every frame was rendered, and past H.264's largest level it wrote a file labelled with a level it
    exceeds. `resized(width)` is the frames' size at `--size width` (None: --size does not change it); the
    advice names the largest `--size` that fits (a lower `--fps` where only the rate is too high), and the
    outputs that hold the frames as they are. `whose` says where the size comes from ("--paste into a.jpg")."""
    width, height = size
    if _holds(kind, width, height, fps):
        return None
    if kind == "mp4":
        blocks = _macroblocks(width, height)
        if max(width, height) > H264_MAX_SIDE or blocks > H264_MAX_FRAME_MACROBLOCKS:
            why = (f"H.264 holds frames of at most {H264_MAX_FRAME_MACROBLOCKS:,} blocks of 16x16 px (8192x4352) "
                   f"and {H264_MAX_SIDE} px a side")
        else:
            why = (f"H.264 plays at most {H264_MAX_MACROBLOCKS_PER_SECOND:,} blocks of 16x16 px a second, "
                   f"{H264_MAX_MACROBLOCKS_PER_SECOND // blocks} frames of this size")
    else:
        why = f"its frames are at most {GIF_MAX_SIDE if kind == 'gif' else JPEG_MAX_SIDE} px a side"
    uses = []
    if kind == "mp4" and blocks <= H264_MAX_FRAME_MACROBLOCKS and max(width, height) <= H264_MAX_SIDE:
        slowest = math.floor(H264_MAX_MACROBLOCKS_PER_SECOND / blocks * 1000) / 1000
        slowest = int(slowest) if slowest.is_integer() else slowest  # fps=120, not 120.0, to a Python caller
        uses.append(f"{option('fps', slowest)} or less")
    if resized is not None:
        step = 2 if kind == "mp4" else 1  # an MP4's --size is even (output_paths.odd_mp4_size)
        fitting = [w for w in range(SIZE[1] - SIZE[1] % step, SIZE[0] - 1, -step)
                   if w <= width and _holds(kind, *resized(w), fps)]
        if fitting:
            uses.append(f"{option('size', fitting[0])} or less")
    keep = [_KIND_WORDS[other] for other in ("gif", "html", "frames") if other != kind
            and _holds(other, width, height, fps)]
    write = f"write {', '.join(keep[:-1])}{' or ' if len(keep) > 1 else ''}{keep[-1]}, which keep {width}x{height}"
    source = f" ({whose})" if whose else ""
    return (f"{os.fspath(output)}: frames of {width}x{height}{source} are too large for {_KIND_NAMES[kind]}: "
            f"{why}; {''.join(f'use {u}, or ' for u in uses)}{write}")


# --- writers ------------------------------------------------------------------------------------


class FrameWriter:
    """Base class: validates frames, counts them, commits atomically; a context manager.

    Subclasses implement `_write(frame)`, `_finish()` (complete the temporary output) and
    `_discard()` (stop any helper process, close handles). `self._tmp` is the temporary path, made
    (`files.new_temp`) and in hand in one go, `with self._aborted_on_failure(), deferred():`: a stop
    landing as it was made (a Python caller's SIGTERM handler's) left it, locked, until the process exited.
    `size` is (width, height), like Pillow and ffmpeg; frames are numpy [height, width, 3].
    """

    kind = "?"

    def __init__(self, path: PathLike, *, size: Optional[tuple[int, int]] = None):
        self.path = write_target(path)
        self.name = os.fspath(path)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        if self.size is not None and min(self.size) < 1:
            raise ValueError(f"size must be positive (width, height), got {size!r}")
        self.frames_written = 0
        self._tmp: Optional[Path] = None
        self._state = "open"
        # -o deep/er/out.mp4 makes its folders, as a batch row's do (`output_paths.check_output_path` checked
        # that they can be made); they are removed again if the output is dropped (`abort`), while still empty.
        self._made: list[Path] = []
        with deferred():
            self._made = make_folders(self.path.parent, self.name)

    # public interface

    @property
    def written_size(self) -> Optional[tuple[int, int]]:
        """(width, height) of the frames as stored in the file (an MP4 pads odd sizes to even ones)."""
        return self.size

    def write(self, frame: np.ndarray) -> None:
        """Append one [H, W, 3] uint8 frame (all frames must have the same size)."""
        raise_swallowed()  # a stop Python could only print (interp_cli.stops' module doc) stops the run here
        if self._state != "open":
            raise ValueError(f"{self.name}: writer is already {self._state}")
        import numpy as np

        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be [H, W, 3] uint8, got {frame.dtype} array of shape {frame.shape}")
        size = (frame.shape[1], frame.shape[0])
        if self.size is None:
            self.size = size
        elif size != self.size:
            expected = f"{self.size[0]}x{self.size[1]}"
            raise ValueError(f"frame {self.frames_written} is {size[0]}x{size[1]}, expected {expected}")
        if self.frames_written == 0:  # what a caller could not check before (a --paste morph's is, from the photo)
            problem = frames_too_large(self.kind, self.name, self.size, float(getattr(self, "rate", 30)))
            if problem:
                raise UsageError(problem)
        try:
            self._write(np.ascontiguousarray(frame))
        except OSError as err:  # full disk, file-size limit...: one line naming the output
            raise environment_error(err, self.name) from None
        self.frames_written += 1

    def finish(self) -> None:
        """Complete the output in its temp, not yet in place: `commit` moves it there (with a command's
        other outputs, `interp_cli.files.Outputs`), `abort` drops it. Inside `with`, leaving the block
        then commits nothing: whoever called finish() commits. On any failure: abort, then re-raise."""
        if self._state != "open":
            return
        with self._aborted_on_failure():
            if self.frames_written == 0:
                raise InterpError(f"{self.name}: no frames were written")
            self._finish()
        self._state = "finished"

    def commit(self) -> None:
        """Move the finished output into place (`finish` first). On any failure: abort, then re-raise."""
        if self._state != "finished":
            raise ValueError(f"{self.name}: writer is {self._state}, not finished")
        with self._aborted_on_failure():
            self._commit()
        self._state = "closed"

    def close(self) -> None:
        """Finish the output and move it into place. On any failure: abort, then re-raise."""
        if self._state != "open":
            return
        self.finish()
        self.commit()

    @contextmanager
    def _aborted_on_failure(self) -> Iterator[None]:
        """The rule of `finish` and `commit`: on any failure, abort, then re-raise; an OSError (a full disk, a
        file-size limit) as the one line that names the output."""
        try:
            try:
                yield
            except OSError as err:
                raise environment_error(err, self.name) from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop everything written so far; an existing target is left untouched. Never raises."""
        if self._state not in ("open", "finished"):
            return
        self._state = "aborted"
        with deferred():  # quick (ffmpeg is killed, not waited for to finish): a second stop waits for it
            try:
                self._discard()
            except OSError:
                pass  # e.g. closing a file whose buffered bytes no longer fit: the original error is reported
            finally:
                discard(self._tmp)
                remove_folders(self._made)

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def __del__(self):
        # A writer dropped without close() must not leave a temp file behind either.
        try:
            self.abort()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass

    # hooks

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        pass

    def _commit(self) -> None:
        commit(self._tmp, self.path)
        self._tmp = None
