"""Frame writers (MP4, GIF, PNG-frame directory; the HTML page is page.py's) behind one streaming, atomic interface.

    check_output_path(path)                       validate the target before any heavy work
    output_kind(path) -> "mp4" | "gif" | "html" | "frames" | "png" | "npy"
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
where the link points (see `_target`). A writer can also `finish()` (complete in its temp) and be
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
x264 runs with `-preset faster`: on 1024x1024 morph frames at CRF 18 it needed 37% less CPU
than the default `medium` at the same PSNR to the source (55.5 vs 55.4 dB), files 7% larger;
that CPU is shared with the generator, so it is time off every frame. The stream's rate is
`frame_writer.frame_rate`'s: exact, and `--fps 23.976` (or 23.98, 29.97, 59.94) the NTSC 24000/1001 (30000/1001...).

GIF: written frame by frame, truly streaming: each frame gets its own 256-colour palette
(median cut, computed on a box-downsampled copy of at most ~32k pixels for speed, then the
full frame mapped to it without dithering, because error diffusion makes smooth skin
"boil" from frame to frame). Pillow's C encoder LZW-compresses the frame; its image block is
spliced into our file with a local colour table, so the writer holds one frame at a time (and the
one before it). A frame stores only the rectangle where it differs from the one before (the rest
stays on screen), and inside it draws the pixels that did not change transparent (255 colours and a
transparent one); a frame equal to the one before is one transparent pixel. Re-quantising pixels
that did not change, each time with another palette, made them flicker (a `--paste` GIF's photo
around the face: 13-18 % of its unchanged pixels moved on screen every frame, now none) and stored
them again each frame (that GIF of the repo's two faces: 4.66 MB, now 0.77 MB).
It loops forever (NETSCAPE2.0 loop count 0). GIF delays are whole centiseconds, so they are
error-diffused to keep the total duration right (30 fps -> 3,3,4,3,3,4 cs...); delays under
2 cs are raised to 2 cs because browsers slow those down to 10 cs (so fps is capped at 50).
`quality` does not apply to GIF or PNG.

Frames directory: frame_0000.png, frame_0001.png, ... (at least 4 digits, more when
`expected_frames` needs it or the count outgrows them), fast zlib level 1 (PNG is lossless
anyway). An existing target directory is replaced only on success, and only if it holds
nothing but frame_*.png files (we never delete a directory of the user's other files).
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import signal
import stat
import struct
import subprocess
import tempfile
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .errors import NO_ROOM, InterpError, UsageError, environment_error, speaking_to_cli
from .errors import option as spelt
from .limits import SIZE, GIF_MAX_FPS, GIF_MIN_DELAY_CS  # noqa: F401 - GIF_MAX_FPS: what the GIF writer can play
from .files import (PathLike, Outputs, claim_temp, commit, discard, new_temp, temp_like, too_long_name,
                    write_target)
from .frame_writer import FrameWriter, check_fps, frame_rate, quality_to_crf
from .stops import deferred

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image
# numpy and PIL (and the page writer, which needs both) are imported where frames are written, not here:
# `interp batch` checks its manifest's output paths with this module's checks, and a refused manifest
# (`interp batch missing.csv`) should answer as fast as --help, not after 0.2 s of imports.


_KINDS = {".mp4": "mp4", ".gif": "gif", ".html": "html", ".png": "png", ".npy": "npy"}
_FRAME_NAME = re.compile(r"^frame_\d+\.png$")
_GIF_PALETTE_SAMPLE = 32768  # pixels used to choose a frame's palette
# Failures ffmpeg reports in strerror words that are the machine's, not the encoder's.


# --- paths ------------------------------------------------------------------------------------


ANIMATION_OUTPUTS = ("frames are written as .mp4, .gif, .html, or PNG into a folder named with a trailing slash: "
                     "{folder}")
MORPH_OUTPUTS = ("a morph is written as .mp4, .gif, .html, a .png contact sheet, or PNG frames into a folder "
                 "named with a trailing slash: {folder}")
# An output named like one of our temps (`files.temp_like`) would be removed by the next run writing beside it.
TEMP_LIKE = ("{part!r} has the form of interp's hidden temporary files (.NAME.tmp-, .old- or .claim- and 16 hex "
             "digits), which the next run writing there removes; choose another name")


def output_kind(path: PathLike, accepts: str = MORPH_OUTPUTS, *, allowed: Optional[Collection[str]] = None,
                option: Optional[str] = None) -> str:
    """What `path` asks for: "mp4", "gif", "html" (a page, `interp_cli.page`), "frames" (a PNG-per-frame
    directory), "png" or "npy".

    A path ending in "/" or naming an existing directory, or a name without a suffix (a `Path`
    cannot end in "/"), is a frames directory, but an existing directory typed like a file (the str
    "x.html") is refused; the command line and batch rows refuse a suffixless
    new name (`missing_file_type`). Suffixes are case-insensitive. Standard output ("-", /dev/stdout) and
    devices are refused (`_stream`). `allowed`: the kinds the caller writes (default: all). Anything else
    is a UsageError that ends with `accepts`, the caller's own list of outputs, and names the path as
    `option PATH` when an `option` (a keyword: "sheet", said as `errors.option` says it) is given: every
    refused output reads alike, from here.
    """
    text = os.fspath(path)
    shown = spelt(option, text) if option else text
    suffix = Path(text).suffix.lower()
    if isinstance(path, str) and _stream(text):
        raise UsageError(f"{shown}: {_STREAM} ({accepts.format(folder='frames/')})")
    if text.endswith(("/", os.sep)):
        kind = "frames"
    elif os.path.isdir(text):
        # `-o x.html` typed asks for a page: PNG frames in a folder that happens to be there surprise. A
        # Path cannot end in "/", so a Python caller's Path to an existing folder still means frames.
        if suffix in _KINDS and isinstance(path, str):
            frames = (" (or end the name with / to write a morph's PNG frames into it)"
                      if accepts == MORPH_OUTPUTS else "")
            raise UsageError(f"{shown}: is a folder, but a {suffix} output is a file; remove or rename the "
                             f"folder{frames}")
        kind = "frames"
    elif not suffix:
        kind = "frames"
    elif suffix in _KINDS:
        kind = _KINDS[suffix]
    else:
        kind = None
    if kind is None or (allowed is not None and kind not in allowed):
        what = (f"unsupported output type '{Path(text).suffix}'" if Path(text).suffix and kind != "frames"
                else "is a folder" if text.endswith(("/", os.sep)) or os.path.isdir(text) else "no file type")
        raise UsageError(f"{shown}: {what} ({accepts.format(folder='frames/')})")
    return kind


# Said for `-o -` and `-o /dev/stdout`: every output is written under a temp name and renamed into place,
# which a stream or a device cannot be (and "-/" or "/dev/stdout/" as a folder would not work either).
_STREAM = "writing to standard output or a device is not supported; name a file instead"
_STREAM_NAMES = ("/dev/stdout", "/dev/stderr", "/dev/tty")
_STREAM_FOLDERS = ("/dev/fd/", "/proc/self/fd/")


def _stream(text: str, where: Optional[PathLike] = None) -> bool:
    """Whether the typed output name `text` (landing on `where`, if given) is standard output or a device:
    "-" as typed, a name of the standard streams (by name: /dev/stdout redirected into a file stats as
    that file), or anything existing there that is neither a regular file nor a folder."""
    if where is None and text == "-":
        return True
    place = os.path.normpath(os.fspath(text if where is None else where))
    if place in _STREAM_NAMES or place.startswith(_STREAM_FOLDERS):
        return True
    try:
        mode = os.stat(place).st_mode
    except OSError:
        return False  # nothing there yet (or unreadable): check_output_path says what is wrong
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def missing_file_type(text: str, where: Optional[PathLike] = None) -> Optional[str]:
    """Why the typed output name `text` is refused, or None: it is standard output or a device (`_stream`),
    or it has no suffix, does not end in "/" and is not an existing folder (`where`, if given, is where it
    lands on disk; else `text` itself).

    A typo for `m2.mp4` silently becoming a folder of PNGs is the surprise; `out/m2/` says the folder.
    """
    if _stream(text, where):
        return f"{_STREAM} ({MORPH_OUTPUTS.format(folder='frames/')})"
    if text.endswith(("/", os.sep)) or _has_suffix(text) or os.path.isdir(text if where is None else where):
        return None
    return f"no file type ({MORPH_OUTPUTS.format(folder=text.rstrip('/' + os.sep) + '/')})"


def _has_suffix(text: str) -> bool:
    """`bool(Path(text).suffix)` without building a Path (a batch asks it for every row of the manifest): a dot
    inside the last name, neither first nor last. A last part "." or "" (x/., x/) is another name to Path."""
    name = os.path.basename(text)
    if name in (".", ""):
        return bool(Path(text).suffix)
    dot = name.rfind(".")
    return 0 < dot < len(name) - 1


def refuse_suffixless(text: str) -> None:
    """`-o out/m2`: a typed name with no suffix that is not an existing folder is refused, not guessed."""
    problem = missing_file_type(text)
    if problem is not None:
        raise UsageError(f"{text}: {problem}")


def real_path(path: PathLike) -> Path:
    """The absolute path `path` lands on, symlinks resolved (also for a name that does not exist yet)."""
    return Path(os.path.realpath(os.fspath(path)))


# What each one-output verb writes: (what its refusal says, the kinds it takes).
_VERB_OUTPUTS = {
    "encode": ("codes are written as .npy", ("npy",)),
    "render": ("render writes a .png image or a .npy float array", ("png", "npy")),
    "mix": ("mix writes a .png image or a .npy code", ("png", "npy")),
}


def check_verb_output(verb: str, output: PathLike) -> str:
    """`encode`, `render` or `mix`'s -o checked as the verb checks it before any work (returned: its kind).
    Torch-free, like `check_morph_outputs`, so `interp encode a.jpg -o a.png` is refused before the import."""
    accepts, allowed = _VERB_OUTPUTS[verb]
    kind = output_kind(output, accepts, allowed=allowed)
    check_output_path(output, make_parents=True)
    return kind


def check_morph_outputs(output: PathLike, sheet: Optional[PathLike] = None, size: Optional[int] = None) -> str:
    """A morph's -o and --sheet checked as `pipeline.morph` checks them before any work: what each asks for
    (returned: -o's kind), that each can be written, and that they are not one file; with a `size` (the
    command's, already an int in range), that an MP4 can be that size. Torch-free, so `interp` refuses a bad
    -o before it imports the pipeline, with the line the morph would give."""
    if isinstance(output, str):  # "out/m2", as typed: a typo for m2.mp4 is refused (a Path cannot end in "/")
        refuse_suffixless(output)
    kind = output_kind(output, allowed=("mp4", "gif", "html", "frames", "png"))  # says what a morph writes
    check_output_path(output, make_parents=True)
    if sheet is not None:
        output_kind(sheet, "the contact sheet is a .png file", allowed=("png",), option="sheet")
        check_output_path(sheet, make_parents=True)
        refuse_clashes([("output", output), ("sheet", sheet)])
    odd = odd_mp4_size(size) if kind == "mp4" else None
    if odd:
        raise UsageError(odd)
    return kind


def _the_output(name: str, path: PathLike, what: str = "output") -> str:
    """Another output, named in a refusal: "the -o output out.gif" on the command line, 'the output
    output="out.gif"' to a Python caller."""
    if speaking_to_cli():
        return f"the {spelt(name)} {what} {os.fspath(path)}"
    return f"the {what} {spelt(name, os.fspath(path))}"


def refuse_clashes(outputs: Sequence[tuple]) -> None:
    """UsageError if two of a command's outputs, given as (option's keyword, path) with None for one not asked for,
    land on one file, or one lies inside the other (a --sheet or a --save-aligned crop inside the -o frames
    folder): the later rename would replace the earlier output, or leave a folder that the next run with
    the same -o refuses as holding other files. Checked before any work. An output the option does not name
    itself (a --save-aligned crop, made inside the folder given) comes as (keyword, path, how to say it)."""
    named = [(entry[0], entry[1], real_path(entry[1]), entry[2] if len(entry) > 2 else None)
             for entry in outputs if entry[1] is not None]
    for i, (name, path, real, said) in enumerate(named):
        for other_name, other, other_real, other_said in named[:i]:
            shown = said or spelt(name, os.fspath(path))
            if real == other_real:
                raise UsageError(f"{shown}: is also {other_said or _the_output(other_name, other)}; "
                                 f"give each output its own name")
            for inner, outer, outer_name, outer_path in ((real, other_real, other_name, other),
                                                         (other_real, real, name, path)):
                if outer in inner.parents:
                    frames = output_kind(outer_path) == "frames"
                    what, why = (("frames folder", "a frames folder holds only its frames") if frames
                                 else ("output", "that name is a file"))
                    raise UsageError(f"{shown}: lies inside {_the_output(outer_name, outer_path, what)}; "
                                     f"put it elsewhere ({why})")


def _foreign_entries(directory: Path) -> list[str]:
    """Entries of an existing frames target that are not frame_*.png (so not ours to delete)."""
    return sorted(e.name for e in os.scandir(directory) if not (_FRAME_NAME.match(e.name) and e.is_file()))


def check_output_path(path: PathLike, *, make_parents: bool = False) -> None:
    """Refuse an output path that could only fail after the heavy work: call this first.

    Checks the kind (suffix), that the parent directory exists, is a directory and is
    writable, and that an existing target can be replaced (a file is never replaced by a
    frames directory, and a directory is replaced only if it holds only frame_*.png files).
    `make_parents`: the parent may be missing, to be made by the writer (every output of interp's: -o
    deep/er/out.mp4 as a batch row's output or --save-aligned's folder, removed again if the output fails); then
    the nearest folder that exists must be writable. Writable is proven, not guessed from the mode
    bits: a temp is made and removed there (root passes every permission check, yet cannot create a
    file in /proc or on a read-only mount), and the output itself is not touched.
    """
    name = os.fspath(path)
    kind = output_kind(path)
    target = write_target(path)
    if os.path.islink(target):  # still a link after resolving: one that loops
        raise UsageError(f"{name}: is a symlink that leads nowhere (a loop)")
    parent = target.parent
    too_long = too_long_name(target)
    if too_long is not None:  # else the checks below would fail with ENAMETOOLONG
        raise UsageError(f"{name}: {too_long}")
    swept = temp_like(name)
    if swept is not None:
        raise UsageError(f"{name}: {TEMP_LIKE.format(part=swept)}")
    probe = target
    if make_parents:
        while not os.path.lexists(probe.parent) and probe.parent != probe.parent.parent:
            probe = probe.parent  # the first missing folder: made by a later mkdir in the nearest one that exists
        parent = probe.parent
    if not parent.exists():
        raise UsageError(f"{name}: directory '{parent}' {why_missing(parent)}")
    if not parent.is_dir():
        raise UsageError(f"{name}: '{parent}' is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        read_only = _on_read_only_mount(parent)
        refused = UsageError(f"{name}: directory '{parent}' is "
                             + ("on a read-only file system" if read_only else "not writable"))
        refused.errno = errno.EROFS if read_only else errno.EACCES  # as environment_error's: a batch stops on EROFS
        raise refused
    _probe_writable(probe, name, parent)
    if kind == "frames":
        if target.exists() and not target.is_dir():
            raise UsageError(f"{name}: exists and is not a directory")
        if target.is_dir():
            if target.resolve() == Path.cwd().resolve():
                raise UsageError(f"{name}: is the current directory; name a new directory for the frames")
            foreign = _foreign_entries(target)
            if foreign:
                raise UsageError(
                    f"{name}: directory already holds other files ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); refusing to replace it"
                )
    elif target.is_dir():  # unreachable through output_kind, kept as a guard for symlinks etc.
        raise UsageError(f"{name}: is a directory")


def why_missing(folder: Path) -> str:
    """Why a folder that `exists()` denies is not there. "does not exist" alone sent the user looking for a
    folder that `ls` shows them, where it is a symlink that loops or leads to nothing."""
    try:
        os.stat(folder)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "cannot be reached (a symlink loop)"
    if os.path.islink(folder):
        return f"is a symlink to '{os.readlink(folder)}', which does not exist"
    return "does not exist"


def _probe_writable(target: Path, name: str, parent: Path) -> None:
    """Make and remove a temp beside `target` (a name of the temp pattern, so a hard kill's leftover is swept)."""
    try:
        with deferred():  # made and removed in one go: a stop between left the probe there for the process's life
            discard(claim_temp(target))
    except OSError as err:
        if err.errno == errno.ENOENT:
            if not parent.is_dir():  # removed since it was checked
                raise UsageError(f"{name}: directory '{parent}' does not exist") from None
            # The folder is there, yet making a file in it says it is not: what /proc and /sys answer
            # (even to root), and "no such file or directory" alone would send the user looking for it.
            raise UsageError(f"{name}: cannot create files in directory '{parent}': its file system takes no new "
                             f"files (making one there said 'no such file or directory', though the directory "
                             f"exists)") from None
        refused = UsageError(f"{name}: cannot write in directory '{parent}' ({(err.strerror or str(err)).lower()})")
        refused.errno = err.errno
        raise refused from None


def _on_read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): said as "not writable"
        return False


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


def odd_mp4_size(size: Optional[int]) -> Optional[str]:
    """Why `--size` cannot be an MP4's, or None: an odd size, which H.264 cannot store (an odd side would be
    padded to the even one above it). Refused before any work: the user named that size, and a 101 px MP4 that
    plays as 102 px is not it. A size outside `limits.SIZE` is left to the range check, which says what fits."""
    if size is None or size % 2 == 0 or not SIZE[0] <= size <= SIZE[1]:
        return None
    return (f"{spelt('size', size)}: an MP4 needs even sides (H.264, as browsers and QuickTime play it, keeps colour "
            f"per 2x2 pixels); use {spelt('size', size - 1)} or {spelt('size', size + 1)}, or write a .gif, .html "
            f"or frames/, which keep {size} px")


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
            stem = Path(self.name).with_suffix("")
            raise InterpError(
                f"{self.name}: no ffmpeg that runs here to encode it (imageio-ffmpeg's own is missing or cannot run): "
                f"install ffmpeg, or set IMAGEIO_FFMPEG_EXE to an ffmpeg binary, or write {stem}.gif or "
                f"PNG frames to {stem}/ instead") from None
        cmd = [
            exe,
            "-hide_banner", "-nostats", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self._padded[0]}x{self._padded[1]}",
            "-framerate", str(self.rate), "-i", "pipe:0",
            # The encoder's time base is the frame time itself: left to ffmpeg, it follows ffmpeg's own guess of
            # the rate, which stored 119.88 and 239.76 fps (2997/25 or 120000/1001 alike) as 120 and 240.
            "-an", "-vf", _TO_BT709, "-enc_time_base", str(1 / self.rate),
            "-c:v", "libx264", "-preset", "faster", "-crf", str(self.crf),
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
            raise InterpError(f"{self.name}: cannot start ffmpeg ({err.strerror or err})") from None

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


class GifWriter(FrameWriter):
    """Animated GIF written block by block: one frame in memory, local palette per frame."""

    kind = "gif"

    def __init__(self, path: PathLike, *, fps: float = 30, size=None):
        self.fps = check_fps(fps)
        self.rate = frame_rate(fps)  # exact: the delays add up to frames / rate, an NTSC rate's too
        self._fh = None
        self._previous: Optional[np.ndarray] = None  # the frame before, to store only what changed
        self._centiseconds = 0  # delay emitted so far, for error diffusion
        super().__init__(path, size=size)
        with self._aborted_on_failure(), deferred():  # the temp made and in hand in one go (FrameWriter)
            self._tmp = new_temp(self.path)
            self._fh = open(self._tmp, "wb")  # closed in _finish / _discard

    def _header(self) -> bytes:
        width, height = self.size  # at most 65,535 each: FrameWriter.write refuses larger frames
        # No global colour table (0x70: 8-bit colour resolution); every frame brings its own.
        screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x70, 0, 0)
        loop_forever = b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"
        return screen + loop_forever

    def _next_delay(self) -> int:
        target = round((self.frames_written + 1) * 100 / self.rate)
        delay = max(GIF_MIN_DELAY_CS, target - self._centiseconds)
        self._centiseconds += delay
        return delay

    def _write(self, frame: np.ndarray) -> None:
        if self.frames_written == 0:
            self._fh.write(self._header())
            box, keep = (0, frame.shape[0], 0, frame.shape[1]), None
        else:
            box, keep = _changed_box(self._previous, frame)
        top, bottom, left, right = box
        block, transparent = _gif_image_block(frame[top:bottom, left:right], left=left, top=top, keep=keep)
        # Graphic control extension: disposal 1 (leave in place), the delay, and the colour drawn transparent
        # (the pixels that did not change: what is on screen there stays).
        flags = 0x04 if transparent is None else 0x05
        control = b"\x21\xf9\x04" + struct.pack("<BHBB", flags, self._next_delay(), transparent or 0, 0)
        self._fh.write(control + block)
        self._previous = frame.copy()  # the caller may reuse its array for the next frame

    def _finish(self) -> None:
        self._fh.write(b"\x3b")  # trailer
        self._fh.close()  # commit() fsyncs it

    def _discard(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _changed_box(previous: np.ndarray, frame: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """((top, bottom, left, right), keep): the smallest rectangle holding every pixel where `frame` differs
    from `previous` (bottom and right exclusive), and inside it, True where a pixel did not change. A frame
    equal to `previous` gives its top left pixel, kept."""
    import numpy as np

    differs = previous != frame
    # The channels OR'd one by one: numpy's any() over a last axis of 3 took 8x as long (50 ms at 1024 px).
    changed = differs[..., 0] | differs[..., 1] | differs[..., 2]
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return (0, 1, 0, 1), np.ones((1, 1), bool)
    columns = np.flatnonzero(changed[rows[0]:rows[-1] + 1].any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    return (top, bottom, left, right), ~changed[top:bottom, left:right]


def _gif_image_block(frame: np.ndarray, *, left: int = 0, top: int = 0,
                     keep: Optional[np.ndarray] = None) -> tuple[bytes, Optional[int]]:
    """(`frame` as a GIF image block at (left, top) of the screen: descriptor, local colour table, LZW
    data; the colour index drawn transparent, or None). `keep`: [h, w] bool, True for pixels to leave as
    they are on screen: 255 colours and one transparent then."""
    import numpy as np
    from PIL import Image

    img = Image.fromarray(frame, "RGB")
    if keep is not None and keep.all():  # nothing to draw
        # Colour 0 white: a colour table that reads as the grey ramp 0, 1, 2... made Pillow 9.3 take the
        # frame for a greyscale one and fail to read it ("image has no palette").
        blank = Image.new("P", img.size, 0)
        blank.putpalette([255, 255, 255])
        return _extract_image_block(_single_gif(blank, transparency=0), left, top)
    kept = keep is not None and keep.any()
    sample = img
    pixels = img.width * img.height
    if pixels > _GIF_PALETTE_SAMPLE:
        scale = math.sqrt(_GIF_PALETTE_SAMPLE / pixels)
        sample = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.Resampling.BOX)
    # The kept pixels take part in the palette's sample: leaving them out (a strided sample of the others)
    # made median cut 1.5x slower, having no box average to smooth the colours it sorts.
    palette = sample.quantize(255 if kept else 256, method=Image.Quantize.MEDIANCUT)
    indexed = img.quantize(palette=palette, dither=Image.Dither.NONE)
    if kept:
        indices = np.array(indexed)
        # An index no pixel uses: the 256th with a 255-colour palette in recent Pillow (max() costs 0.01 ms at
        # 1024 px); Pillow 9.3 also maps to the palette's padding, so there it is counted for (16 ms). None
        # left for "transparent": every pixel is drawn.
        free = (np.array([255]) if indices.max() < 255
                else np.flatnonzero(np.bincount(indices.ravel(), minlength=256) == 0))
        if free.size:
            indices[keep] = free[0]
            colours = palette.getpalette()
            indexed = Image.fromarray(indices, "P")
            indexed.putpalette(colours + [0] * (768 - len(colours)))
            return _extract_image_block(_single_gif(indexed, transparency=int(free[0])), left, top)
    return _extract_image_block(_single_gif(indexed), left, top)


def _single_gif(indexed: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    indexed.save(buf, format="GIF", interlace=False, **options)
    return buf.getvalue()


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        n = data[pos]
        pos += 1
        if n == 0:
            return pos
        pos += n


def _extract_image_block(gif: bytes, left: int = 0, top: int = 0) -> tuple[bytes, Optional[int]]:
    """From a single-frame GIF, its first image block, with the colour table made local, placed at (left, top),
    and the colour index its graphic control extension draws transparent (None if none): Pillow may have
    renumbered the colours it was given."""
    width_height_packed = struct.unpack_from("<HHB", gif, 6)
    screen_packed = width_height_packed[2]
    pos = 13
    global_table = b""
    transparent = None
    if screen_packed & 0x80:
        n = 3 << ((screen_packed & 7) + 1)
        global_table = gif[pos : pos + n]
        pos += n
    while pos < len(gif):
        intro = gif[pos]
        if intro == 0x21:  # extension: label byte, then sub-blocks
            if gif[pos + 1] == 0xF9 and gif[pos + 3] & 0x01:  # graphic control, with a transparent colour
                transparent = gif[pos + 6]
            pos = _skip_sub_blocks(gif, pos + 2)
        elif intro == 0x2C:
            _, _, w, h, packed = struct.unpack_from("<HHHHB", gif, pos + 1)
            pos += 10
            if packed & 0x80:
                bits = packed & 7
                table = gif[pos : pos + (3 << (bits + 1))]
                pos += len(table)
            else:
                bits, table = screen_packed & 7, global_table
            data_start = pos
            pos = _skip_sub_blocks(gif, pos + 1)  # +1: LZW minimum code size
            descriptor = struct.pack("<BHHHHB", 0x2C, left, top, w, h, 0x80 | (packed & 0x40) | bits)
            return descriptor + table + gif[data_start:pos], transparent
        else:
            break
    raise InterpError("internal error: Pillow produced a GIF without an image block")


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
                    os.rename(self.path, old)
                except FileNotFoundError:
                    discard(old)
                    continue  # the other run moved it first
                except BaseException:
                    discard(old)
                    raise
                try:
                    commit(self._tmp, self.path)
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
    check_output_path(path, make_parents=True)
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
    check_output_path(path, make_parents=True)
    with Outputs() as outputs:  # its folders made as it is written, and removed again if it is not
        outputs.later(write_target(path), image_bytes(path, frame, record=record), name=path)
        outputs.commit()


def stage_image(outputs: Outputs, path: PathLike, frame: np.ndarray, *, make_parents: bool = True,
                record: dict | None = None) -> None:
    """`write_image` as one of a command's `Outputs`: encoded now, written and moved into place at its commit."""
    check_output_path(path, make_parents=make_parents)
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

