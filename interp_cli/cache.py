"""Latent cache: encoded (and refined) codes on disk, keyed by what determines them.

The key is a hash of the pixels the encoder sees (the aligned crop, so a change of detector,
face or alignment code can never serve a stale code), the weights' sha256 and the refinement
settings, so a batch job that morphs the same photo many times encodes it once. Entries are
small `.npy` files written atomically, so runs that share one cache directory never see half
an entry.

An entry is checked before it is trusted (shape, dtype, every value finite): a damaged one (an
empty or truncated file, NaNs) is removed and the code recomputed, with a note under `--debug`.
Writing is best effort: a full disk or a read-only cache warns once and the morph goes on.

The folder is bounded as the tuned-weights cache is (`cache_folders.CacheBound`): 2 GB by default,
`INTERP_LATENT_CACHE_MB` (0 turns the cache off), the least recently used entries removed first. An ffhq
entry takes 37 KB, so 100,000 rows of photos that no other row has (200,000 codes) left 8.2 GB that nothing
removed (benchmarks/bench_latent_cache.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from interp_cli.checks import number_word
from interp_cli.errors import InterpError, UsageError
from interp_cli.cache_folders import CacheBound, CacheWarnings, cache_dir, mark_used
from interp_cli.files import atomic_save_npy, remove_if_same
from interp_cli.npy import read_npy

_debug = logging.getLogger(__name__).debug

DEFAULT_CACHE_MB = 2048
CACHE_MB_ENV = "INTERP_LATENT_CACHE_MB"
CACHE_NAME = "latent cache"  # as a warning about its bound names it: "the latent cache keeps its default bound"
# The tuned-weights cache's (interp_cli.tune.TunedCache's), here so that `interp cache` says it without torch.
TUNED_DEFAULT_CACHE_MB = 2048
TUNED_CACHE_MB_ENV = "INTERP_TUNE_CACHE_MB"
TUNED_CACHE_NAME = "tuned-weights cache"
# A pass over the folder stats every entry: about 2 s for 200,000 of them on the development VM. One pass where
# the folder's record (CacheBound.add) says it is over its bound (a bound lowered since applies at once), or
# that this share of the bound was written since the last pass by any process: at 2 GB, every ~860 ffhq codes,
# and the folder exceeds its bound by at most this share meanwhile.
_EVICT_SHARE = 1 / 64


def cache_key(**settings) -> str:
    """A stable hash of the settings that determine a code (JSON with sorted keys)."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def image_digest(image) -> str:
    """sha256 of a PIL image's mode, size and pixels: what decides its code, whatever file it came from."""
    digest = hashlib.sha256(f"{image.mode} {image.size[0]}x{image.size[1]}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def array_digest(array) -> str:
    """sha256 of an array's dtype, shape and bytes (codes and crops in the tuned-weights key)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype} {list(array.shape)}\n".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


class LatentCache:
    """`get(key, shape)` / `put(key, code)` over `<dir>/latents/<key>.npy`; a bad entry counts as a miss.

    `warn` receives the one warning a failed write gives (per cache object), e.g. a Session's log. `max_bytes`
    bounds the folder (default: $INTERP_LATENT_CACHE_MB megabytes, else 2048; 0: nothing read or written).
    """

    def __init__(self, directory: str | os.PathLike | None = None, *, max_bytes: int | None = None,
                 warn: Callable[[str], None] | None = None, failures: CacheWarnings | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else cache_dir("latents")
        self.bound = CacheBound(CACHE_MB_ENV, DEFAULT_CACHE_MB, CACHE_NAME, max_bytes)
        self.hits = 0
        self.misses = 0
        self.warn = warn
        # Where a failed write is said: shared with the Session's other cache, so that one cause is one line. Named in
        # the other's line only while a code it missed is still to be written (`_unwritten`, from a miss to its put).
        self._unwritten = False
        self.failures = (failures or CacheWarnings(warn)).add("latent cache", self.directory,
                                                              idle=lambda: not self._unwritten)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    @contextmanager
    def lookups(self) -> Iterator[LatentCache]:
        """Around a caller's lookups and the writes their misses lead to (`Session.encode_inputs`): once it ends, a
        miss whose write never came (its encoding failed or was stopped, or the photos were refused in between) is
        no code still to be written. It stayed one, and a Session's later --tune morph that only read this cache
        named it in the tuned-weights cache's warning ("latent and tuned-weights caches not written")."""
        try:
            yield self
        finally:
            self._unwritten = False

    def get(self, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        """The cached float32 code, or None (missing, or damaged and then removed).

        `shape`, when given, is what a usable code must have; a float32 dtype and finite values
        are always required.
        """
        self.bound.note_bad_setting(self.warn)
        if self.bound.max_bytes <= 0:
            self.misses += 1
            return None
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                identity = os.fstat(fh.fileno())
                try:
                    code = read_npy(fh, name=str(path))  # header first: a damaged one never allocates
                    problem = _problem(code, shape)
                except UsageError as err:
                    problem = f"unreadable ({err})"
                except (ValueError, EOFError, OSError) as err:
                    problem = f"unreadable ({type(err).__name__}: {err})"
        except OSError:
            self.misses += 1
            self._unwritten = True
            return None
        if problem is not None:
            self.misses += 1
            self._unwritten = True
            _debug("latent cache entry %s is damaged (%s): removed, the code is computed again", path, problem)
            remove_if_same(path, identity)  # unless another run has replaced it with a good one since
            return None
        mark_used(path)  # the last to be evicted
        self.hits += 1
        return code

    def put(self, key: str, code: np.ndarray) -> None:
        self._unwritten = False
        self.bound.note_bad_setting(self.warn)
        if self.bound.max_bytes <= 0:
            return
        code = np.asarray(code, dtype=np.float32)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_save_npy(self._path(key), code)
        except (OSError, InterpError) as err:
            # A cache that cannot be written (read-only home, full disk) must not fail the morph.
            self.failures.not_written("latent cache", err, self.directory)
            return
        try:
            size = self._path(key).stat().st_size  # as a pass counts it: the header too
        except OSError:  # evicted already by another process's pass
            size = 0
        self.bound.add(self.directory, ".npy", size, _EVICT_SHARE)  # the entry just written is the newest: kept


def _problem(code: np.ndarray, shape: tuple[int, ...] | None) -> str | None:
    if code.dtype != np.float32:
        return f"dtype {code.dtype}, expected float32"
    if shape is not None and tuple(code.shape) != tuple(shape):
        return f"shape {list(code.shape)}, expected {list(shape)}"
    if not np.isfinite(code).all():
        return "NaN or infinite values"
    return None


# interp's cache dir, part by part (`interp cache`): what each holds, what keeps it small, and the cache's name in
# the warning about that bound (a morph's words: "the encoded codes keeps its default bound" was no sentence).
_PARTS = (
    ("latents", "encoded codes", CACHE_MB_ENV, DEFAULT_CACHE_MB, CACHE_NAME),
    ("tuned", "tuned generator weights (--tune)", TUNED_CACHE_MB_ENV, TUNED_DEFAULT_CACHE_MB, TUNED_CACHE_NAME),
    ("align", "the face detector and landmark model, parsed (3 landmark models at most)", None, None, None),
    ("hashing", "a lock file per weights file hashed (empty)", None, None, None),
)


def bound_warnings() -> list[str]:
    """The warnings a morph gives about an unreadable bound setting (`INTERP_TUNE_CACHE_MB=abc`, `=-1`), one a part:
    `interp cache` showed such a part's default bound beside the variable's name, as if the value set were taken."""
    said: list[str] = []
    for _, _, env, default_mb, cache_name in _PARTS:
        if env:
            CacheBound(env, default_mb, cache_name).note_bad_setting(said.append)
    return said


def off_setting(env: str) -> str:
    """The setting that turned a part off, as `interp cache` names it: `$ENV=0`, or a value over 0 that is under one
    byte as it was set (`$INTERP_TUNE_CACHE_MB=0.0000001, under one byte`), which "=0" misnamed."""
    setting = os.environ.get(env, "").strip()
    if number_word(setting, integer=False):  # over 0 (a bound below 0 keeps the default, so never here)
        return f"${env}={setting}, under one byte"
    return f"${env}=0"


def usage(root: str | os.PathLike | None = None) -> dict:
    """Where interp's cache dir is (`cache_dir`; `root`: a caller's own) and what it holds: {"path", "bytes",
    "files", "parts": [{"name", "path", "what", "bytes", "files", "bound_bytes", "bound_env", "link"}], "clear",
    "unlock", "unreadable": [{"path", "error"}]}; the files at its top (the weights' sha256 records, 256 at most) are
    counted in the totals. A part's `bound_bytes` is null where its size is kept small otherwise. Nothing is created.

    No symlink in the dir is followed, to count or to clear: `link` is where a part that is one points (else null),
    counted as the link alone. Clearing removes the link, never what it points at, which may be anyone's folder.

    Only interp's own entries are counted, and `clear` (the paths that clearing it removes) names them, not the dir,
    where the dir holds anything else: $INTERP_CACHE_DIR may be a folder of the user's (`~`, a project's scratch),
    which `rm -rf` of the whole would take with it, and whose other files are no cache of interp's. Nor where the
    dir is a symlink: `rm -rf` of a link removes the link and leaves every entry where it was.

    `unreadable` names what could not be listed (a folder this user may not read, a file where the dir should be):
    its bytes are not in the totals. It read as an empty folder, "0 bytes", and the dir as "nothing of interp's".
    `rm -rf` cannot empty such a folder: `unlock` names those of this user's, to make readable before clearing, and
    a part holding one of anyone else's is not in `clear` (`_unclearable`). Nor one it can list but not write or
    search (`chmod 555`): `unlock` names those of this user's too, found on the same walk."""
    from interp_cli.sha256_record import RECORDS_FILENAME

    top = cache_dir(root=root)
    unreadable: list[dict] = []
    locked: list[str] = []
    try:
        names = sorted(os.listdir(top))
    except FileNotFoundError:  # not made yet: nothing of interp's there to count or clear
        names = []
    except OSError as err:
        names = []
        unreadable.append({"path": str(top), "error": err.strerror or str(err), "errno": err.errno})
    parts = []
    for name, what, env, default_mb, cache_name in _PARTS:
        size, count = _du(top / name, unreadable, locked)
        bound = CacheBound(env, default_mb, cache_name).max_bytes if env else None
        try:
            link = os.readlink(top / name)
        except OSError:  # not a symlink (or not there)
            link = None
        parts.append({"name": name, "path": str(top / name), "what": what, "bytes": size, "files": count,
                      "bound_bytes": bound, "bound_env": env, "link": link})
    walked = {part["name"] for part in parts}
    own = walked | {RECORDS_FILENAME, f"{RECORDS_FILENAME}.lock"}
    # the records' hidden temps too (`files.temp_name`: `.sha256-records.tmp-<hex>.json`), a killed writer's
    ours = [name for name in names if name in own or name.startswith("." + RECORDS_FILENAME.split(".")[0] + ".")]
    # the parts are counted already
    at_top = [_du(top / name, unreadable, locked) for name in ours if name not in walked]
    size = sum(part["bytes"] for part in parts) + sum(size for size, _ in at_top)
    count = sum(part["files"] for part in parts) + sum(count for _, count in at_top)
    # one entry per place: an unreadable top is also why none of its parts could be looked at
    said: list[dict] = []
    for problem in unreadable:
        if not any(problem["path"] == seen["path"] or problem["path"].startswith(seen["path"].rstrip("/") + "/")
                   for seen in said):
            said.append(problem)
    unlock, left = _unclearable(top, said, locked)
    whole = names and ours == names and not os.path.islink(top) and not left
    if whole and _locked(top):  # rm removes its entries, then it: `chmod -R` of it reaches every folder below too
        unlock = [str(top)]
    clear = [str(top)] if whole else [str(top / name) for name in ours if name not in left]
    return {"path": str(top), "bytes": size, "files": count, "parts": parts, "clear": clear, "unlock": unlock,
            "unreadable": [{"path": problem["path"], "error": problem["error"]} for problem in said]}


def _unclearable(top: Path, unreadable: list[dict], locked: list[str]) -> tuple[list[str], set[str]]:
    """What `rm -rf` could not clear: it must list a folder to empty it, so an unreadable folder under the dir failed
    it ("Permission denied", exit 1) on the line told to clear. One of this user's is made readable first (the first
    list: `chmod -R u+rwx`, which reaches folders unreadable further in); a part holding one that is anyone else's, or
    unreadable for another cause (an I/O error), is left out of clearing (the second: the names of those parts), as
    nothing this user runs would clear it. `locked` (`_locked`: this user's, listed but not writable or searchable,
    which rm could not empty either) joins the first list, but for those below a folder already in it."""
    unlock: list[str] = []
    left: set[str] = set()
    for path in locked:
        if not any(Path(path).is_relative_to(outer) for outer in unlock):  # os.walk goes top-down
            unlock.append(path)
    for problem in unreadable:
        path = Path(problem["path"])
        if top not in path.parents:  # the dir itself: nothing of it was listed, so nothing is told to clear
            continue
        if any(path.is_relative_to(outer) for outer in unlock):  # below a folder that could not be searched
            continue  # `chmod -R` of that folder reaches it too
        try:
            mine = problem["errno"] == errno.EACCES and os.lstat(path).st_uid == os.geteuid()
        except OSError:  # the folder holding it cannot be searched either
            mine = False
        if mine:
            unlock.append(str(path))
        else:
            left.add(path.relative_to(top).parts[0])
    return [path for path in unlock if Path(path).relative_to(top).parts[0] not in left], left


def _du(path: Path, unreadable: list[dict], locked: list[str]) -> tuple[int, int]:
    """Bytes and number of the files at `path`: a file, or a folder walked (symlinks not followed); (0, 0) where
    there is none. A folder that cannot be listed, or whose files' sizes cannot be looked at (listed but not
    searchable), is added to `unreadable` ({"path", "error"}), one of this user's that can be listed but cannot be
    written or searched to `locked` (`_locked`)."""
    def failed(err: OSError) -> None:
        unreadable.append({"path": err.filename or os.fspath(path), "error": err.strerror or str(err),
                           "errno": err.errno})

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0, 0
    except OSError as err:  # a top this user may not search
        failed(err)
        return 0, 0
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size, 1
    size = count = 0
    for here, folders, names in os.walk(path, onerror=failed):
        if _locked(here):
            locked.append(here)
        if folders and not os.access(here, os.X_OK):  # listed but not searchable, as below: said as the folder, not
            failed(OSError(errno.EACCES, os.strerror(errno.EACCES), here))  # as each folder in it the walk fails on
            folders.clear()
            continue
        for name in names:
            try:
                size += os.lstat(os.path.join(here, name)).st_size
            except FileNotFoundError:  # removed meanwhile (evicted by a run)
                continue
            except OSError as err:  # listed but not searchable (`chmod 600`): none of its entries can be looked at
                failed(OSError(err.errno, err.strerror, here))  # said once, as the folder, not per file
                folders.clear()  # nor walked into: each would fail alike
                break
            count += 1
    return size, count


def _locked(folder: str | os.PathLike) -> bool:
    """Whether `folder` is this user's and its mode keeps its owner from writing or searching it (`chmod 555`, `600`):
    rm lists it and then fails on each entry ("Permission denied"). The mode, not access(): `chmod u+rwx` lifts only
    what the mode withholds, not a read-only mount's refusal."""
    try:
        info = os.lstat(folder)
    except OSError:  # gone meanwhile, or its parent cannot be searched (said as unreadable)
        return False
    wanted = stat.S_IWUSR | stat.S_IXUSR
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & wanted != wanted
