"""File-system habits, defined once: atomic writes, temp ownership and cleanup, locks, same-file.

    with atomic_write("out.png") as fh:          # a file object on a hidden temp beside the target
        fh.write(data)                           # committed (fsync, rename, fsync dir) only on success
    atomic_save_npy("a.npy", array)              # np.save through atomic_write
    tmp = new_temp("out.mp4")                    # for writers that need a path (ffmpeg), or
    tmp = new_temp("frames", directory=True)     # a directory built in place of a frames folder; made and
                                                 # in hand in one go, `with deferred():` inside whatever discards it
    commit(tmp, "out.mp4")  /  discard(tmp)      # ... then move it into place, or drop it (both unlock it)
    with Outputs() as outputs:                   # several outputs of one command, moved into place together:
        outputs.later("sheet.png", data)         # bytes written to a temp only at commit(), or
        outputs.add(writer)                      # anything finished in its temp, with commit() and abort()
        outputs.commit()                         # every temp complete first, then the renames; else none
    claim_temp("frames", "old", directory=True, create=False)  # a locked name to move something aside to
    clean_stale_temps(directory)                 # done by new_temp; removes only dead writers' temps
    with ArraySpill() as spill:                  # arrays in an anonymous temp file, not in memory:
        spill.put(key, array); spill.get(key)    # a fresh copy read back each time (OSError as the disk says)
    temp_like(name) -> str | None                # the part of an output name a sweep would take for a temp
    with held_lock(path, wait=5.0) as locked:    # one writer at a time on a shared file (flock on `<path>.lock`);
        ...                                      # locked is False after `wait` s: go on unlocked, never stuck
    with taken_lock(path) as fd:                 # an existing file's flock if free now, else None (never waits)
    remove_if_same(path, identity)               # unlink a damaged file only if no one has replaced it since
    fsync_path(path)                             # a file's (or a folder's entries') data flushed to the disk
    write_target(path) -> Path                   # where an output lands: through a symlink, as `cp` writes
    same_file(a, b) -> bool                      # one file on disk, through symlinks and hard links too
    check_input_file(path) -> str                # a readable regular file, else UsageError (stat only)
    too_long_name(path) -> str | None            # why a name is too long to write (temp name counted)
    refuse_overwriting_inputs(inputs, outputs)   # UsageError if an output is (or, as a folder, holds) an input
    name_max(folder) -> int                      # the longest name the folder's file system takes
    project_id(folder) -> int | None             # its project ID (XFS/ext4/Lustre project quotas)

How a name is shown (stderr, JSON, the page) is `interp_cli.names`'s; a file's sha256 is `sha256_record`'s; the cache
dir, its bounds and eviction are `cache_folders`'s; which process makes a thing (a claim, waited for or
not) is `claims`'s.

Temp names are `.<stem>.tmp-<token><suffix>` in the target's own directory (the suffix stays last
because ffmpeg picks its muxer by it, and a rename never crosses file systems). Ownership is a lock,
not a name: the writer holds an exclusive `flock` on the temp file (on a `<temp>.lock` companion
file for a temp directory) from creation until it is committed or discarded, and the kernel drops
that lock when the writer dies, however it dies. The sweep removes a temp only when it can take
that lock itself, so a live writer's temp is never removed, whatever host, PID namespace or
machine it runs on, and a killed writer's temp is removed by the next run that writes there.
(On NFS the lock is the server's, through the NFS lock manager; see README "Batch jobs". A file system
with no flock at all gets unlocked temps, which no sweep can judge and so none removes.)
"""

from __future__ import annotations

import atexit
import errno
import os
import platform
import re
import secrets
import shutil
import stat
import struct
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Union

from interp_cli.errors import InputError, InterpError, UsageError, option as spelt
from interp_cli.failures import environment_error
from interp_cli.stops import deferred

PathLike = Union[str, "os.PathLike[str]"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, so the sweep never removes anything
    fcntl = None

# What flock says on a file system that has none: Lustre mounted without `-o flock` (ENOSYS), some FUSE
# and network file systems (EOPNOTSUPP), NFS whose lock manager is unreachable (ENOLCK).
_NO_FLOCK = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOLCK}
_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)\.(?P<tag>tmp|old|claim)-[0-9a-f]{16}(?P<suffix>.*)$")
_LOCK_SUFFIX = ".lock"  # a temp directory's companion lock file: `<temp dir>.lock`
# Bytes a temp name adds to its target's name: ".", ".tmp-", 16 hex digits, and ".lock" for a directory's.
TEMP_NAME_EXTRA = 1 + 5 + 16 + len(_LOCK_SUFFIX)
_cleaned: set[str] = set()  # directories already swept by this process
held_temps: dict[str, tuple[int, str]] = {}  # temp path -> (fd holding its lock, the locked file's path)
# How a temp of a tag other than tmp/old is settled at exit, set by the module that makes such temps ("claim":
# `claims.let_go_claim`, set when claims.py loads): files.py stays below claims.py, never importing it back.
settle_at_exit: dict[str, Callable[[Path], None]] = {}


# --- temp files and atomic commits ------------------------------------------------------------------


def temp_name(target: PathLike, tag: str = "tmp", token: str | None = None) -> Path:
    """A hidden sibling name of `target` (not created, not locked): unique, unless `token` (16 hex digits) is given."""
    target = Path(os.fspath(target))
    suffix = target.suffix
    stem = target.name[: -len(suffix)] if suffix else target.name
    return target.with_name(f".{stem}.{tag}-{token or secrets.token_hex(8)}{suffix}")


def temp_like(name: PathLike) -> str | None:
    """The part of an output name that has the form of our temps (`.NAME.tmp-<16 hex digits>...`), else None.

    Such a file or folder is swept as a dead writer's temp by the next run that writes beside it (nothing
    holds its lock once it is finished), so an output named so would vanish after being reported made."""
    text = os.fspath(name)
    if "tmp-" not in text and "old-" not in text and "claim-" not in text:  # a batch asks for every row: at once
        return None
    return next((part for part in Path(text).parts if _TEMP_NAME.match(part)), None)


def _lock_new(path: Path) -> int | None:
    """Create `path` (O_EXCL) and hold an exclusive lock on it: the fd, or None if the name is taken
    or a sweeper removed the file before our lock was on it (then the caller picks another name).

    On a file system that has no flock (`_NO_FLOCK`) the file is kept unlocked: every sweep, ours
    included, fails to lock it too and so leaves it alone, as with no fcntl at all. A failure here
    removes the file it made, since no sweep could ever remove it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        if fcntl is not None:
            # Blocking: a sweeper can only hold it for the moment it takes to see the file is new-born
            # and unlocked, remove it and let go; then the identity check below sends us elsewhere.
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:
                if err.errno not in _NO_FLOCK:
                    raise
        if not same_inode(fd, path):
            os.close(fd)
            return None
    except BaseException:
        if same_inode(fd, path):
            try:
                os.unlink(path)
            except OSError:
                pass
        os.close(fd)
        raise
    return fd


def same_inode(fd: int, path: PathLike) -> bool:
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def claim_temp(target: PathLike, tag: str = "tmp", *, directory: bool = False, create: bool = True) -> Path:
    """A new temp name beside `target`, owned (locked) by this process until `commit` or `discard`.

    A file is created empty (mode 0666 minus the umask) and locked itself; for a directory the
    lock is on `<name>.lock`, created first, and the directory itself is made only if `create`
    (FramesWriter moves an old frames folder to an uncreated, claimed `old` name).
    """
    target = Path(os.fspath(target))
    for _ in range(100):
        tmp = temp_name(target, tag)
        locked = tmp.with_name(tmp.name + _LOCK_SUFFIX) if directory else tmp
        with deferred():  # made and recorded as ours in one go: a Ctrl-C between would orphan it
            try:
                fd = _lock_new(locked)
                if fd is None:
                    continue
                if directory and create:
                    try:
                        os.mkdir(tmp)
                    except BaseException:
                        _unlock(fd, locked)
                        raise
            except FileExistsError:
                continue
            held_temps[os.fspath(tmp)] = (fd, os.fspath(locked))
        return tmp
    raise InterpError(f"{target}: could not find a free temporary name")  # pragma: no cover


def lock_within(fd: int, wait: float) -> bool | None:
    """Take `fd`'s exclusive flock, trying for up to `wait` seconds: True when held, False when another holds it
    still, None where this file system (or platform) has no flock."""
    if fcntl is None:
        return None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_LOCK_POLL_SECONDS)
        except OSError:  # a file system without flock: as if there were no lock to take
            return None


def _unlock(fd: int, locked: PathLike | None) -> None:
    """Remove a lock file (if given) while still holding its lock, then let the lock go."""
    try:
        if locked is not None:
            os.unlink(locked)
    except OSError:
        pass
    finally:
        os.close(fd)


def release(tmp: PathLike | None) -> None:
    """Let go of a claimed temp's lock (after it was renamed into place or removed). Never raises."""
    if tmp is None:
        return
    held = held_temps.pop(os.fspath(tmp), None)
    if held is None:
        return
    fd, locked = held
    # A file temp's lock goes with the file (already renamed or removed); a directory's lock file is ours to remove.
    _unlock(fd, locked if locked != os.fspath(tmp) else None)


def new_temp(target: PathLike, *, directory: bool = False) -> Path:
    """Create and return an empty temp file (or directory) beside `target`, after sweeping stale temps there.

    It stays locked (owned) until `commit` or `discard`. Files get mode 0666 and directories 0777,
    minus the umask, like any new file. An OSError is raised as `environment_error` naming `target`.
    """
    target = Path(os.fspath(target))
    clean_stale_temps(target.parent)
    try:
        return claim_temp(target, directory=directory)
    except OSError as err:
        raise environment_error(err, target) from None


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


def commit(tmp: PathLike, target: PathLike, *, replacing: os.stat_result | None = None) -> None:
    """Move a finished temp over `target`: fsync it, rename (atomic), fsync the directory.

    For a temp directory, its files must already be flushed (see `atomic_write`/`fsync_path`);
    the directory is renamed onto `target` only if `target` is absent or an empty directory.
    A file that replaces one of ours keeps its permission bits, as `cp` and a shell's `>` do: a clip
    kept private (0600) or shared with a group (0640) stays so when it is made again; so does a folder
    (frames), whose old self its writer moved aside first and passes as `replacing` (its stat). Another
    user's file is not copied from: a rename cannot keep its owner, and its private mode would then lock
    that owner out of the new file.
    """
    fsync_path(tmp)
    old = replacing
    if old is None:
        try:
            old = os.stat(target)
        except OSError:
            pass
    if old is not None and old.st_uid == os.geteuid():
        _keep_mode(tmp, old)
    os.replace(tmp, target)
    release(tmp)
    fsync_path(Path(os.fspath(target)).parent)


def _keep_mode(tmp: PathLike, old: os.stat_result) -> None:
    """`tmp` takes the permission bits of `old`, what it replaces, where both are files or both folders. Never a
    set-id bit onto new content; a folder keeps its own setgid (made so in a setgid parent: its files' group)."""
    new = os.lstat(tmp)
    if stat.S_ISREG(old.st_mode) and stat.S_ISREG(new.st_mode):
        os.chmod(tmp, stat.S_IMODE(old.st_mode) & 0o777)
    elif stat.S_ISDIR(old.st_mode) and stat.S_ISDIR(new.st_mode):
        os.chmod(tmp, stat.S_IMODE(old.st_mode) & 0o777 | stat.S_IMODE(new.st_mode) & stat.S_ISGID)


def discard(tmp: PathLike | None) -> None:
    """Remove a temp file or directory; never raises (it runs while another error unwinds)."""
    if tmp is None:
        return
    path = Path(os.fspath(tmp))
    with deferred():  # a second stop signal must not cut the first one's cleanup short
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
        except OSError:
            pass
        finally:
            release(tmp)


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
    tmp = None
    try:
        try:
            # Made and in hand in one go: a stop landing as new_temp returned (a caller's SIGTERM handler's) left
            # the temp beside the target, locked, for as long as the process lived (its exit settles it).
            with deferred():
                tmp = new_temp(target)
            with open(tmp, mode, encoding=encoding) as fh:
                yield fh
            commit(tmp, target)  # fsync, keep the old file's mode, rename, fsync the folder
        except OSError as err:
            raise environment_error(err, target) from err
    except BaseException:
        discard(tmp)
        raise


class StagedFile:
    """A temp file, complete and flushed, waiting to be moved over `target` (`commit`) or dropped (`abort`)."""

    def __init__(self, target: PathLike, data, name: PathLike | None = None):
        self.target = Path(os.fspath(target))
        self.name = os.fspath(name) if name is not None else os.fspath(target)
        self._tmp = None
        try:
            with deferred():  # made and in hand in one go (atomic_write)
                self._tmp = new_temp(self.target)
            with open(self._tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as err:
            discard(self._tmp)
            raise environment_error(err, self.name) from None
        except BaseException:
            discard(self._tmp)
            raise

    def commit(self) -> None:
        if self._tmp is None:
            return
        try:
            commit(self._tmp, self.target)
        except OSError as err:
            raise environment_error(err, self.name) from None
        self._tmp = None

    def abort(self) -> None:
        discard(self._tmp)
        self._tmp = None


class Outputs:
    """The outputs of one command (a morph, its --sheet, its --save-aligned crops), moved into place together.

    Each output is first made complete in its own temp; only when all of them are does `commit` rename
    them into place, one after another. So a failure while any of them is being written (a full disk
    on the sheet after the video is done) leaves every older output as it was, not a new video beside
    an old sheet. Leaving the `with` block by an exception (or calling `abort`) drops every temp, and
    the folders `commit` made for `later` outputs. Only a failing rename itself, after the temps are
    all complete, can leave some outputs new and others old.
    """

    def __init__(self):
        self._later: list[tuple[Path, bytes, str]] = []
        self._ready: list = []  # things with commit() and abort(): StagedFile, a finished FrameWriter

    def later(self, target: PathLike, data: bytes, name: PathLike | None = None) -> None:
        """Write `data` to `target` at `commit` (its folders created then). Kept in memory until then:
        for small outputs (a contact sheet, aligned crops), so nothing reaches the disk before the end."""
        self._later.append((Path(os.fspath(target)), bytes(data), os.fspath(name if name is not None else target)))

    def add(self, finished) -> None:
        """An output already complete in its temp, moved into place by its own `commit()` (or `abort()`ed)."""
        self._ready.append(finished)

    def commit(self) -> None:
        made: list[Path] = []
        try:
            for target, data, name in self._later:
                with deferred():  # made and listed in one go: a stop between left them behind, empty
                    made.extend(make_folders(target.parent, name))
                self._ready.append(StagedFile(target, data, name))
            self._later = []
            while self._ready:
                self._ready[0].commit()
                self._ready.pop(0)
        except BaseException:
            self.abort()
            remove_folders(made)
            raise

    def abort(self) -> None:
        """Drop every output not yet committed. Never raises."""
        self._later = []
        ready, self._ready = self._ready, []
        for item in ready:
            try:
                item.abort()
            except Exception:  # pragma: no cover - aborts do not raise; the first error is the one reported
                pass

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.abort()
        return False


def remove_folders(made: list[Path]) -> None:
    """Remove the folders `make_folders` made, innermost first, each only while still empty. Never raises."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            pass


# Linux's FS_IOC_GETFLAGS, _IOR('f', 1, long), and its flags that keep a file from being removed, even by root.
_GET_FLAGS = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1
_KEPT_FLAGS = {0x10: "immutable (chattr +i)", 0x20: "append-only (chattr +a)"}


def kept_from_removal(path: PathLike, folder: os.stat_result) -> str | None:
    """Why `path`, in a folder (its stat: `folder`) this process may write in, could still not be removed, or None:
    marked immutable or append-only (`chattr +i`/`+a`, BSD's `chflags`), or another user's in a sticky folder not
    this user's. Asked before a removal that must go whole: the write check alone let such a file refuse it part way.
    None where that cannot be known (a file that cannot be opened or looked at, a file system without such flags)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if folder.st_mode & stat.S_ISVTX and os.geteuid() not in (0, folder.st_uid, info.st_uid):
        return "another user's, in a sticky folder"
    flags = getattr(info, "st_flags", None)  # BSD, macOS
    if flags is not None:
        kept = stat.UF_IMMUTABLE | stat.SF_IMMUTABLE | stat.UF_APPEND | stat.SF_APPEND
        return "immutable or append-only (chflags)" if flags & kept else None
    if fcntl is None or not stat.S_ISREG(info.st_mode):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # unreadable: its flags unknown (its removal needs only the folder)
        return None
    try:
        flags = int.from_bytes(fcntl.ioctl(fd, _GET_FLAGS, bytes(8))[:4], sys.byteorder)
    except OSError:  # a file system without such flags (tmpfs, NFS)
        return None
    finally:
        os.close(fd)
    return next((word for bit, word in _KEPT_FLAGS.items() if flags & bit), None)


def make_folders(folder: Path, name: str) -> list[Path]:
    """Create `folder` and its missing parents (`name`: the output they are for, in a refusal); the ones created,
    outermost first, for `remove_folders` if that output fails. Hold stops around it and the record of its list."""
    missing = []
    while not os.path.isdir(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made = []
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:  # another run made it meanwhile: theirs, not ours to remove
            if not os.path.isdir(path):
                raise UsageError(f"{name}: '{path}' is not a directory") from None
            continue
        except OSError as err:
            remove_folders(made)
            raise environment_error(err, name) from None
        made.append(path)
    return made


def atomic_save_npy(target: PathLike, array) -> None:
    """`np.save` (no pickles) through `atomic_write`: the bytes np.save writes."""
    atomic_save_npys(target, [array])


def atomic_save_npys(target: PathLike, arrays) -> None:
    """The .npy files of `arrays` one after another, through `atomic_write` (`npy.map_npys` maps them back).

    Each header is built by numpy's own writer, as np.save builds it (its data begins at a multiple of 64
    bytes from the array's start), and the data is written by Python in that header's order: numpy writes
    straight into a real file with C stdio, whose short write on a full disk arrives as an OSError without an
    errno ("1280 requested and 480 written"); written by Python, the same failure says ENOSPC or EFBIG.
    """
    import io

    import numpy as np

    arrays = [np.asarray(array) for array in arrays]
    arrays = [a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a) for a in arrays]
    if any(array.dtype.hasobject for array in arrays):
        raise ValueError("arrays of Python objects are not saved (they would need pickles)")
    with atomic_write(target) as fh:
        for array in arrays:
            header = io.BytesIO()
            fields = np.lib.format.header_data_from_array_1_0(array)
            np.lib.format.write_array_header_1_0(header, fields)
            fh.write(header.getbuffer())
            in_order = array.T if fields["fortran_order"] else array
            fh.write(in_order.reshape(-1).view(np.uint8) if array.size else b"")


# --- arrays kept out of memory -------------------------------------------------------------------


class ArraySpill:
    """Arrays kept in one anonymous temp file rather than in memory, each read back as a fresh array as often as
    asked: frames a morph shows again (`replay`), the photos a --paste morph uses again (`kept_photos`).

    `tempfile.TemporaryFile`: in $TMPDIR, no name on disk, gone when closed or when the process dies, so nothing
    is ever left behind. The file is made at the first `put`. OSError (no room, a file-size limit, a failing disk)
    comes out as the disk says it: what it means is the caller's to say.
    """

    def __init__(self, prefix: str = "interp-"):
        self._prefix = prefix
        self._file = None
        self._where: dict = {}  # key -> (offset, shape, dtype)
        self._end = 0

    def __contains__(self, key) -> bool:
        return key in self._where

    def put(self, key, array) -> None:
        import tempfile

        import numpy as np

        data = np.ascontiguousarray(array)
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix=self._prefix)
        self._file.seek(self._end)
        self._file.write(memoryview(data.reshape(-1)).cast("B"))
        self._where[key] = (self._end, data.shape, data.dtype)
        self._end += data.nbytes

    def get(self, key):
        """A fresh (writable) copy of what was put under `key`; KeyError if nothing was."""
        import numpy as np

        offset, shape, dtype = self._where[key]
        array = np.empty(shape, dtype)
        self._file.seek(offset)
        read = self._file.readinto(memoryview(array.reshape(-1)).cast("B"))
        if read != array.nbytes:  # the file is ours alone and unlinked: only a failing disk could do this
            raise OSError(errno.EIO, f"read {read} of {array.nbytes} bytes back")
        return array

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._where.clear()

    def __enter__(self) -> ArraySpill:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- stale temps ----------------------------------------------------------------------------------


def clean_stale_temps(directory: PathLike) -> list[Path]:
    """Remove the temps that dead writers left in `directory`; return them.

    Only names of our exact temp pattern are considered, and only those whose lock this process can
    take at once: a live writer (any host, any PID namespace) holds it, a dead one's went with it.
    A frames folder that a killed run had moved aside (`.NAME.old-...`) is put back when NAME is
    missing, so an interrupted replacement never loses the old frames. Runs once per directory per
    process; errors are ignored (another process may be cleaning the same directory).
    """
    key = os.path.abspath(os.fspath(directory))
    if fcntl is None or key in _cleaned:
        return []
    _cleaned.add(key)
    removed = []
    try:
        names = {entry.name: entry.is_dir(follow_symlinks=False) for entry in os.scandir(key)}
    except OSError:
        return []
    for name, is_dir in names.items():
        match = _TEMP_NAME.match(name)
        if not match or os.fspath(os.path.join(key, name)) in held_temps:
            continue
        path = Path(key, name)
        if is_dir:
            if path in removed:
                continue  # gone already, with its lock file (listed before it)
            # Its lock file is created before it and removed after it: no lock file, no live writer.
            if not os.path.lexists(f"{path}{_LOCK_SUFFIX}") and _remove_stale(path, match):
                removed.append(path)
            continue
        with taken_lock(path) as fd:
            if fd is None:
                continue  # a live writer's, or not ours to judge
            try:
                owned = Path(f"{path}"[: -len(_LOCK_SUFFIX)]) if name.endswith(_LOCK_SUFFIX) else None
                if owned is not None and owned.name in names and names[owned.name]:
                    owned_match = _TEMP_NAME.match(owned.name)
                    if owned_match and _remove_stale(owned, owned_match):
                        removed.append(owned)
                if same_inode(fd, path):
                    os.unlink(path)
                    removed.append(path)
            except OSError:
                pass
    return removed


def _settle_at_exit() -> None:
    """Settle the temps this process still holds as it exits, as the next run's sweep would.

    A temp still held at exit was never finished: a stop signal landed after it was made (and
    recorded) but before its writer had it in hand, so no `finally` of that writer could remove it.
    A temp is removed; a moved-aside frames folder is put back if its name is free. Registered with
    atexit, so it runs after a Ctrl-C too (not after SIGKILL: then the next run's sweep does it).
    """
    for tmp in list(held_temps):
        path = Path(tmp)
        match = _TEMP_NAME.match(path.name)
        if match and match["tag"] == "old":
            try:
                _remove_stale(path, match)
            finally:
                release(tmp)
        elif match and match["tag"] in settle_at_exit:  # a claim a waiter may have taken over: removed only if ours
            settle_at_exit[match["tag"]](path)  # (a Python caller's daemon thread, still inside `claimed_in_turn`)
        else:
            discard(tmp)


atexit.register(_settle_at_exit)
if hasattr(os, "register_at_fork"):  # a forked child owns none of its parent's temps: not its to settle
    os.register_at_fork(after_in_child=held_temps.clear)


@contextmanager
def taken_lock(path: PathLike) -> Iterator[int | None]:
    """Over the block, an fd holding the exclusive flock of the existing file `path` if no one else held it, else
    None (also where it does not exist, is no plain file or has no flock here: nothing to judge by); the lock is let
    go when the block ends. Never creates it: a lock file another tool shares (huggingface_hub's, group-writable)
    must keep the mode that tool gave it."""
    fd = None
    try:
        # Opened, locked and in hand in one go: a stop between (a caller's SIGTERM handler's) left this process
        # holding the lock for its life, so other runs took a dead writer's temp for a live one's.
        with deferred():
            fd = _take_lock(path)
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _take_lock(path: PathLike) -> int | None:
    if fcntl is None:
        return None
    try:
        # Read-write: on NFS a flock is a write lock on the server, which needs a writable fd.
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _remove_stale(path: Path, match: re.Match) -> bool:
    """Remove a dead writer's temp directory, or put a moved-aside frames folder back. True if removed."""
    original = path.with_name(match["stem"] + match["suffix"])
    if match["tag"] == "old":
        if not os.path.lexists(original):
            try:
                os.rename(path, original)
            except OSError:
                pass
            return False
    shutil.rmtree(path, ignore_errors=True)
    return not os.path.lexists(path)


# --- shared files: one writer at a time, removal only of what was read -------------------------------

# How often a wait for `held_lock` looks again: short beside the wait, long beside a lock's usual holding.
_LOCK_POLL_SECONDS = 0.02


@contextmanager
def held_lock(path: PathLike, *, wait: float) -> Iterator[bool]:
    """Hold an exclusive `flock` on `<path>.lock` (created if missing, and left there) around a
    read-modify-write of `path`, so concurrent writers (processes, containers, NFS clients) merge
    instead of overwriting each other. Yields True when held; False when it could not be had within
    `wait` seconds, or not at all (a read-only folder, no flock here): the caller then goes on
    without it, so a stuck or dead holder costs at most `wait`, never a hang or a failure.

    The lock file is never removed: removing it while another process waits on its inode would let
    a third one lock a new file beside them. Like the temps' locks, the kernel (or the NFS server)
    drops it when its holder dies.
    """
    fd = None
    try:
        with deferred():  # opened and in hand in one go: a stop between left the descriptor open for good
            if fcntl is not None:
                try:
                    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                    fd = os.open(f"{os.fspath(path)}{_LOCK_SUFFIX}", flags, 0o666)
                except OSError:
                    fd = None
        yield fd is not None and lock_within(fd, wait) is True
    finally:
        if fd is not None:
            os.close(fd)  # drops the lock


def remove_if_same(path: PathLike, identity: os.stat_result) -> None:
    """Remove `path` only if it is still the file `identity` (an fstat of what was read) describes.

    A cache entry found damaged may meanwhile have been replaced by another process renaming a good
    one into place: that one is kept. Never raises (a read-only cache, an entry already gone).
    """
    try:
        now = os.stat(path)
        if (now.st_dev, now.st_ino) == (identity.st_dev, identity.st_ino):
            os.unlink(path)
    except OSError:
        pass


# --- places and identities ------------------------------------------------------------------------


def write_target(path: PathLike) -> Path:
    """Where `path` is written. Path() drops a trailing slash, so "out/frames/" and "out/frames" are one target.

    An output named by a symlink is written where the link points (a link to a folder gets the frames,
    a link to a file the new file) and the link stays, as `cp` and a shell's `>` write through one, and
    as `interp batch` places its rows; renaming over the link itself would leave it replaced and its
    target old. The temp then lies beside the real target, so the final rename stays on one file system.
    """
    target = Path(os.fspath(path))
    if os.path.islink(target):  # False, not an error, for a name too long to look up: refused later, with words
        target = Path(os.path.realpath(target))
    return target


def check_input_file(path: PathLike, what: str = "an input") -> str:
    """Refuse, with one line (UsageError), a path that is not a readable regular file; return its name.

    Only stat()ed, never opened: opening a FIFO would block until someone writes to it.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file", name) from None
    except NotADirectoryError:
        raise InputError(f"{name}: no such file (a parent is not a directory)", name) from None
    except PermissionError:
        raise InputError(f"{name}: permission denied", name) from None
    except OSError as err:
        raise InputError(f"{name}: cannot read ({err.strerror or err})", name) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{name}: is a directory, not {what}", name)
    if not stat.S_ISREG(st.st_mode):
        if stat.S_ISFIFO(st.st_mode):
            kind = "a FIFO (named pipe)"
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = "a device"
        else:
            kind = "a socket or other special file"
        raise InputError(f"{name}: is {kind}, not a regular file", name)
    if not os.access(name, os.R_OK):
        raise InputError(f"{name}: permission denied", name)
    return name


def refuse_overwriting_inputs(inputs, outputs) -> None:
    """UsageError if an output would overwrite an input: the same file (symlinks and hard links
    count), or a directory (a frames output) holding one, since replacing it would delete the input.
    `outputs` may hold None for outputs not asked for, and (keyword, path) for one given by an option other
    than -o, which the message then names as `output_paths.refuse_clashes` does (`--sheet a.png: is the input ...`,
    `sheet="a.png": ...` to a Python caller)."""
    for output in outputs:
        name, output = output if isinstance(output, tuple) else (None, output)
        if output is None:
            continue
        shown = spelt(name, os.fspath(output)) if name else os.fspath(output)
        for path in inputs:
            if same_file(path, output):
                raise UsageError(f"{shown}: is the input {os.fspath(path)}; choose another output name")
            if os.path.isdir(output) and same_file(os.path.dirname(os.path.abspath(path)), output):
                raise UsageError(f"{shown}: this directory holds the input {os.fspath(path)}; choose another output")


def too_long_name(path: PathLike, base: PathLike | None = None, *, limit: int | None = None) -> str | None:
    """Why `path` (relative to `base`, else as given) cannot be written here, else None: a part
    longer than the file system takes (NAME_MAX, usually 255 bytes; `limit` if known already, see
    `name_max`), the last part counting the temp name it is first written under (`TEMP_NAME_EXTRA` more bytes)."""
    text = os.fspath(path)
    limit = limit or name_max(base if base is not None else ".")
    if len(os.fsencode(text)) <= limit - TEMP_NAME_EXTRA:  # no part is longer than the whole (a batch's every row)
        return None
    parts = Path(text).parts
    for index, part in enumerate(parts):
        size = len(os.fsencode(part))
        room = limit - TEMP_NAME_EXTRA if index == len(parts) - 1 else limit
        if size > room:
            return f"the name {part[:40]!r}... is {size} bytes; the most this file system allows here is {room}"
    return None


def name_max(place: PathLike) -> int:
    """The longest file name (bytes) that the file system of `place`, or of its nearest existing folder, takes."""
    place = Path(os.fspath(place))
    for candidate in (place, *place.parents):
        try:
            limit = os.pathconf(candidate, "PC_NAME_MAX")
            break
        except (OSError, ValueError):
            continue
    else:
        limit = 255
    return limit if limit and limit > 0 else 255


# FS_IOC_FSGETXATTR, _IOR('X', 31, struct fsxattr): 28 bytes whose fourth u32 is the project ID. The read
# direction's bits differ on a few architectures (ppc, mips, sparc, alpha: 3 direction bits, read = 2).
_FSGETXATTR = 0x401C581F if platform.machine().startswith(("ppc", "powerpc", "mips", "sparc", "alpha")) else 0x801C581F


def project_id(folder: PathLike) -> int | None:
    """The project ID of `folder` (XFS, ext4 and Lustre keep one per file, inherited by what is made in a project's
    folder, and project quotas count by it), or None where there is none to read (another file system, no such
    folder, not Linux). 0 is a folder in no project."""
    if fcntl is None or not sys.platform.startswith("linux"):
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return struct.unpack_from("=I", fcntl.ioctl(fd, _FSGETXATTR, bytes(28)), 12)[0]
    except OSError:  # ENOTTY: a file system without project IDs (tmpfs before Linux 6.x, NFS, /proc)
        return None
    finally:
        os.close(fd)


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether `a` and `b` are one file on disk (symlinks and hard links included); False if either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
