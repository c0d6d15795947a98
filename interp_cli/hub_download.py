"""Fetching a hub file into the Hugging Face cache, for `interp_cli.weights`: the one place that talks to the hub.

A file already in the cache is used without a request. Otherwise one metadata request (is the hub reachable, is
its file the preset's), a check that the cache's disk has room, then huggingface_hub's own download, with lines
off a terminal for a big file; what killed downloads left behind is removed when nothing can use it. Every failure
becomes one WeightsUnavailableError line that says why and how to get the file (`_unavailable`).

Hub files go through huggingface_hub's own cache, so HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE and tokens behave
exactly as in every other HF tool. huggingface_hub is imported inside functions only: `interp weights list` and
the commands' weights checks import this module, and must stay fast.
"""

from __future__ import annotations

import errno
import glob
import inspect
import os
import re
import shlex
import shutil
import stat
import sys
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator

from interp_cli.errors import (ChecksumError, UsageError, WeightsUnavailableError, env_setting, option, set_env,
                               speaking_to_cli)
from interp_cli.files import kept_from_removal, remove_if_same, taken_lock
from interp_cli.presets import SHA256_HEX, WEIGHTS_ENV, Preset
from interp_cli.progress import human_size, is_terminal, polled
from interp_cli.shared_setting import SharedSetting

# Below this size a download or a hash is too quick to be worth lines on stderr ("downloading...", "verifying..."):
# a size, not a time, so what a run prints does not hang on the load of the machine or the network. A log sees
# the 1.2 GB checkpoint arrive and get verified; a small file (a test's, a tokenizer) and a cached one say nothing.
ANNOUNCE_ABOVE_BYTES = 64 * 1024 * 1024
# huggingface_hub releases before this one download into `blobs/<etag>.incomplete` and, on the next try, resume it
# (0.23+, and older ones given resume_download=True: `_resume_option`) or, with force_download, remove it first.
# 1.18 downloads into a new `<etag>.<8 hex>.incomplete` every time and never reads an older partial file
# (huggingface/huggingface_hub#4306).
_FRESH_PARTIAL_FROM = (1, 18)
# What makes a --weights value a hub file whatever else it looks like: `hf://owner/repo/file.pt`.
HUB_PREFIX = "hf://"


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face model repo, optionally at a fixed revision."""

    repo_id: str
    filename: str
    revision: str | None = None

    @property
    def id(self) -> str:
        return f"{self.repo_id}/{self.filename}" + (f"@{self.revision}" if self.revision else "")


def locate_on_hub(
    hub: HubFile, *, preset: Preset | None, spec: str, download: bool, progress: bool, force_download: bool,
    offline: bool | None = None,
) -> tuple[Path, bool]:
    """A hub file from the HF cache, downloading it if allowed; WeightsUnavailableError otherwise.

    `offline`: None follows HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE as they are set now (`_hub_offline`); False
    downloads whatever they say (a Python caller's `download_weights(offline=False)`, the command's
    `HF_HUB_OFFLINE=0 interp weights download`); True never downloads.
    Also says whether the file came through hf_hub_download in this call (True) or was found in the cache.
    """
    check_hub_settings()
    import huggingface_hub
    from huggingface_hub.file_download import repo_folder_name

    if not force_download:
        # Checked before hf_hub_download because that one asks the hub for the latest etag on every call:
        # a network round trip per run, and a failure when the hub is down even though the file is here.
        cached = huggingface_hub.try_to_load_from_cache(hub.repo_id, hub.filename, revision=hub.revision,
                                                        cache_dir=hub_cache())
        if isinstance(cached, str) and os.path.isfile(cached):
            # What a killed download of this file left goes too: found here, the file is never downloaded again,
            # so no later download would come this way.
            blob = _linked_blob(cached)
            if blob is not None:
                _remove_abandoned_partials(blob.parent, blob.name)
            return Path(cached), False
    if _hub_offline() if offline is None else offline:
        reason = "offline=True was passed" if offline else f"offline mode is on ({_offline_setting()})"
        raise _unavailable(hub, preset, spec, f"{reason} and it is not in the Hugging Face cache")
    if not download:
        raise _unavailable(hub, preset, spec, "it has not been downloaded (not in the Hugging Face cache)")
    reached = False
    try:
        with _progress_bars(progress), _quiet_hub_logs(), _hub_online(), _hub_timeouts():
            size, etag = _check_advertised(hub, preset)
            reached = True
            blobs = hub_cache() / repo_folder_name(repo_id=hub.repo_id, repo_type="model") / "blobs"
            _remove_abandoned_partials(blobs, etag)
            here = _resumed_bytes(blobs, etag, size)
            _check_room(size, here)
            with _download_lines(hub, preset, size, blobs, etag, here, progress):
                downloaded = huggingface_hub.hf_hub_download(
                    hub.repo_id, hub.filename, revision=hub.revision, force_download=force_download,
                    cache_dir=blobs.parent.parent, etag_timeout=_timeout("HF_HUB_ETAG_TIMEOUT"),
                    **_resume_option(huggingface_hub.hf_hub_download),
                )
    except Exception as err:
        reason = _download_failure_reason(err, hub, reached=reached)
        if reason is None:
            raise
        raise _unavailable(hub, preset, spec, reason) from err
    return Path(downloaded), True


def _check_room(size: int | None, here: int = 0) -> None:
    """Refuse, before any byte is fetched, a download that the disk of the Hugging Face cache has no room for.

    huggingface_hub only warns (a two-line UserWarning) and downloads until the disk is full; releases
    before 0.23 then leave the partial file behind in the cache, keeping that disk full for the rerun.
    `here`: the bytes of it already in the cache (`_resumed_bytes`), which the download resumes or writes over,
    so they need no room of their own: an interrupted download on a nearly full disk is finished, not refused.
    """
    if not size:
        return
    folder = hub_cache()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the download says what goes wrong, if anything
    if free < size - here:
        needed = (f"{human_size(size - here)} more needed ({human_size(here)} of its {human_size(size)} are here "
                  "from an interrupted download)") if here else f"{human_size(size)} needed"
        raise OSError(errno.ENOSPC, f"{needed}, {human_size(free)} free")


def _resumed_bytes(blobs: Path, etag: str | None, size: int | None) -> int:
    """The bytes of the file that an interrupted download left in the cache, `blobs/<etag>.incomplete`, where the
    installed huggingface_hub takes them up again (`_FRESH_PARTIAL_FROM`); 0 where it starts afresh beside them,
    and for anything that cannot be part of this file (larger than it, not a plain file)."""
    if not etag or not size or _hub_version() >= _FRESH_PARTIAL_FROM:
        return 0
    try:
        found = os.stat(blobs / f"{etag}.incomplete")
    except OSError:
        return 0
    return found.st_size if stat.S_ISREG(found.st_mode) and found.st_size <= size else 0


def _linked_blob(path: str) -> Path | None:
    """The blob a snapshot's link leads to (`blobs/<etag>`), None for no link (a cache where huggingface_hub copies
    blobs instead, as on Windows without symlinks). One readlink and string work, not a resolve of every folder on
    the way: every run that finds the weights cached asks it. The link is relative, within the repo's folder."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return Path(os.path.normpath(os.path.join(os.path.dirname(path), target)))


def _partial_downloads(blobs: Path, etag: str | None = None, *,
                       every: bool = False) -> list[tuple[Path, os.stat_result]]:
    """The partial downloads in `blobs` (of the file `etag`, or of any) that the installed huggingface_hub never reads
    again: from 1.18 every one (`blobs/<etag>.incomplete` of an older release, and its own `<etag>.<8 hex>.incomplete`,
    which a killed download leaves: #4306); before, only the latter (a newer release's, in a shared cache), since
    it resumes the former. `every`: the resumable one too (the file itself is being removed). Whether a download is
    writing one now is `_unheld`'s question."""
    try:
        names = os.listdir(blobs)  # every morph lists this folder: a plain listing, no glob to compile
    except OSError:
        return []
    found = []
    for name in names:
        if not (name.endswith(".incomplete") and (etag is None or name.startswith(f"{etag}."))
                and re.fullmatch(r"[0-9a-f]+\.(?:[0-9a-f]{8}\.)?incomplete", name)):
            continue
        if name.count(".") == 1 and _hub_version() < _FRESH_PARTIAL_FROM and not every:
            continue
        path = blobs / name
        try:
            state = os.stat(path, follow_symlinks=False)
        except OSError:  # renamed into place, or removed, since the listing
            continue
        if stat.S_ISREG(state.st_mode):
            found.append((path, state))
    return found


@contextmanager
def _unheld(blobs: Path, etag: str) -> Iterator[bool]:
    """Whether no download of the file `etag` into this cache runs now, holding huggingface_hub's own lock on it
    (`.locks/<repo folder>/<etag>.lock`, which every release takes before it writes a partial file and keeps until
    the file is in place) while the body runs. A killed download's lock went with its process. False where that
    cannot be told: no lock file, a cache this run cannot write, a file system without flock."""
    with taken_lock(hub_cache() / ".locks" / blobs.parent.name / f"{etag}.lock") as fd:
        yield fd is not None


def _abandoned_after() -> float:
    """How long a partial file must have gone unwritten, its lock free, to be a killed download's: huggingface_hub
    writes a live one at least every HF_HUB_DOWNLOAD_TIMEOUT seconds, or fails. The wait also spares a download on
    another node of a file system whose flock is local to each (Lustre's localflock), which the lock cannot show."""

    return max(60.0, 6.0 * _timeout("HF_HUB_DOWNLOAD_TIMEOUT"))


def _remove_abandoned_partials(blobs: Path, etag: str | None) -> None:
    """Remove what killed downloads (SIGKILL: an OOM kill, Slurm past its grace time) of this file left in `blobs`
    and nothing reads again (`_partial_downloads`): up to 1.2 GB each, kept for good otherwise. Only under the
    file's download lock, so that no download starts meanwhile, and only files unwritten for a while
    (`_abandoned_after`). Best effort: a cache this run cannot change keeps them. Every run that finds the file in
    the cache comes here: where there is nothing to remove, that is one listing of `blobs`, no lock."""
    if not etag:
        return
    cutoff = time.time() - _abandoned_after()
    if not any(found.st_mtime < cutoff for _, found in _partial_downloads(blobs, etag)):
        return
    with _unheld(blobs, etag) as free:
        if not free:
            return
        for path, found in _partial_downloads(blobs, etag):  # listed again: a download may have ended meanwhile
            if found.st_mtime < cutoff:
                remove_if_same(path, found)


_HUB_WHOLE_NUMBERS = ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")


def check_hub_settings() -> None:
    """UsageError naming the variable where huggingface_hub could not be imported for it: its `constants` reads
    these two with int() at import, so `HF_HUB_DOWNLOAD_TIMEOUT=abc interp weights list` printed huggingface_hub's
    "Error importing ..." on stdout and then "internal error: ValueError" (found by benchmarks/fuzz_env.py)."""
    for name in _HUB_WHOLE_NUMBERS:
        value = os.environ.get(name)
        try:
            int(value) if value is not None else None
        except ValueError:
            raise UsageError(f"{env_setting(name, value)} is not a whole number of seconds, as huggingface_hub "
                             f"reads it: unset it, or set {env_setting(name, '60')}") from None


def _hub_version() -> tuple[int, ...]:
    """The installed huggingface_hub's (major, minor) release, e.g. (0, 20) for 0.20.3 or 1.18.0.dev0."""
    import huggingface_hub

    numbers = re.match(r"(\d+)\.(\d+)", huggingface_hub.__version__)
    return (int(numbers[1]), int(numbers[2])) if numbers else (0, 0)


@contextmanager
def _download_lines(hub: HubFile, preset: Preset | None, size: int | None, blobs: Path, etag: str | None, here: int,
                    enabled: bool) -> Iterator[None]:
    """Off a terminal, a big download (over ANNOUNCE_ABOVE_BYTES) says so as it starts, naming the file, its size and
    the cache it goes to, then how far it is now and then, as a bar off a terminal does (`progress.polled`): a
    Slurm log or a pipe saw nothing for the minutes 1.2 GB take. Where huggingface_hub draws its bar (a terminal, a
    notebook: `_hub_bar_shows`), that bar says it.

    How far it is: the size of the partial file huggingface_hub writes, `blobs/<etag>.incomplete` (releases before
    1.18) or `blobs/<etag>.<8 hex>.incomplete`, a name that was not there before (1.18 and later). A run waiting for
    another's download of the same file (huggingface_hub's lock) follows that one's file, which is what it waits for,
    where it can tell it (before 1.18; from 1.18, if that file was made after this run looked): else it says only its
    first and last lines.
    """
    if not (enabled and size and size > ANNOUNCE_ABOVE_BYTES and etag) or _hub_bar_shows():
        yield
        return
    label = f"{preset.name} weights {hub.filename}" if preset else f"weights {hub.id}"
    resumed = f"; {human_size(here)} of it are here already, from an interrupted download" if here else ""
    print(f"interp: downloading {label} ({human_size(size)}) from the Hugging Face repo {hub.repo_id} into the "
          f"Hugging Face cache {hub_cache()}{resumed}", file=sys.stderr, flush=True)
    fixed = blobs / f"{etag}.incomplete"
    fresh = _hub_version() >= _FRESH_PARTIAL_FROM
    before = set(blobs.glob(f"{glob.escape(etag)}.*.incomplete")) if fresh else set()

    def written() -> int:
        partials = [path for path in blobs.glob(f"{glob.escape(etag)}.*.incomplete") if path not in before] if fresh \
            else [fixed]
        sizes = []
        for path in partials:
            try:
                sizes.append(path.stat().st_size)
            except OSError:  # renamed into place, or removed, since the listing
                pass
        return max(sizes, default=0)

    with polled(size - here, f"downloading {hub.filename.rsplit('/', 1)[-1]}", written, start=here):
        yield


def hub_cache() -> Path:
    """The Hugging Face cache as the environment names it now, by huggingface_hub's own rule (HF_HUB_CACHE, else
    HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub),
    which interp hands it as `cache_dir` at each call. huggingface_hub reads those variables once, at its import:
    a Python caller told "set HF_HOME to a folder on a disk with room" who did so in its process
    (`os.environ["HF_HOME"] = ...`) still filled the old disk."""
    home = os.getenv("HF_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"),
                                                                                     ".cache")), "huggingface"))
    cache = os.getenv("HF_HUB_CACHE", os.getenv("HUGGINGFACE_HUB_CACHE",
                                                os.path.join(os.path.expandvars(os.path.expanduser(home)), "hub")))
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def _hub_timeouts() -> AbstractContextManager[None]:
    """huggingface_hub's two waits, HF_HUB_ETAG_TIMEOUT (its metadata request) and HF_HUB_DOWNLOAD_TIMEOUT (each read
    of the body), as the environment says them now, for a download interp makes. huggingface_hub reads both once, at
    its import, into `constants` (and 0.20 into `file_download` too, where its calls read them): a Python caller
    that followed "allow a slow connection more time with HF_HUB_DOWNLOAD_TIMEOUT=60" in its process waited 10 s
    again. Held by count, as `_hub_online` holds the offline switch."""
    return _HUB_TIMEOUTS.held(_hub_timeouts_set)


def _timeout_now(variable: str) -> float | None:
    """`variable`'s whole number of seconds in the environment now, as huggingface_hub reads it; None if unset."""
    try:
        return int(os.environ[variable])
    except (KeyError, ValueError):
        return None


def _hub_timeouts_set() -> Callable[[], None] | None:
    import huggingface_hub.file_download as file_download
    from huggingface_hub import constants

    found = []
    for variable in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
        seconds = _timeout_now(variable)
        for module in (constants, file_download):
            if seconds is not None and isinstance(getattr(module, variable, None), (int, float)):
                found.append((module, variable, getattr(module, variable)))
                setattr(module, variable, seconds)
    if not found:
        return None

    def undo() -> None:
        for module, variable, before in reversed(found):
            setattr(module, variable, before)

    return undo


def _timeout(variable: str) -> float:
    """The wait huggingface_hub has now for `variable` (`_hub_timeouts`), for our own request and our messages."""
    from huggingface_hub import constants

    seconds = _timeout_now(variable)
    return seconds if seconds is not None else getattr(constants, variable)


def _resume_option(hf_hub_download) -> dict:
    """`resume_download=True` for the huggingface_hub releases that have it off (before 0.23), none for the rest.

    With it off, those download into a temporary file in the cache's top folder and leave it there when
    the download fails (Ctrl-C, a dropped connection, a full disk): up to 1.2 GB per failure that no run
    reuses or removes. With it on they append to `blobs/<etag>.incomplete` under their lock, and the next
    run resumes it. 0.23 made resuming the default (and warns about the option); later releases dropped it.
    """
    try:
        parameter = inspect.signature(hf_hub_download).parameters.get("resume_download")
    except (TypeError, ValueError):
        return {}
    return {"resume_download": True} if parameter is not None and parameter.default is False else {}


def _check_advertised(hub: HubFile, preset: Preset | None) -> tuple[int | None, str | None]:
    """One HEAD request before a long download: is the hub reachable, and is its file the preset's?

    The hub advertises an LFS file's sha256 as its etag. A preset whose published sha256 differs
    is refused at once, naming both, rather than after 1.2 GB and a hash. The request does not
    retry (unlike hf_hub_download's own), so an unreachable hub fails in seconds. Returns the
    file's size and etag, as the hub says them (None where it does not): the etag names the file
    huggingface_hub downloads into (`blobs/<etag>.incomplete`).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    # The wait hf_hub_download's own metadata request has (HF_HUB_ETAG_TIMEOUT): in huggingface_hub 0.20 this
    # one's default was a fixed 10 s, which that variable did not change.
    metadata = get_hf_file_metadata(hf_hub_url(hub.repo_id, hub.filename, revision=hub.revision),
                                    timeout=_timeout("HF_HUB_ETAG_TIMEOUT"))
    size = metadata.size if isinstance(metadata.size, int) else None
    etag = metadata.etag if isinstance(metadata.etag, str) and metadata.etag else None
    if preset is None or preset.sha256 is None:
        return size, etag
    advertised = (etag or "").strip('"').lower()
    if SHA256_HEX.match(advertised) and advertised != preset.sha256.lower():
        raise ChecksumError(
            f"{preset.name} weights: the hub advertises sha256 {advertised} for {hub.id}, but the preset expects "
            f"{preset.sha256}; refusing to download a file that is not the published checkpoint"
        )
    return size, etag


# Changed while any download of interp's runs (a Python caller may download in threads), put back after the last.
_HUB_LOGS = SharedSetting()
_HUB_BARS = SharedSetting()
_HUB_ONLINE = SharedSetting()
_HUB_TIMEOUTS = SharedSetting()


def _hub_online() -> AbstractContextManager[None]:
    """huggingface_hub online for a download interp has decided to make (`locate_on_hub`), whatever its own
    offline switch says. That switch, `constants.HF_HUB_OFFLINE`, is read from the environment once, when
    huggingface_hub is imported; interp reads the variables at call time. A Python process started with
    HF_HUB_OFFLINE=1 stayed offline for good: `os.environ["HF_HUB_OFFLINE"] = "0"` let interp's check pass and
    then huggingface_hub refused the request, and `download_weights(offline=False)` could not be made to work.
    While this is held, another thread's huggingface_hub request in this process may go online too."""
    return _HUB_ONLINE.held(_hub_put_online)


def _hub_put_online() -> Callable[[], None] | None:
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE:
        return None
    constants.HF_HUB_OFFLINE = False  # read at each request (0.20's `_http`, 2.x's `is_offline_mode`)
    return lambda: setattr(constants, "HF_HUB_OFFLINE", True)


def _quiet_hub_logs() -> AbstractContextManager[None]:
    """No retry chatter from huggingface_hub on stderr: our one-line error says what went wrong.

    Its disk-space warning too (two lines with its source file): `_check_room` refuses that download
    first, and a disk filled meanwhile fails it with the one line that says where and what to do.
    """
    return _HUB_LOGS.held(_hub_logs_quieted)


def _hub_logs_quieted() -> Callable[[], None]:
    import logging
    import warnings

    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    ignoring = warnings.catch_warnings()
    ignoring.__enter__()
    warnings.filterwarnings("ignore", message="Not enough free disk space")

    def undo() -> None:
        ignoring.__exit__(None, None, None)
        logger.setLevel(level)

    return undo


_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # in the order huggingface_hub reads them
_TRUE_WORDS = {"1", "ON", "YES", "TRUE"}  # what it takes for "on", in any case


def _hub_offline() -> bool:
    return _offline_variable() is not None


def _offline_variable() -> str | None:
    """The variable that puts huggingface_hub offline (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE), or None.

    Read the way huggingface_hub.constants reads it (the first non-empty of the two decides; 1, ON,
    YES, TRUE in any case), but at call time: huggingface_hub reads it once at import.
    """
    for name in _OFFLINE_VARIABLES:
        value = os.environ.get(name)
        if value:
            return name if value.upper() in _TRUE_WORDS else None
    return None


def _offline_to_unset() -> list[str]:
    """The variables to unset to turn offline mode off: every one of the two that says so. With both set to 1,
    `unset HF_HUB_OFFLINE` alone left TRANSFORMERS_OFFLINE=1 in charge, and the download refused again."""
    return [name for name in _OFFLINE_VARIABLES if os.environ.get(name, "").upper() in _TRUE_WORDS]


def _offline_setting() -> str:
    name = _offline_variable()
    return f"{name}={os.environ[name]}" if name else "HF_HUB_OFFLINE"


def _offline_reason() -> str:
    return f"offline mode is on ({_offline_setting()}) and it is not in the Hugging Face cache"


def download_command(spec: str) -> str:
    """What fetches SPEC, in its reader's words, not refused again by the offline mode set now: the command
    `interp weights download SPEC` (with HF_HUB_OFFLINE=0 in front, which wins over TRANSFORMERS_OFFLINE too:
    huggingface_hub takes the first non-empty one), or for a Python caller `interp_cli.download_weights(...)`
    (with offline=False: a variable set in the caller's process is not the caller's to unset by a command)."""
    if not speaking_to_cli():
        offline = ", offline=False" if _offline_variable() else ""
        return f"`interp_cli.download_weights({option('weights', spec)}{offline})`"
    prefix = "HF_HUB_OFFLINE=0 " if _offline_variable() else ""
    return f"`{prefix}interp weights download {shlex.quote(spec)}`"


def _login_advice() -> str:
    """How to log in to the hub with the command line the installed huggingface_hub has.

    `hf` arrived in huggingface_hub 0.34; older releases (setup.cfg allows 0.20) have only
    `huggingface-cli`, and 1.0 removed that. HF_TOKEN works in all of them, and is read at each request: a
    Python caller sets it in its own process (a login command is a shell's): the line that does, whose value
    stands for the caller's token ('set os.environ["HF_TOKEN"] to a token ...' was no line of Python).
    """
    if not speaking_to_cli():
        return f"give a token of your account: {set_env('HF_TOKEN', 'hf_...')}"
    from importlib import metadata

    try:
        scripts = {ep.name for ep in metadata.distribution("huggingface_hub").entry_points
                   if ep.group == "console_scripts"}
    except metadata.PackageNotFoundError:
        scripts = set()
    if "hf" in scripts:
        return "log in with `hf auth login` (or set HF_TOKEN)"
    if "huggingface-cli" in scripts:
        return "log in with `huggingface-cli login` (or set HF_TOKEN)"
    return "set HF_TOKEN to a token of your account"


def _progress_bars(enabled: bool) -> AbstractContextManager[None]:
    """huggingface_hub's download bar when `enabled` and stderr is a terminal (or a notebook's); none otherwise.

    Off a terminal huggingface_hub 0.21+ draws none; 0.20 (setup.cfg's floor) drew its tqdm bar into logs
    and pipes as carriage-return redraws, ahead of a failure's one line too. A Jupyter kernel's stderr is no
    terminal, but there tqdm.auto draws a widget, which every version did and does. Off while any download of
    interp's that wants them off runs (`SharedSetting`: downloads in threads).
    """
    if enabled and _hub_bar_shows():
        return nullcontext()
    return _HUB_BARS.held(_hub_bars_off)


def _hub_bars_off() -> Callable[[], None] | None:
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if are_progress_bars_disabled():  # the caller's (or HF_HUB_DISABLE_PROGRESS_BARS): theirs to keep
        return None
    disable_progress_bars()
    return enable_progress_bars


def _hub_bar_shows() -> bool:
    """Where huggingface_hub's download bar is drawn (when on): a terminal, or a Jupyter kernel, whose stderr is no
    terminal but where tqdm.auto draws a widget."""
    return is_terminal(sys.stderr) or "ipykernel" in sys.modules


# Exceptions from these packages mean "the download did not happen" (transport, HTTP or hub errors);
# anything else escaping hf_hub_download is a bug and must keep its traceback.
_NETWORK_PACKAGES = {"huggingface_hub", "httpx", "httpx2", "httpcore", "requests", "urllib3", "hf_xet"}


def _download_failure_reason(err: BaseException, hub: HubFile, *, reached: bool = False) -> str | None:
    """Why a download failed, in a few words for the one-line error; None if `err` is not a download failure.

    `reached`: the hub answered the metadata request, so a transport error came later, during the download.
    """
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # force_download wraps the real failure in a ValueError("Force download failed ...").
    if type(err) is ValueError and err.__cause__ is not None:
        err = err.__cause__
    if not (isinstance(err, OSError) or _raised_by_network_package(err)):
        return None
    if isinstance(err, OfflineModeIsEnabled) or isinstance(err.__cause__, OfflineModeIsEnabled):
        return _offline_reason()
    if isinstance(err, GatedRepoError):
        return f"{hub.repo_id} is gated: accept its terms on huggingface.co and {_login_advice()}"
    if isinstance(err, RepositoryNotFoundError):
        return (f"the hub has no repo {hub.repo_id}, or it is private: if you have access, {_login_advice()} "
                "(HTTP 401/404)")
    if isinstance(err, RevisionNotFoundError):
        return f"{hub.repo_id} has no revision '{hub.revision}'"
    if isinstance(err, LocalEntryNotFoundError):
        # huggingface_hub's own metadata request failed (ours may have passed just before); it wraps the
        # transport error, whose root (DNS, proxy, timeout...) is the useful part. Before EntryNotFoundError:
        # in huggingface_hub 0.20 this is one, and no 404 was answered.
        return _unreachable(err)
    if isinstance(err, EntryNotFoundError):
        return f"{hub.repo_id} has no file {hub.filename} at revision {hub.revision or 'main'} (HTTP 404)"
    if isinstance(err, HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status == 429:
            return "the hub answered HTTP 429 (too many requests): wait a few minutes, then try again"
        if isinstance(status, int) and status >= 500:
            return f"the hub answered HTTP {status} (a failure on its side): try again later"
        return f"the hub answered HTTP {status}" if status else "the hub request failed"
    if isinstance(err, OSError) and not isinstance(err, (ConnectionError, TimeoutError)) and err.errno:
        return _local_failure(err)
    if not reached:
        return _unreachable(err)
    root = _root_cause(err)
    if _timed_out(err):
        seconds = _timeout("HF_HUB_DOWNLOAD_TIMEOUT")
        return (f"the hub stopped sending it for {seconds} s{_error_summary(root)}: try again, or allow a slow "
                f"connection more time with {_more_time('HF_HUB_DOWNLOAD_TIMEOUT', seconds)}")
    return f"the connection broke during the download{_error_summary(root)}: try again"


def _unreachable(err: BaseException) -> str:
    """The hub did not answer the metadata request: no route, no DNS, a proxy, or no answer in time."""
    from huggingface_hub.utils import LocalEntryNotFoundError

    root = _root_cause(err)
    # huggingface_hub's own wrapper only says that the file is not cached; the error under it says why.
    bare = root is err and isinstance(err, LocalEntryNotFoundError)
    said = "the Hugging Face Hub could not be reached" + ("" if bare else _error_summary(root))
    if _timed_out(err):
        # The metadata request's wait (HF_HUB_ETAG_TIMEOUT); a slow link or proxy may need more.
        seconds = _timeout("HF_HUB_ETAG_TIMEOUT")
        said += f"; a slow connection may need more than {seconds} s: {_more_time('HF_HUB_ETAG_TIMEOUT', seconds)}"
    return said


def _more_time(variable: str, seconds: int) -> str:
    """`VARIABLE=N`, a wait that a slow connection is likely to be content with (huggingface_hub's default is 10 s);
    to a Python caller, the line that sets it in its process, which the next download reads (`_hub_timeouts`)."""
    return env_setting(variable, str(max(60, 6 * seconds)))


def _timed_out(err: BaseException) -> bool:
    """Whether a timeout is in `err`'s chain (httpx's ReadTimeout, requests' ConnectTimeout, socket's TimeoutError)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _local_failure(err: OSError) -> str:
    """A download that failed on this machine: a full disk (or quota), or a cache folder it cannot write."""
    cache = hub_cache()
    # HF_HUB_CACHE, where set, wins over HF_HOME: pointing HF_HOME elsewhere would not move that cache.
    variable = next((name for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE") if os.environ.get(name)), "HF_HOME")
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no room for it in the Hugging Face cache {cache} ({err.strerror or err}): free space there"
                f"{_leftovers(cache)}, or {_move_cache(variable, 'on a disk with room')}")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"the Hugging Face cache {cache} cannot be written ({err.strerror or err}): "
                f"{_move_cache(variable, 'you can write to')}")
    return f"the download failed: {err.strerror or err}"


def _move_cache(variable: str, which: str) -> str:
    """Point `variable` at another folder ("on a disk with room"): "set HF_HOME to a folder ..." to a shell's user;
    to a Python caller, the line that does it in its process, which interp reads at the next download (`hub_cache`).
    That caller was told 'set os.environ["HF_HOME"] to a folder ...', no line of Python; the folder is the
    caller's to choose, so the line's value stands for it."""
    if speaking_to_cli():
        return f"set {variable} to a folder {which}"
    return f"point {variable} at a folder {which}: {set_env(variable, '/path/to/folder')}"


def _leftovers(cache: Path) -> str:
    """For a cache without room: the partial files of downloads that were killed (`_partial_downloads`), which
    nothing reads again and no download is writing now (`_unheld`), with their size and the command that removes
    them; "" where there are none. Also those too fresh to be removed unasked (`_remove_abandoned_partials`):
    a job requeued at once after an OOM kill finds its own, which nothing else would name."""
    found = []
    for blobs in sorted(cache.glob("*/blobs")):
        for path, state in _partial_downloads(blobs):
            with _unheld(blobs, path.name.split(".", 1)[0]) as free:
                if free:
                    found.append((path, state.st_size))
    if not found:
        return ""
    what = "a partial file" if len(found) == 1 else f"{len(found)} partial files"
    paths = " ".join(shlex.quote(str(path)) for path, _ in found)
    return (f" (killed downloads left {what} there that nothing reads again, {human_size(sum(s for _, s in found))}:"
            f" `rm -f -- {paths}`)")


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _error_summary(err: BaseException) -> str:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if len(first_line) > 120:
        first_line = first_line[:117] + "..."
    return f" ({type(err).__name__}: {first_line})" if first_line else f" ({type(err).__name__})"


def _raised_by_network_package(err: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] in _NETWORK_PACKAGES for cls in type(err).__mro__)


def _unavailable(hub: HubFile, preset: Preset | None, spec: str, reason: str) -> WeightsUnavailableError:
    """The single line that tells someone without the file what is missing, where it goes and how to get it.

    Each route must work where it is given: with offline mode on, `interp weights download` alone would
    be refused again, so the command says HF_HUB_OFFLINE=0; the file's URL needs no particular tool or
    huggingface_hub version (`hf download` exists only since 0.34) on the machine that fetches it; and
    the end (`--weights PATH`, the demo model) depends on the command, see WeightsUnavailableError.
    """
    from huggingface_hub import hf_hub_url

    label = f"{preset.name} weights" if preset else f"weights {hub.id}"
    size = f" ({human_size(preset.size)})" if preset and preset.size else ""
    basename = hub.filename.rsplit("/", 1)[-1]
    url = hf_hub_url(hub.repo_id, hub.filename, revision=hub.revision)
    if _offline_variable():
        # A shell may also unset the variables; a Python caller's keyword is the whole answer.
        unset = f" (or `unset {' '.join(_offline_to_unset())}` first)" if speaking_to_cli() else ""
        fetch = (f"Where the hub is reachable, fetch it with {download_command(spec)}{unset}, or download {url} "
                 "on any machine")
    else:
        fetch = f"Fetch it with {download_command(spec)} where the hub is reachable, or download {url}"
    # A bare owner/repo/file spec might have been meant as a relative path: say that it is not one.
    if_local = "" if preset or spec.startswith(HUB_PREFIX) else f"; if you meant a local file, no such file: {spec}"
    copy = f"/path/to/{basename}"
    # The variable stands in for weights left out; a Python caller sets it in its process, read at its next call.
    by_env = set_env(WEIGHTS_ENV, copy)
    by_env = by_env if speaking_to_cli() else f"leave weights out, after {by_env}"
    with_option = f", or put a copy on this machine and pass `{option('weights', copy)}` (or {by_env}){if_local}"
    # `interp weights ...` takes no --weights: the copy is named through the environment, and checked. The variable
    # stands in for a name left out only: `interp weights path ffhq`, told just "set INTERP_WEIGHTS=...", failed
    # again with it set, since a name given always means the cache's file.
    with_env = (f", or put a copy on this machine (`interp weights verify {copy}` checks it) and set "
                f"{WEIGHTS_ENV}={copy} for the morphs and `interp weights` commands that name no weights: the name "
                f"{spec} itself keeps meaning the Hugging Face cache's file{if_local}")
    # Only commands that take --weights and can run on the demo model (render's codes come from one model), and a
    # Python caller's Session (`Session(weights="demo")`).
    demo = (f". To try interp with no download, pass `{option('weights', 'demo')}`: the small model shipped with "
            "interp (cartoon faces only)")
    # A Python caller's `download_weights` takes weights= too, but fetching a copy already here is not the point:
    # the copy is for the morphs. Any other function given the weights' name (interp_cli.weights' own, whose
    # first argument it is, not a weights= keyword) takes the copy's path in its place.
    advice = {"": f', or put a copy on this machine and pass its path ("{copy}") in place of "{spec}"{if_local}',
              "download": f", or put a copy on this machine and pass it to morph() or Session() as "
                          f"`{option('weights', copy)}`{if_local}",
              "render": with_option, "weights": with_env,
              **{command: with_option + demo for command in ("morph", "encode", "mix", "batch", "session")}}
    return WeightsUnavailableError(
        f"{label} unavailable: {reason}. Needed: {hub.filename}{size} from the Hugging Face repo {hub.repo_id}"
        f"{f' at revision {hub.revision}' if hub.revision else ''}. {fetch}",
        advice,
    )


def discard_download(path: Path) -> bool:
    """Remove a file just downloaded that failed its check, from the HF cache; whether that worked.

    Both the blob (named after the sha256 the hub advertised, which its bytes do not have) and the
    snapshot's link to it go: left there, every tool reading the cache would take the blob for the hub's
    file, and the next hf_hub_download would link it again instead of downloading.
    """
    blob = path.resolve()
    try:
        for each in (path, blob):
            each.unlink(missing_ok=True)
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Removed:
    """What `remove_cached` took out of the Hugging Face cache: the snapshot entries naming the file, the blobs (and
    partial downloads) no other entry used, and the bytes those blobs held."""

    entries: tuple[Path, ...]
    blobs: tuple[Path, ...]
    bytes: int


class RemovalRefused(PermissionError):
    """`remove_cached` refused before removing anything: `filename`, a folder it would remove from, is not writable
    (errno EACCES), or a file it would remove is kept from removal (EPERM; `strerror` says why: `kept_from_removal`)."""

    @property
    def why(self) -> str:
        """Why, as a user reads it."""
        return f"you cannot write in {self.filename}" if self.errno == errno.EACCES else \
            f"{self.filename} is {self.strerror}"


def remove_cached(hub: HubFile) -> Removed:
    """Remove one hub file from the Hugging Face cache: its entry in the snapshot of `hub.revision` (every snapshot
    when it names none: copies fetched while the repo's main branch was at other commits), the blob behind each one
    that no other entry links to, and the partial downloads of those blobs. Nothing else of the repo's folder: other
    files of the same repo (HairFastGAN's other models, another tool's) share its snapshots, which is why
    huggingface_hub's own `scan_cache_dir().delete_revisions`, a whole revision at a time, is not used.

    Under huggingface_hub's download lock of each blob, so no download of the same file writes it meanwhile;
    BlockingIOError, naming the lock, if one is running. RemovalRefused (a PermissionError) naming the folder, before
    anything is removed, where a folder it would remove something from is not this user's to write. A process that
    has the file open or mapped (a morph loading it) keeps reading it: unlinking a file frees its blocks only when
    the last descriptor and mapping of it are gone.
    """
    check_hub_settings()
    from huggingface_hub.file_download import repo_folder_name

    repo = hub_cache() / repo_folder_name(repo_id=hub.repo_id, repo_type="model")
    snapshots = repo / "snapshots"
    entries = _cached_entries(repo, hub)
    if not entries:  # nothing of it here: the folder is left as it is (a refused removal changes nothing)
        return Removed((), (), 0)
    # A link huggingface_hub made leads into the repo's blobs/; one that leads anywhere else was put there by hand
    # (a file of the user's linked in): only the link goes, as for a copy.
    blobs = {entry: blob if blob is not None and blob.parent == repo / "blobs" else None
             for entry, blob in ((entry, _linked_blob(str(entry))) for entry in entries)}
    entries_done, blobs_done, freed = [], [], 0
    linked = sorted({blob for blob in blobs.values() if blob is not None})
    # Every folder something goes from, checked before anything goes: a read-only blobs/ refused the blob after its
    # links had gone, so the file was no longer found and its bytes stayed, and the next try said "nothing to remove".
    # Not blobs/ where every blob stays, linked by another revision's snapshot: only links go then.
    going = [blob for blob in linked if not _linked_anywhere(snapshots, blob, besides=tuple(entries))]
    for folder in sorted({entry.parent for entry in entries} | ({repo / "blobs"} if going else set())):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise RemovalRefused(errno.EACCES, os.strerror(errno.EACCES), str(folder))
    for path in [*entries, *going]:  # a blob `chattr +i` refused its removal after its links had gone, as above
        why = kept_from_removal(path, os.stat(path.parent))
        if why is not None:
            raise RemovalRefused(errno.EPERM, why, str(path))
    for blob in linked + ([None] if None in blobs.values() else []):  # None: the entries that are no blob's links
        with _download_lock(repo, blob.name if blob is not None else None):
            for entry in [e for e in entries if blobs[e] == blob]:
                if blob is None and not entry.is_symlink():  # a copy (where huggingface_hub cannot make links)
                    freed += entry.stat().st_size
                entry.unlink()
                entries_done.append(entry)
                _remove_empty_folders(entry.parent, snapshots)
            if blob is None or _linked_anywhere(snapshots, blob):
                continue
            for leftover in [blob, *(path for path, _ in _partial_downloads(blob.parent, blob.name, every=True))]:
                try:
                    size = os.stat(leftover, follow_symlinks=False).st_size
                    leftover.unlink()
                except FileNotFoundError:
                    continue
                freed += size
                blobs_done.append(leftover)
    _remove_emptied_repo(repo)
    return Removed(tuple(sorted(entries_done, key=entries.index)), tuple(blobs_done), freed)


def _cached_entries(repo: Path, hub: HubFile) -> list[Path]:
    """The snapshot entries (links, or copies) of `hub`'s file in the cache folder `repo`: the one of its revision
    (a branch or tag through `refs/`, or a commit), else the file in every snapshot."""
    snapshots = repo / "snapshots"
    if hub.revision is None:
        folders = sorted(snapshots.iterdir()) if snapshots.is_dir() else []
    else:
        try:
            commit = (repo / "refs" / hub.revision).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            commit = hub.revision
        folders = [snapshots / commit]
    # Only what stands inside the snapshots, by name: a revision or file name of `..` steps (`file.pt@../../../x`,
    # refused by the hub but not by this reading of it) led out of the cache, and the user's own file was removed.
    inside = [folder / hub.filename for folder in folders
              if os.path.dirname(os.path.normpath(folder)) == os.path.normpath(snapshots)
              and os.path.normpath(folder / hub.filename).startswith(os.path.join(os.path.normpath(folder), ""))]
    return [entry for entry in inside if os.path.lexists(entry) and not os.path.isdir(entry)]


def _linked_anywhere(snapshots: Path, blob: Path, *, besides: tuple[Path, ...] = ()) -> bool:
    """Whether any entry left in `snapshots` (another revision's, another file's of the same bytes), other than the
    entries `besides`, links to `blob`."""
    for folder, _, names in os.walk(snapshots):
        if any(_linked_blob(os.path.join(folder, name)) == blob and Path(folder, name) not in besides
               for name in names):
            return True
    return False


@contextmanager
def _download_lock(repo: Path, etag: str | None) -> Iterator[None]:
    """Hold huggingface_hub's lock of the download of the blob `etag` into the cache folder `repo` over the block;
    BlockingIOError if a download holds it now. No lock file: no download of it ever ran here, so none runs now."""
    lock = hub_cache() / ".locks" / repo.name / f"{etag}.lock"
    if etag is None or not lock.is_file():
        yield
        return
    with taken_lock(lock) as fd:
        if fd is None and lock.is_file() and _flock_works(lock):
            raise BlockingIOError(errno.EWOULDBLOCK, "a download holds it", str(lock))
        yield


def _flock_works(lock: Path) -> bool:
    """Whether `taken_lock` could have taken `lock` if it were free: it can be opened for writing (a cache this user
    only reads is refused by the unlink that follows, with its own reason) and this system has flock."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return os.access(lock, os.W_OK)


def _remove_empty_folders(folder: Path, top: Path) -> None:
    """Remove `folder` and its parents up to `top` (kept) while they are empty."""
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _remove_emptied_repo(repo: Path) -> None:
    """The repo's cache folder, once no snapshot entry and no blob is left in it: its refs and empty folders too, as
    huggingface_hub's own deletion leaves none (a folder with refs and no snapshots is a corrupted repo to its
    `scan_cache_dir`). Left as it is where anything else is there, or appears meanwhile."""
    for kept in ("snapshots", "blobs"):
        folder = repo / kept
        if folder.is_dir() and any(True for _ in os.scandir(folder)):
            return
    for metadata in ("refs", ".no_exist"):  # a few bytes each: the commits that branches name, files known absent
        shutil.rmtree(repo / metadata, ignore_errors=True)
    for folder in (repo / "snapshots", repo / "blobs", repo):
        with suppress(OSError):
            folder.rmdir()
