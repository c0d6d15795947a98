"""interp's cache dir: where it is, how each of its folders is kept within a bound, and the one warning its caches
give when they cannot be written. The caches themselves are their users' (`cache.LatentCache`, `tune.TunedCache`,
the aligner's landmark and detector files, `sha256_record`'s digests).

    cache_dir(part=None) -> Path                 # $INTERP_CACHE_DIR, $XDG_CACHE_HOME/interp, ~/.cache/interp
    mark_used(entry) / evict_least_recent(entries, keep=, room=)  # a cache's entries kept by last use
    CacheBound(env, default_mb, what)            # a folder's bound in bytes, its record (USAGE_RECORD), its eviction
    CacheWarnings(warn).add(what, folder)        # "cannot be written" said once for every cache one cause stops

The entries are written through `files.atomic_write`, as any file of interp's.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from interp_cli.checks import digits_only, number_word
from interp_cli.errors import InterpError, set_env
from interp_cli.failures import NO_ROOM, cache_not_written, os_cause
from interp_cli.files import PathLike, atomic_write, name_max
from interp_cli.output_paths import why_missing

CACHE_DIR_ENV = "INTERP_CACHE_DIR"

# What lives under interp's cache dir, a folder each (and the sha256 records file at its top).
CACHE_PARTS = ("latents", "tuned", "align")


def cache_dir(part: str | None = None, *, root: PathLike | None = None) -> Path:
    """interp's cache dir: `$INTERP_CACHE_DIR`, else `$XDG_CACHE_HOME/interp` (an absolute one), else
    `~/.cache/interp` (`~` expanded); `root` is a caller's own instead (`Session(cache_dir=...)`). With `part`
    (CACHE_PARTS), its folder."""
    if part is not None and part not in CACHE_PARTS:
        raise ValueError(f"cache part {part!r}: one of {', '.join(CACHE_PARTS)}")
    if root is not None:
        top = Path(root).expanduser()
    elif os.environ.get(CACHE_DIR_ENV):
        top = Path(os.environ[CACHE_DIR_ENV]).expanduser()
    else:
        # A relative XDG_CACHE_HOME is invalid and ignored, as the XDG Base Directory spec has it: taken as it came,
        # it left a cache folder (`relative/interp/latents/...`) in whatever folder interp was run from.
        xdg = os.path.expanduser(os.environ.get("XDG_CACHE_HOME", ""))
        top = (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "interp"
    return top / part if part is not None else top


def mark_used(entry: PathLike) -> None:
    """Stamp a cache entry as just used (its mtime), so that `evict_least_recent` removes it last. Best effort: in
    a read-only cache the entry keeps its place, which costs at most an earlier eviction."""
    try:
        os.utime(entry)
    except OSError:
        pass


# A cache folder's record of its size (`CacheBound.add`): the bytes its entries took at the last eviction pass,
# then a `+N` line per entry written since. Hidden, so never an entry, and not of a temp's form (never swept).
USAGE_RECORD = ".usage"


def evict_least_recent(entries, *, keep: int | None = None, room: int | None = None) -> int:
    """Keep the most recently used (`mark_used`) of a cache's `entries` (paths), as many as fit in `keep` entries
    and `room` bytes, and remove the rest. An entry gone meanwhile is not counted; one that cannot be removed
    (another user's, a read-only folder) stays, and no newer one goes in its stead: the bound is kept where
    it can be, never at the price of the entry just written. A run that has an entry open or mapped keeps
    reading it once removed. Callers list their own entries: never a writer's hidden temp. Returns the bytes of
    the entries left."""
    found = []
    for path in entries:
        try:
            info = os.stat(path)
        except OSError:
            continue
        found.append((info.st_mtime, info.st_size, path))
    kept = total = left = 0
    full = False
    for _, size, path in sorted(found, key=lambda entry: entry[:2], reverse=True):  # newest first
        # Once one does not fit, no older one is kept either: the least recently used go, smaller or not.
        full = full or (keep is not None and kept >= keep) or (room is not None and total + size > room)
        if not full:
            kept, total = kept + 1, total + size
            continue
        try:
            os.unlink(path)
        except OSError:
            left += size
    return total + left


class CacheWarnings:
    """The warning a cache gives when it cannot be written, said once for every cache that one cause turns off.

    A Session's caches (latents/ and tuned/) live under one root: a root that cannot take them (INTERP_CACHE_DIR a
    file, under /proc or unwritable, a read-only or full disk) failed each in turn, and a --tune run printed a line
    per cache for one cause. The first failure now names each cache `add`ed here that the same cause stops too
    (`_fails_alike`), and those say nothing more; a cache that fails for a reason of its own says so itself. A cache
    made alone gets one of its own (the warning it always gave). A cache with nothing to write now (`idle`: the
    latent cache whose codes a --tune morph reused, when tuned/ then fails) is not named: the line said "latent and
    tuned-weights caches not written" of a cache that had only been read; a later miss of its says its own line."""

    def __init__(self, warn: Callable[[str], None] | None):
        self.warn = warn
        self.caches: dict[Path, str] = {}  # folder -> what it is called ("latent cache")
        self.idle: dict[Path, Callable[[], bool]] = {}  # folder -> whether that cache has nothing to write now
        self.off: set[Path] = set()  # the folders said to be off

    def add(self, what: str, folder: Path, idle: Callable[[], bool] | None = None) -> CacheWarnings:
        self.caches[Path(folder)] = what
        if idle is not None:
            self.idle[Path(folder)] = idle
        return self

    def not_written(self, what: str, err: BaseException, folder: Path) -> None:
        folder = Path(folder)
        if folder in self.off:
            return
        cause = os_cause(err)
        alike = [other for other in self.caches if other != folder and other not in self.off
                 and not (other in self.idle and self.idle[other]())
                 and cause is not None and _fails_alike(other, cause, folder)]
        self.off.update([folder, *alike])
        if self.warn is not None:
            in_the_way = _file_in_the_way(folder) if cause is not None and cause.errno in _NOT_A_FOLDER else None
            said = InterpError(in_the_way) if in_the_way else err
            self.warn(cache_not_written([what, *(self.caches[other] for other in alike)], said, folder))


# What making a cache's folder meets where a file is in its way: at the folder itself, or above it.
_NOT_A_FOLDER = (errno.EEXIST, errno.ENOTDIR)


def _file_in_the_way(folder: Path) -> str | None:
    """Which file stands where a cache's `folder` or a folder above it goes, and what to do, in the words of whoever
    reads it (or a symlink to nothing); None where none does (one gone since). The OS said only "(.../tuned: File
    exists)" or "(.../latents: Not a directory)", naming the folder it could not make, not the file in its way. A
    file where a cache part goes is in interp's own cache dir; one at or above the cache dir is the user's
    (INTERP_CACHE_DIR mistyped, a `cache_dir=` given a file), never to be removed on interp's word: the setting is
    what to change."""
    blocker = next((path for path in (folder, *folder.parents) if os.path.lexists(path)), None)
    if blocker is None or os.path.isdir(blocker):
        return None
    dangling = not os.path.exists(blocker)
    what = why_missing(blocker) if dangling else "is a file, not a folder"
    if blocker == folder:
        if dangling:
            return f"{folder} {what}: make that folder, or remove the link"
        return f"{folder} is a file where this cache's folder goes: move it away or remove it"
    root = folder.parent
    if folder.name not in CACHE_PARTS or cache_dir(folder.name) != folder:
        fix = "give Session(cache_dir=...) a folder"  # only a Python caller names a root of its own
    else:
        fix = set_env(CACHE_DIR_ENV, "/path/to/folder")
    if blocker == root:
        return f"the cache dir {root} {what}: {fix}"
    return f"{blocker} {what}, so the cache dir {root} cannot be made: {fix}"


def _fails_alike(other: Path, cause: OSError, folder: Path) -> bool:
    """Whether the cache folder `other` cannot be written either, for the `cause` that stopped `folder`'s: a full
    or read-only disk they share, a name on the way to both too long, or a folder on the way to `other` that is not
    one, is not writable, or is where the write failed (`/proc/nope`, which makes no folder). Judged without making
    anything: a guess, which only words the line (a cache said to be off still tries its writes, and is right or
    silent)."""
    there = _nearest_existing(other)
    if cause.errno in (NO_ROOM - {errno.EFBIG}) | {errno.EROFS}:  # a file-size limit is the entry's: a smaller fits
        try:
            return os.stat(there).st_dev == os.stat(_nearest_existing(folder)).st_dev
        except OSError:
            return False
    if cause.errno == errno.ENAMETOOLONG:  # a part of the path both take (the root's own name) past NAME_MAX?
        shared = Path(os.path.commonpath([other, folder]))
        return any(len(os.fsencode(part)) > name_max(shared) for part in shared.parts)
    if not there.is_dir() or not os.access(there, os.W_OK | os.X_OK):
        return True
    failed_at = Path(os.fsdecode(cause.filename)) if cause.filename else None
    return failed_at is not None and failed_at != folder and failed_at in other.parents


def _nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


class CacheBound:
    """A cache folder's bound in bytes, set in megabytes by an environment variable (`INTERP_TUNE_CACHE_MB`,
    `INTERP_LATENT_CACHE_MB`; 0 turns that cache off), and the eviction that keeps the folder's entries within it.

    `max_bytes`, when given, is the bound (a test's, a caller's). An unreadable setting ("abc", "nan", "inf") is a
    typo, not a wish for no bound: the default applies, and `note_bad_setting` says so once.
    """

    def __init__(self, env: str, default_mb: int, what: str, max_bytes: int | None = None):
        self.env, self.default_mb, self.what = env, default_mb, what
        self.bad_setting = None
        if max_bytes is None:
            setting = os.environ.get(env, "").strip()
            # ASCII digits (`checks.number_word`, the one reading of a number): float() took `1_0` for 10 MB and
            # `٥٠٠` for 500, which no one typing 1.0 or reading the variable back would expect.
            megabytes = number_word(setting, integer=False) if setting else default_mb
            try:
                # Below 0 too: `-1`, "no limit" to many tools, turned the cache off without a word (a bound under
                # 0 bytes keeps nothing) and `interp cache` said "at most -1000000 bytes".
                if megabytes is None or megabytes < 0:
                    raise ValueError(setting)
                max_bytes = int(megabytes * 1e6)
            except (ValueError, OverflowError):  # also nan, inf
                max_bytes = int(default_mb * 1e6)
                self.bad_setting = setting
        self.max_bytes = max_bytes

    def note_bad_setting(self, warn: Callable[[str], None] | None) -> None:
        """Tell `warn` of an unreadable setting, once (on first use, not at every Session's start)."""
        if self.bad_setting is not None and warn is not None:
            number = number_word(self.bad_setting, integer=False)
            why = "is below 0" if number is not None and number < 0 else \
                f"is not a number of megabytes{digits_only(self.bad_setting)}"
            warn(f"warning: {self.env}={self.bad_setting!r} {why}; the {self.what} keeps its "
                 f"default bound, {self.default_mb} MB (0 turns it off)")
        self.bad_setting = None

    def evict(self, directory: Path, suffix: str, room: int) -> int | None:
        """Remove the least recently used entries (`directory/*suffix`) until the rest take at most `room` bytes;
        return the bytes left (None: the folder could not be listed).
        Hidden names are other writers' temps (`.<key>.tmp-<hex>.pt`, `temp_name`) in progress, or a killed
        writer's that the next write sweeps: never an entry, never counted, never removed here (a live writer's
        rename would fail). Never raises: a cache that cannot be listed or pruned (read-only) is no reason to
        stop a morph."""
        try:
            paths = list(directory.glob(f"*{suffix}"))
        except OSError:
            return None
        return evict_least_recent([path for path in paths if not path.name.startswith(".")], room=room)

    def add(self, directory: Path, suffix: str, size: int, share: float) -> None:
        """Count an entry of `size` bytes just written into `directory`, and evict when a pass is due: the folder's
        record (`USAGE_RECORD`) says it is over the bound, or that `share` of the bound has been written since
        the last pass by any process, or there is no record to read (a folder this version has not pruned yet, a
        record damaged). Each process paid a pass at its first write so that a bound lowered since applied at
        once: 0.39 s with 50,000 ffhq codes, 13 % of a 3 s GPU morph. The record answers that from one small
        read (the lowered bound is compared with it), and a pass writes it afresh. Appends racing a pass may
        be lost (the entry then counts from the next pass on): the folder is over its bound by at most that
        much until the next pass, `share` of the bound later at most. Never raises, as `evict`."""
        record = directory / USAGE_RECORD
        try:
            # O_APPEND: each writer's line lands whole (a few bytes, one write) after the others'. No O_CREAT:
            # a record begins with a pass's total, so a missing one makes this write's pass.
            fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            try:
                os.write(fd, b"+%d\n" % size)
            finally:
                os.close(fd)
            lines = record.read_bytes().split(b"\n")
        except OSError:
            lines = []
        whole = len(lines) > 1 and not lines[-1] and lines[0].isdigit() and \
            all(line[:1] == b"+" and line[1:].isdigit() for line in lines[1:-1])
        since = sum(int(line) for line in lines[1:-1]) if whole else 0
        if whole and int(lines[0]) + since <= self.max_bytes and since < self.max_bytes * share:
            return
        left = self.evict(directory, suffix, self.max_bytes)
        if left is None:
            return
        try:
            with atomic_write(record) as fh:
                fh.write(b"%d\n" % left)
        except (OSError, InterpError):
            pass  # no record: the next write makes a pass, as before there was one
