"""Output paths, checked before any heavy work: what a name asks for, and that it can be written there.

    output_kind(path) -> "mp4" | "gif" | "html" | "frames" | "png" | "npy"
    check_output_path(path)                       an existing target replaceable, the nearest folder there writable
    check_morph_outputs(output, sheet, size)      a morph's -o and --sheet, as the CLI checks them before torch
    check_verb_output(verb, output)               encode/render/mix's -o
    refuse_clashes([(keyword, path), ...])        no two outputs on one file, nor one inside the other
    missing_file_type(text) / refuse_suffixless(text)  a typed name with no suffix is refused, not guessed
    odd_mp4_size(size)                            why --size cannot be an MP4's (odd), or None

Torch-, numpy- and PIL-free: `interp batch` checks every row of its manifest with these, and the CLI a
morph's -o before it imports the pipeline. The writers are write.py's (and gif.py's, page.py's).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Optional

from .errors import UsageError, speaking_to_cli
from .errors import option as spelt
from .limits import SIZE
from .files import PathLike, claim_temp, discard, kept_from_removal, temp_like, too_long_name, write_target
from .stops import deferred


_KINDS = {".mp4": "mp4", ".gif": "gif", ".html": "html", ".png": "png", ".npy": "npy"}
_FRAME_NAME = re.compile(r"^frame_\d+\.png$")


ANIMATION_OUTPUTS = ("frames are written as .mp4, .gif, .html, or PNG into a folder named with a trailing slash: "
                     "{folder}")
MORPH_KINDS = ("mp4", "gif", "html", "frames", "png")  # what a morph writes: `output_kind`'s kinds, less npy
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
                             f"folder{frames}", path=text)
        kind = "frames"
    elif not suffix:
        kind = "frames"
    elif suffix in _KINDS:
        kind = _KINDS[suffix]
    else:
        kind = None
    if kind is None or (allowed is not None and kind not in allowed):
        # A new `made/` is no folder yet: "is a folder" sent its reader looking for one.
        what = (_unsupported(text) if Path(text).suffix and kind != "frames"
                else "is a folder" if os.path.isdir(text)
                else "a name ending in / is a folder" if text.endswith(("/", os.sep)) else "no file type")
        # A folder in the way is the file at fault (--json's "path"), as a file in the way of `-o a.png/m.gif` is;
        # a name whose type interp does not write (`-o x.txt`, `out/m2`) is the command's fault, not a file's: null.
        raise UsageError(f"{shown}: {what} ({accepts.format(folder='frames/')})",
                         path=text if what == "is a folder" else None)
    return kind


def _unsupported(text: str) -> str:
    return f"unsupported output type '{Path(text).suffix}'"


def names_a_morph_file(text: str) -> bool:
    """Whether the output name `text` asks a morph for one file (.mp4 .gif .html .png), from the text alone: else
    frames into a folder (a trailing /, or an existing folder), or a type `unwritable_type` refuses."""
    return not text.endswith(("/", os.sep)) and _KINDS.get(Path(text).suffix.lower()) in MORPH_KINDS


def unwritable_type(text: str, where: Optional[PathLike] = None) -> Optional[str]:
    """Why a morph cannot write the typed output name `text` (landing on `where`, if given) for its file type
    (`x.csv`, `x.npy`, `x.jpg`), as `output_kind` says it after the name, or None. A batch asks it of every row's
    name before any row is made or skipped: only a name with another suffix costs a stat (an existing folder
    `v1.0` takes frames, as with -o). A name without a suffix is `missing_file_type`'s."""
    if text.endswith(("/", os.sep)) or not _has_suffix(text) or names_a_morph_file(text) \
            or os.path.isdir(text if where is None else where):
        return None
    return f"{_unsupported(text)} ({MORPH_OUTPUTS.format(folder='frames/')})"


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
    check_output_path(output)
    return kind


def check_morph_outputs(output: PathLike, sheet: Optional[PathLike] = None, size: Optional[int] = None) -> str:
    """A morph's -o and --sheet checked as `pipeline.morph` checks them before any work: what each asks for
    (returned: -o's kind), that each can be written, and that they are not one file; with a `size` (the
    command's, already an int in range), that an MP4 can be that size. Torch-free, so `interp` refuses a bad
    -o before it imports the pipeline, with the line the morph would give."""
    if isinstance(output, str):  # "out/m2", as typed: a typo for m2.mp4 is refused (a Path cannot end in "/")
        refuse_suffixless(output)
    kind = output_kind(output, allowed=MORPH_KINDS)  # says what a morph writes
    check_output_path(output)
    if sheet is not None:
        output_kind(sheet, "the contact sheet is a .png file", allowed=("png",), option="sheet")
        check_output_path(sheet)
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


def _kept_frame(directory: Path) -> str | None:
    """Why a frame in `directory` (a writable one, holding only frames) could not be removed (`kept_from_removal`),
    or None. Its old frames are removed only after the new folder took its place, so such a frame stayed, hidden in
    `.name.old-<token>`, for good, the run saying nothing."""
    folder = os.stat(directory)
    return next((f"{entry.name} is {why}" for entry in os.scandir(directory)
                 for why in [kept_from_removal(entry.path, folder)] if why is not None), None)


def _frames_kept(name: str, target: Path, why: str, code: int) -> UsageError:
    """The refusal of an output folder whose old frames could not all be removed (`why`), with the errno it stands
    for (as `failures.environment_error`'s)."""
    refused = UsageError(f"{name}: the frames already in '{target}' cannot be removed{why}; refusing to replace it")
    refused.errno = code
    return refused


def check_output_path(path: PathLike, *, make_parents: bool = True) -> None:
    """`_check_output_path`, whose refusals name the output as the file at fault (`.path`, --json's "path")."""
    try:
        _check_output_path(path, make_parents=make_parents)
    except UsageError as err:
        if err.path is None:
            err.path = os.fspath(path)
        raise


def _check_output_path(path: PathLike, *, make_parents: bool) -> None:
    """Refuse an output path that could only fail after the heavy work: call this first.

    Checks the kind (suffix), that the parent directory exists, is a directory and is
    writable, and that an existing target can be replaced (a file is never replaced by a
    frames directory, and a directory is replaced only if it holds only frame_*.png files).
    The parent may be missing: every writer of interp's makes it (-o deep/er/out.mp4, a batch row's output,
    --save-aligned's folder) and removes it again if the output fails, so the nearest folder that exists must be
    writable (`make_parents=False`: the parent itself must exist). Writable is proven, not guessed from the mode
    bits: a temp is made and removed there (root passes every permission check, yet cannot create a
    file in /proc or on a read-only mount), and the output itself is not touched.
    """
    name = os.fspath(path)
    kind = output_kind(path)
    target = write_target(path)
    if os.path.islink(target):  # still a link after resolving: one that loops
        raise UsageError(f"{name}: is a symlink that leads nowhere (a loop)")
    # Before the probes below: `-o .` is Path('.'), which has no name to put a probe beside.
    if kind == "frames" and target.is_dir() and target.resolve() == Path.cwd().resolve():
        raise UsageError(f"{name}: is the current directory; name a new directory for the frames")
    if not target.name:  # `-o /`: the root has no name either (it was "internal error: ValueError")
        raise UsageError(f"{name}: is the root directory; name a new directory for the frames")
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
            if not os.access(target, os.W_OK | os.X_OK):
                # Its frames are deleted only after the new folder took its place: from a folder the user cannot
                # write in they could not be, and were left behind, hidden (`.name.old-<token>`), for good.
                raise _frames_kept(name, target, " (the directory is not writable)", errno.EACCES)
            foreign = _foreign_entries(target)
            if foreign:
                raise UsageError(
                    f"{name}: directory already holds other files ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); refusing to replace it"
                )
            kept = _kept_frame(target)
            if kept is not None:  # as a folder not writable: that frame would stay behind, hidden, for good
                raise _frames_kept(name, target, f": {kept}", errno.EPERM)


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


def odd_mp4_size(size: Optional[int]) -> Optional[str]:
    """Why `--size` cannot be an MP4's, or None: an odd size, which H.264 cannot store (an odd side would be
    padded to the even one above it). Refused before any work: the user named that size, and a 101 px MP4 that
    plays as 102 px is not it. A size outside `limits.SIZE` is left to the range check, which says what fits."""
    if size is None or size % 2 == 0 or not SIZE[0] <= size <= SIZE[1]:
        return None
    return (f"{spelt('size', size)}: an MP4 needs even sides (H.264, as browsers and QuickTime play it, keeps colour "
            f"per 2x2 pixels); use {spelt('size', size - 1)} or {spelt('size', size + 1)}, or write a .gif, .html "
            f"or frames/, which keep {size} px")
