"""File-system habits, defined once: atomic writes, stale-temp cleanup, the cache dir, hashing, same-file.

    with atomic_write("out.png") as fh:          # a file object on a hidden temp beside the target
        fh.write(data)                           # committed (fsync, rename, fsync dir) only on success
    atomic_save_npy("a.npy", array)              # np.save through atomic_write
    tmp = new_temp("out.mp4")                    # for writers that need a path (ffmpeg), or
    tmp = new_temp("frames", directory=True)     # a directory built in place of a frames folder
    commit(tmp, "out.mp4")  /  discard(tmp)      # ... then move it into place, or drop it
    clean_stale_temps(directory)                 # done by new_temp; removes only dead runs' temps
    cache_dir() -> Path                          # $INTERP_CACHE_DIR, $XDG_CACHE_HOME/interp, ~/.cache/interp
    sha256_of(path) -> str                       # hex digest of a file's bytes, read in chunks
    same_file(a, b) -> bool                      # one file on disk, through symlinks and hard links too
    check_input_file(path) -> str                # a readable regular file, else UsageError (stat only)
    refuse_overwriting_inputs(inputs, outputs)   # UsageError if an output is (or, as a folder, holds) an input
    environment_error(err, name) -> InterpError  # a machine's OSError as one line and the right exit code
    is_machine_error(err) -> bool                # full disk, quota, limits, permissions, I/O: not a bug

Temp names are `.<stem>.tmp-<host>-<pid>-<token><suffix>` in the target's own directory (the
suffix stays last because ffmpeg picks its muxer by it, and a rename never crosses file
systems). A run killed by SIGKILL or power loss leaves one behind; the next run that writes
into that directory removes the temps whose process is gone (same host, pid not alive) and
touches nothing else.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Union

from interp_cli.errors import InterpError, UsageError

PathLike = Union[str, "os.PathLike[str]"]

CACHE_DIR_ENV = "INTERP_CACHE_DIR"

_HASH_CHUNK_BYTES = 8 * 1024 * 1024
# A short tag of the host name: on a shared network file system a pid only means something on its own host.
_HOST = format(zlib.crc32(socket.gethostname().encode()) & 0xFFFF, "04x")
_TEMP_NAME = re.compile(
    r"^\.(?P<stem>.*)\.(?P<tag>tmp|old)-(?P<host>[0-9a-f]{4})-(?P<pid>\d+)-[0-9a-f]{8}(?P<suffix>.*)$"
)
_cleaned: set[str] = set()  # directories already swept by this process

# errno values that mean "the machine ran out of something", not "interp has a bug".
_NO_ROOM = {errno.ENOSPC, errno.EFBIG} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}
MACHINE_ERRNOS = _NO_ROOM | _NOT_ALLOWED | {errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM}


# --- temp files and atomic commits ------------------------------------------------------------------


def temp_name(target: PathLike, tag: str = "tmp") -> Path:
    """A hidden, unique sibling name of `target` carrying this process's pid (not created)."""
    target = Path(os.fspath(target))
    suffix = target.suffix
    stem = target.name[: -len(suffix)] if suffix else target.name
    return target.with_name(f".{stem}.{tag}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def new_temp(target: PathLike, *, directory: bool = False) -> Path:
    """Create and return an empty temp file (or directory) beside `target`, after sweeping stale temps there.

    Files get mode 0666 and directories 0777, minus the umask, like any new file. An OSError is
    raised as `environment_error` naming `target`.
    """
    target = Path(os.fspath(target))
    clean_stale_temps(target.parent)
    for _ in range(100):
        tmp = temp_name(target)
        try:
            if directory:
                os.mkdir(tmp)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as err:
            raise environment_error(err, target) from None
        return tmp
    raise InterpError(f"{target}: could not find a free temporary name")  # pragma: no cover


def fsync_path(path: PathLike) -> None:
    """Flush a file's (or a directory's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        # Some file systems cannot fsync a directory; the data itself was still flushed.
        if err.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def commit(tmp: PathLike, target: PathLike) -> None:
    """Move a finished temp over `target`: fsync it, rename (atomic), fsync the directory.

    For a temp directory, its files must already be flushed (see `atomic_write`/`fsync_path`);
    the directory is renamed onto `target` only if `target` is absent or an empty directory.
    """
    fsync_path(tmp)
    os.replace(tmp, target)
    fsync_path(Path(os.fspath(target)).parent)


def discard(tmp: PathLike | None) -> None:
    """Remove a temp file or directory; never raises (it runs while another error unwinds)."""
    if tmp is None:
        return
    path = Path(os.fspath(tmp))
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass


@contextmanager
def atomic_write(target: PathLike, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO]:
    """Write `target` all at once or not at all: yields a file open on a temp beside it.

    On success the temp is flushed, fsynced, renamed over `target` and the directory fsynced; on any
    exception (KeyboardInterrupt and SIGTERM unwinding included) the temp is removed and `target`
    is untouched. OSErrors of the machine (full disk, quota, file-size limit, read-only) come out
    as `environment_error` naming `target`.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    tmp = new_temp(target)
    try:
        try:
            with open(tmp, mode, encoding=encoding) as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            fsync_path(Path(os.fspath(target)).parent)
        except OSError as err:
            raise environment_error(err, target) from err
    except BaseException:
        discard(tmp)
        raise


def atomic_save_npy(target: PathLike, array) -> None:
    """`np.save` (no pickles) through `atomic_write`.

    The bytes are built in memory first: numpy writes straight into a real file with C stdio, whose
    short write on a full disk arrives as an OSError without an errno ("1280 requested and 480
    written"); written by Python, the same failure says ENOSPC or EFBIG. Arrays saved here are small
    (codes, one image).
    """
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    with atomic_write(target) as fh:
        fh.write(buffer.getbuffer())


# --- stale temps ----------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (another user's counts as alive)."""
    if pid <= 0:
        return True  # not a pid we could have written: never treat it as dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale_temps(directory: PathLike) -> list[Path]:
    """Remove the temps that dead interp processes of this host left in `directory`; return them.

    Only names of our exact temp pattern are considered, and only when their pid is not alive. A
    frames folder that a killed run had moved aside (`.NAME.old-...`) is put back when NAME is
    missing, so an interrupted replacement never loses the old frames. Runs once per directory per
    process; errors are ignored (another process may be cleaning the same directory).
    """
    key = os.path.abspath(os.fspath(directory))
    if key in _cleaned:
        return []
    _cleaned.add(key)
    removed = []
    try:
        entries = list(os.scandir(key))
    except OSError:
        return []
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not match or match["host"] != _HOST or pid_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        original = path.with_name(match["stem"] + match["suffix"])
        if match["tag"] == "old" and not os.path.lexists(original):
            try:
                os.rename(path, original)
            except OSError:
                pass
            continue
        discard(path)
        removed.append(path)
    return removed


# --- errors of the machine -----------------------------------------------------------------------


def is_machine_error(err: BaseException) -> bool:
    """An OSError caused by the machine (disk full, quota, limits, permissions, I/O), not by a bug."""
    return isinstance(err, OSError) and err.errno in MACHINE_ERRNOS


def environment_error(err: OSError, name: PathLike | None = None) -> InterpError:
    """One line for a failed file operation, naming `name` (else the file the OSError names).

    No space, quota or file-size limit: exit 1. Permission or read-only location: exit 2, since the
    user chose the place. Anything else: exit 1 with the system's words.
    """
    shown = os.fspath(name) if name is not None else (err.filename or "")
    prefix = f"{shown}: " if shown else ""
    reason = err.strerror or str(err)
    if err.errno in _NO_ROOM:
        hint = {errno.EFBIG: "file too large (a file-size limit was reached)"}.get(err.errno, reason.lower())
        return InterpError(f"{prefix}cannot write: {hint}; free some space or write elsewhere")
    if err.errno in _NOT_ALLOWED:
        return UsageError(f"{prefix}{reason.lower()}")
    return InterpError(f"{prefix}{reason}")


# --- places and identities ------------------------------------------------------------------------


def cache_dir() -> Path:
    """interp's cache dir: `$INTERP_CACHE_DIR`, else `$XDG_CACHE_HOME/interp`, else `~/.cache/interp` (`~` expanded)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "interp"


def sha256_of(path: PathLike) -> str:
    """Hex sha256 of a file's bytes, read in chunks (a 1.2 GB checkpoint never sits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_input_file(path: PathLike, what: str = "an input") -> str:
    """Refuse, with one line (UsageError), a path that is not a readable regular file; return its name.

    Only stat()ed, never opened: opening a FIFO would block until someone writes to it.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file") from None
    except NotADirectoryError:
        raise UsageError(f"{name}: no such file (a parent is not a directory)") from None
    except PermissionError:
        raise UsageError(f"{name}: permission denied") from None
    except OSError as err:
        raise UsageError(f"{name}: cannot read ({err.strerror or err})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{name}: is a directory, not {what}")
    if not stat.S_ISREG(st.st_mode):
        if stat.S_ISFIFO(st.st_mode):
            kind = "a FIFO (named pipe)"
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = "a device"
        else:
            kind = "a socket or other special file"
        raise UsageError(f"{name}: is {kind}, not a regular file")
    if not os.access(name, os.R_OK):
        raise UsageError(f"{name}: permission denied")
    return name


def refuse_overwriting_inputs(inputs, outputs) -> None:
    """UsageError if an output would overwrite an input: the same file (symlinks and hard links
    count), or a directory (a frames output) holding one, since replacing it would delete the input.
    `outputs` may hold None for outputs not asked for."""
    for output in outputs:
        if output is None:
            continue
        for path in inputs:
            if same_file(path, output):
                raise UsageError(f"{os.fspath(output)}: is the input {os.fspath(path)}; choose another output name")
            if os.path.isdir(output) and same_file(os.path.dirname(os.path.abspath(path)), output):
                raise UsageError(
                    f"{os.fspath(output)}: this directory holds the input {os.fspath(path)}; choose another output"
                )


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether `a` and `b` are one file on disk (symlinks and hard links included); False if either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
