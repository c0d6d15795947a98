"""Frame writers (MP4, PNG-frame directory; GIF is gif.py's, the HTML page page.py's) behind one streaming,
atomic interface. An output path is checked first, before any heavy work: `interp_cli.output_paths`.

    with open_writer(path, fps=30, quality=8) as w:
        for frame in frames:                      # [H, W, 3] uint8
            w.write(frame)                        # streamed to disk, nothing kept in memory
    write_image(path, frame)                      # one PNG (uint8) or .npy (any array)

Atomicity (the habits live in `interp_cli.files`): every output is first written under a hidden
temporary name in the target's own directory (`.out.tmp-<token>.mp4`, a `.frames.tmp-<token>`
directory), owned by this process's lock on it, flushed to disk, and renamed into place only once
it is complete.
An error or Ctrl-C (the context manager aborts on any exception, KeyboardInterrupt included)
removes the temporary and never touches an existing target. An output named by a symlink is written
where the link points (`files.write_target`). A writer can also `finish()` (complete in its temp) and be
committed later, with a command's other outputs (`interp_cli.files.Outputs`). Only a hard kill (SIGKILL, power
loss) can leave a temp behind, and the next run writing into that directory removes it. A full
disk or a file-size limit is one line naming the output (exit 1), never a crash.

MP4: H.264 (libx264) through imageio-ffmpeg's bundled ffmpeg binary, fed raw RGB over a pipe,
yuv420p (plays everywhere, including browsers and QuickTime), converted with the BT.709 matrix to
limited range and tagged so (`_TO_BT709`), `+faststart` (index at the front so browsers start
playing before the download ends). yuv420p needs even dimensions (H.264 keeps one colour sample per 2x2
pixels, and can crop a picture only by whole such blocks): an odd `--size` asked for an MP4 is refused
(`odd_mp4_size`, naming the even sizes beside it), while frames of an odd size the tool chose (a `--paste`
photo's) are padded by one row/column that repeats the edge pixels (never rescaled), said in a warning
(`padded_warning`) and in the size reported. H.264 4:4:4 would keep odd sizes, but Firefox, Safari/QuickTime
and hardware decoders do not play it.
`quality` is 0..10 (10 best) and maps linearly to x264's CRF as `crf = 34 - 2 * quality`:
10 -> 14, 8 (default) -> 18 ("visually lossless"), 5 -> 24 (~x264's default), 0 -> 34.
x264 runs with `-preset faster` and a fixed 8 threads (`X264_THREADS`: the same frames, the same bytes on
any machine): on 1024x1024 morph frames at CRF 18 it needed 37% less CPU
than the default `medium` at the same PSNR to the source (55.5 vs 55.4 dB), files 7% larger;
that CPU is shared with the generator, so it is time off every frame. The stream's rate is
`frame_writer.frame_rate`'s: exact, and `--fps 23.976` (or 23.98, 29.97, 59.94) the NTSC 24000/1001 (30000/1001...).

Frames directory: frame_0000.png, frame_0001.png, ... (at least 4 digits, more when
`expected_frames` needs it or the count outgrows them), fast zlib level 1 (PNG is lossless
anyway). An existing target directory is replaced only on success, and only if it holds
nothing but frame_*.png files (we never delete a directory of the user's other files).
"""
from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .errors import InterpError
from .failures import NO_ROOM, descriptors_short, environment_error
from .files import PathLike, Outputs, claim_temp, commit, discard, new_temp, write_target
from .frame_writer import FrameWriter, check_fps, frame_rate, quality_to_crf
from .gif import GifWriter
from .output_paths import ANIMATION_OUTPUTS, check_output_path, output_kind
from .stops import deferred

if TYPE_CHECKING:
    import numpy as np
# numpy and PIL (and the page writer, which needs both) are imported where frames are written, not here. The
# output checks `interp batch` runs on its manifest's rows, which must answer as fast as --help (`interp batch
# missing.csv`), not after 0.2 s of imports, are output_paths.py's, which imports neither.


# RGB -> Y'CbCr with the BT.709 matrix, limited ("tv") range, and the stream tagged so (matrix, primaries,
# transfer, range): untagged, a browser guesses the matrix from the frame size (Chromium: BT.601 for a
# small video, BT.709 for HD), while swscale converts with BT.601 unless told, so a 1024 px morph played
# with every saturated colour shifted (pure green 255 -> 217). sRGB's primaries are BT.709's, and under the
# BT.709 transfer tag Chromium shows greys as written. setparams puts the tags on the frames (what newer
# ffmpeg encodes), the -color_* options on the encoder (what ffmpeg 4 encodes); benchmarks/README.md,
# "Colour, photo in to video out".
_TO_BT709 = ("scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
             "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709")
_BT709_TAGS = ("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv")
# x264's own default is 1.5 threads per CPU, and its frame threads decide how frames are coded: the same morph
# gave other MP4 bytes on 1, 2 or 16 cores (a cluster's nodes disagreed on a checksum). A fixed count makes the
# bytes the machine's no more; 8 costs no CPU on 2 cores against the default's 3 and keeps up with a GPU's frames
# on a big node (benchmarks/README.md, "A first 1024 morph's memory, and MP4 bytes").
X264_THREADS = 8


def padded_warning(name: PathLike, size: tuple[int, int], written: tuple[int, int]) -> str:
    """The warning for frames of an odd `size` (width, height) that an MP4 stores padded to `written`."""
    sides = [side for side, odd in (("column", size[0] % 2), ("row", size[1] % 2)) if odd]
    repeat = "column and row repeat" if len(sides) == 2 else f"{sides[0]} repeats"
    return (f"warning: {os.fspath(name)}: written {written[0]}x{written[1]}: the frames are {size[0]}x{size[1]} and "
            f"an MP4 needs even sides, so its last {repeat} the edge (a .gif, .html or frames/ keep "
            f"{size[0]}x{size[1]})")


class Mp4Writer(FrameWriter):
    """H.264/yuv420p MP4 via the bundled ffmpeg; frames are piped, nothing is buffered here."""

    kind = "mp4"

    def __init__(self, path: PathLike, *, fps: float = 30, quality: float = 8, size=None):
        self.fps = check_fps(fps)
        self.rate = frame_rate(fps)
        self.crf = quality_to_crf(quality)
        self._proc: Optional[subprocess.Popen] = None
        self._stderr = None
        self._padded: Optional[tuple[int, int]] = None
        super().__init__(path, size=size)
        with self._aborted_on_failure(), deferred():  # the temp made and in hand in one go (FrameWriter)
            self._tmp = new_temp(self.path)

    def _start(self) -> None:
        import imageio_ffmpeg  # deferred: resolving the binary is only needed when encoding

        width, height = self.size
        self._padded = (width + width % 2, height + height % 2)
        try:
            exe = imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError:
            # imageio-ffmpeg found no ffmpeg that runs: its own binary is missing (no wheel for this machine) or
            # cannot run (a noexec mount, a lost mode bit), and there is none on PATH. Its words name no output.
            # Or its probe could not start one at all: no descriptors left for the pipes (`ulimit -n 6`).
            short = descriptors_short()
            if short is not None:
                raise environment_error(short, self.name) from None
            raise InterpError(
                f"{self.name}: no ffmpeg that runs here to encode it (imageio-ffmpeg's own is missing or cannot run): "
                f"install ffmpeg, or set IMAGEIO_FFMPEG_EXE to an ffmpeg binary, or {self._instead()}") from None
        cmd = [
            exe,
            "-hide_banner", "-nostats", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self._padded[0]}x{self._padded[1]}",
            "-framerate", str(self.rate), "-i", "pipe:0",
            # The encoder's time base is the frame time itself: left to ffmpeg, it follows ffmpeg's own guess of
            # the rate, which stored 119.88 and 239.76 fps (2997/25 or 120000/1001 alike) as 120 and 240.
            "-an", "-vf", _TO_BT709, "-enc_time_base", str(1 / self.rate),
            "-c:v", "libx264", "-preset", "faster", "-crf", str(self.crf), "-threads", str(X264_THREADS),
            "-pix_fmt", "yuv420p", *_BT709_TAGS,
            "-movflags", "+faststart", "-f", "mp4", "-y", str(self._tmp),
        ]  # fmt: skip
        # stderr goes to an anonymous temp file: a pipe nobody drains could deadlock ffmpeg.
        self._stderr = tempfile.TemporaryFile()
        try:
            # Own session: a Ctrl-C reaches only us, and abort() decides ffmpeg's fate. Deferred: a
            # Ctrl-C inside Popen, after the fork, would leave an ffmpeg that abort() cannot see.
            with deferred():
                self._proc = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True
                )
        except OSError as err:
            if err.errno == errno.EMFILE:  # the process's descriptor limit: said with it, and how to raise it
                raise environment_error(err, self.name) from None
            # imageio-ffmpeg hands out IMAGEIO_FFMPEG_EXE as given, unprobed: a name there that is missing or cannot
            # run was said as "m.mp4: cannot start ffmpeg (No such file or directory)", which reads as if the
            # output's folder were missing, and named neither the binary nor the setting that chose it.
            given = " (IMAGEIO_FFMPEG_EXE)" if os.environ.get("IMAGEIO_FFMPEG_EXE") == exe else ""
            raise InterpError(f"{self.name}: cannot start ffmpeg {exe}{given}: {err.strerror or err}; "
                              f"{self._instead()}") from None

    def _instead(self) -> str:
        """The outputs that need no ffmpeg, named after this one."""
        stem = Path(self.name).with_suffix("")
        return f"write {stem}.gif or PNG frames to {stem}/ instead"

    def _ffmpeg_error(self, what: str) -> InterpError:
        text = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
        # A full disk or a file-size limit reads the same as for the other writers.
        if self._proc is not None and self._proc.returncode == -signal.SIGXFSZ:
            return environment_error(OSError(errno.EFBIG, os.strerror(errno.EFBIG)), self.name)
        for number in sorted(NO_ROOM):
            if os.strerror(number) in text:
                return environment_error(OSError(number, os.strerror(number)), self.name)
        lines = text.splitlines()
        detail = f": {lines[-1].strip()}" if lines else ""
        return InterpError(f"{self.name}: ffmpeg {what}{detail}")

    def _write(self, frame: np.ndarray) -> None:
        if self._proc is None:
            self._start()
        ph, pw = self._padded[1] - frame.shape[0], self._padded[0] - frame.shape[1]
        if ph or pw:
            import numpy as np

            frame = np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(memoryview(frame).cast("B"))
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise self._ffmpeg_error(f"stopped unexpectedly (exit {self._proc.returncode})") from None

    def _finish(self) -> None:
        try:
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # reported through the exit status below
        code = self._proc.wait()
        if code != 0:
            raise self._ffmpeg_error(f"failed (exit {code})")
        self._stderr.close()
        self._stderr = None

    def _discard(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # no graceful finish: the output is being thrown away
            proc.wait()
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def written_size(self) -> Optional[tuple[int, int]]:
        return self._padded or self.size


class FramesWriter(FrameWriter):
    """A directory of frame_NNNN.png files, built in a temp directory and swapped in at the end."""

    kind = "frames"

    def __init__(self, path: PathLike, *, size=None, expected_frames: Optional[int] = None):
        super().__init__(path, size=size)
        self.digits = max(4, len(str(max(0, (expected_frames or 0) - 1))))
        with self._aborted_on_failure(), deferred():  # the temp made and in hand in one go (FrameWriter)
            self._tmp = new_temp(self.path, directory=True)

    def _frame_path(self, index: int, digits: int) -> Path:
        return self._tmp / f"frame_{index:0{digits}d}.png"

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image

        with open(self._frame_path(self.frames_written, self.digits), "wb") as fh:
            Image.fromarray(frame, "RGB").save(fh, format="PNG", compress_level=1)
            fh.flush()
            os.fsync(fh.fileno())  # the directory is renamed into place: its files must be on disk first

    def _finish(self) -> None:
        # More frames than the padding allows would break name order: widen every name.
        needed = len(str(self.frames_written - 1))
        if needed > self.digits:
            for i in range(self.frames_written):
                os.rename(self._frame_path(i, self.digits), self._frame_path(i, needed))
            self.digits = needed

    def _commit(self) -> None:
        # Another run may be committing the same target at the same moment: retry until ours is in.
        for _ in range(20):
            if not self.path.exists():
                try:
                    commit(self._tmp, self.path)
                except OSError as err:
                    if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
                    continue  # someone else's frames arrived first: replace them below
                self._tmp = None
                return
            check_output_path(os.path.join(self.path, ""))  # still only our frames in there? (a folder, said so)
            # POSIX cannot swap two directories atomically: move the old one aside, move the new
            # one in, and restore the old one if that fails; the old one is deleted only after. The swap runs
            # whole: a stop landing as the old folder had been moved aside was taken for a failed move, and the
            # folder holding the old frames was removed with the new ones dropped (the output lost).
            with deferred():
                old = claim_temp(self.path, "old", directory=True, create=False)  # locked: no sweep takes it
                try:
                    replacing = os.stat(self.path)  # its mode is kept (files.commit): a private folder stays so
                    os.rename(self.path, old)
                except FileNotFoundError:
                    discard(old)
                    continue  # the other run moved it first
                except BaseException:
                    discard(old)
                    raise
                try:
                    commit(self._tmp, self.path, replacing=replacing)
                except BaseException:
                    try:
                        os.rename(old, self.path)
                    except OSError:
                        pass  # a third run's frames took the place; ours and the old ones are both dropped
                    discard(old)
                    raise
                self._tmp = None
                discard(old)
            return
        raise InterpError(f"{self.name}: other runs kept replacing this directory; try again")  # pragma: no cover


def open_writer(
    path: PathLike,
    *,
    fps: float = 30,
    quality: int = 8,
    size: Optional[tuple[int, int]] = None,
    expected_frames: Optional[int] = None,
    about: Optional[dict] = None,
    log: Optional[Callable[[str], None]] = None,
) -> FrameWriter:
    """A FrameWriter for `path`, chosen by `output_kind`; use it as a context manager.

    fps: frames per second (MP4, GIF, HTML). quality: 0..10, 10 best: MP4 (CRF = 34 - 2*quality) and
    HTML (JPEG quality 50 + 5*quality) only.
    size: (width, height) the frames will have, optional (taken from the first frame).
    expected_frames: optional, widens frame_NNNN.png names up front for long runs.
    about: what an HTML page shows beside its frames (`interp_cli.page.page_about`); others ignore it.
    log: where an HTML page's warning goes (a page too large to open quickly); stderr if None; others ignore it.
    Raises UsageError for an unusable path (see `check_output_path`) or bad fps/quality.
    """
    check_output_path(path)
    kind = output_kind(path, ANIMATION_OUTPUTS, allowed=("mp4", "gif", "frames", "html"))
    if kind == "mp4":
        return Mp4Writer(path, fps=fps, quality=quality, size=size)
    if kind == "gif":
        return GifWriter(path, fps=fps, size=size)
    if kind == "frames":
        return FramesWriter(path, size=size, expected_frames=expected_frames)
    from .page import PageWriter

    return PageWriter(path, fps=fps, quality=quality, size=size, about=about, log=log)


# --- single images --------------------------------------------------------------------------


def write_image(path: PathLike, frame: np.ndarray, *, record: dict | None = None) -> None:
    """Write one image atomically: .png from [H, W, 3] (or [H, W]) uint8, .npy from any array.

    The .npy branch saves the array as given (e.g. float32 codes or renders) for exact reuse, with
    `record` after it (`interp_cli.npy.record_bytes`: which model made a code).
    """
    check_output_path(path)
    with Outputs() as outputs:  # its folders made as it is written, and removed again if it is not
        outputs.later(write_target(path), image_bytes(path, frame, record=record), name=path)
        outputs.commit()


def stage_image(outputs: Outputs, path: PathLike, frame: np.ndarray, *, record: dict | None = None) -> None:
    """`write_image` as one of a command's `Outputs`: encoded now, written and moved into place at its commit."""
    check_output_path(path)
    outputs.later(write_target(path), image_bytes(path, frame, record=record), name=path)


def image_bytes(path: PathLike, frame: np.ndarray, *, record: dict | None = None) -> bytes:
    """The bytes `write_image` writes to `path`: a PNG, or an .npy (numpy's format, no pickles).

    Built in memory: numpy writes straight into a real file with C stdio, whose short write on a full
    disk arrives as an OSError without an errno; written by Python, the same failure says ENOSPC or EFBIG.
    """
    import numpy as np
    from PIL import Image

    kind = output_kind(path, "a single image is written as .png or .npy", allowed=("png", "npy"))
    arr = np.asarray(frame)
    buffer = io.BytesIO()
    if kind == "png":
        if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise ValueError(f"PNG images must be [H, W, 3] or [H, W] uint8, got {arr.dtype} {arr.shape}")
        Image.fromarray(np.ascontiguousarray(arr)).save(buffer, format="PNG")
    else:
        np.save(buffer, arr, allow_pickle=False)
        if record is not None:
            from interp_cli.npy import record_bytes

            buffer.write(record_bytes(record))
    return buffer.getvalue()

