"""Where the model weights come from: the one place a `--weights` value becomes a verified file on disk.

Weights are described as data (`Preset`), the way timm's pretrained cfgs or diffusers' `from_pretrained`
do it, and every caller goes through `resolve_weights`, so the precedence rules, the offline behaviour,
the checksum policy and the error messages exist exactly once.

A `--weights` value (or `$INTERP_WEIGHTS`, or the default preset) can be:

* a preset name (`ffhq`, `demo`): a hub file with a published sha256 and size, or a file shipped inside
  the package (`interp_cli/data/`) whose sha256/size live in a JSON sidecar next to it (so its trainer
  can update them without touching code);
* a local file path: used as is, nothing to compare it with;
* a hub file `owner/repo/path/in/repo.pt[@revision]` (or with an explicit `hf://` prefix).

Hub files go through huggingface_hub's own cache, so HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE and
tokens behave exactly as in every other HF tool. huggingface_hub is imported inside functions only:
`interp --help` imports this module and must stay fast.

Checksums of big files are expensive (a 1.2 GB file takes seconds to hash), so hashes are remembered
by `interp_cli.sha256_record` (keyed by path + size + mtime_ns): an unchanged file is hashed once.
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from collections.abc import Iterator

from interp_cli.errors import CheckpointError, ChecksumError, UsageError, WeightsUnavailableError
from interp_cli.sha256_record import file_sha256, remembered_sha256

SHIPPED_DATA = "data"
"""The folder of the `interp_cli` package that holds the presets shipped with interp (`demo`): it goes
into the wheel and the sdist, so an installed interp finds them wherever it is installed."""

DEFAULT_PRESET = "ffhq"
WEIGHTS_ENV = "INTERP_WEIGHTS"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")

# Below this size hashing is too quick to be worth a "verifying..." line on stderr.
_ANNOUNCE_HASH_ABOVE_BYTES = 64 * 1024 * 1024
# Hub user, organisation and repo names: letters, digits, '-', '_', '.', not starting or ending with '-'/'.'.
_HUB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_HUB_PREFIX = "hf://"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Preset:
    """A named set of weights: where to get the file, how to recognise it, and under which license.

    Hub presets have `repo_id` + `filename` (+ `revision`, None meaning the repo's main branch).
    Presets shipped with the package have `local_path` (relative to `interp_cli/data/`) and never touch
    the network; their `sha256`/`size` may be None here and come from `<local_path stem>.json`.
    """

    name: str
    repo_id: str | None
    filename: str
    revision: str | None
    sha256: str | None
    size: int | None
    license: str
    description: str
    local_path: str | None = None
    build_command: str | None = None
    """For presets shipped with interp: the command that (re)builds a missing or stale file."""


PRESETS: dict[str, Preset] = {
    "ffhq": Preset(
        name="ffhq",
        repo_id="AIRI-Institute/HairFastGAN",
        filename="pretrained_models/encoder4editing/e4e_ffhq_encode.pt",
        # No commit of the hub repo could be pinned from public material, so this follows `main`;
        # the sha256 below still guarantees that whatever `main` serves is the published checkpoint.
        revision=None,
        sha256="2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999",
        size=1_201_649_680,
        license=(
            "NVIDIA Source Code License-NC (StyleGAN2 FFHQ weights, embedded in the e4e checkpoint): "
            "non-commercial research/evaluation use only"
        ),
        description="e4e FFHQ encoder + StyleGAN2 1024 generator",
    ),
    "demo": Preset(
        name="demo",
        repo_id=None,
        filename="demo.pt",
        revision=None,
        sha256=None,  # read from interp_cli/data/demo.json, written by the trainer
        size=None,
        license="MIT, like interp's code (trained from scratch on procedural cartoon faces)",
        description="small demo model shipped with interp, trained by weights/train_demo.py (quick CPU runs)",
        local_path="demo.pt",
        build_command="make demo-weights",
    ),
}


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights file that exists on disk and, for presets with a known checksum, has been verified.

    `id` names it for logs and output metadata: the preset name, the hub id or the local path.
    `sha256` is the file's actual hash when it is known (verified, or remembered from an earlier
    hash), None for files nobody asked to hash.
    """

    path: Path
    id: str
    sha256: str | None
    preset: Preset | None


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face model repo, optionally at a fixed revision."""

    repo_id: str
    filename: str
    revision: str | None = None

    @property
    def id(self) -> str:
        return f"{self.repo_id}/{self.filename}" + (f"@{self.revision}" if self.revision else "")


# --------------------------------------------------------------------------------------------------
# Public API


def resolve_weights(
    spec: str | None = None, *, download: bool = True, progress: bool = True, verify: bool = True
) -> ResolvedWeights:
    """Turn a `--weights` value into a file on disk; the only way the rest of interp finds weights.

    `spec` None falls back to `$INTERP_WEIGHTS`, then to the `ffhq` preset. `download=False` never
    touches the network (WeightsUnavailableError if the file is not already here); `progress=False`
    silences the download bar and the "verifying" line; `verify=False` skips the size and sha256
    checks (callers that only want to know *where* the file is).
    """
    return _resolve(spec, download=download, progress=progress, verify=verify)


def default_weights_spec() -> str:
    """What `--weights` means when it is not given: `$INTERP_WEIGHTS`, else the `ffhq` preset."""
    return _chosen_spec(None)


def list_presets() -> list[dict]:
    """The presets as plain data for `interp weights list`: what each is, and whether it is here.

    Never downloads or hashes anything; `present`/`path` only say where the file would be loaded from.
    """
    default = default_weights_spec()
    rows = []
    for preset in PRESETS.values():
        preset = _with_sidecar(preset)
        path = _present_path(preset)
        row = asdict(preset)
        row.update(
            source="package" if preset.local_path else "hub",
            default=preset.name == default,
            present=path is not None,
            path=str(path) if path is not None else None,
        )
        rows.append(row)
    return rows


def download(name: str) -> ResolvedWeights:
    """Fetch a preset (or hub file) into the Hugging Face cache and verify it, for `interp weights download`.

    A cached copy that fails verification is downloaded again rather than reported, because that is
    what someone running this command after a ChecksumError wants; a fresh download that fails is
    reported (downloading it a third time would not help).
    """
    if _hub_file_for(name) is None:
        return _resolve(name, download=True, progress=True, verify=True)
    try:
        return _resolve(name, download=False, progress=True, verify=True)
    except WeightsUnavailableError:
        return _resolve(name, download=True, progress=True, verify=True)
    except ChecksumError:
        return _resolve(name, download=True, progress=True, verify=True, fresh_hash=True, force_download=True)


def verify(spec: str | None = None) -> ResolvedWeights:
    """Hash the file afresh (ignoring remembered hashes) and check it against its preset; never downloads."""
    return _resolve(spec, download=False, progress=True, verify=True, fresh_hash=True)


def weights_path(spec: str | None = None) -> Path:
    """Where the weights are on disk, without downloading or hashing; WeightsUnavailableError if absent."""
    return _resolve(spec, download=False, progress=False, verify=False).path


def parse_hub_spec(spec: str) -> HubFile | None:
    """`owner/repo/path/in/repo.pt[@revision]` (or `hf://...`) as a HubFile; None if `spec` is not one.

    Without the `hf://` prefix a spec only counts as a hub file when it cannot be a relative local
    path: no leading `/`, `.` or `~`, no backslash, and its first component is not a local directory
    (so a typo in `weights/mine.pt` is reported as a missing file rather than looked up on the hub).
    """
    explicit = spec.startswith(_HUB_PREFIX)
    body = spec[len(_HUB_PREFIX):] if explicit else spec
    revision = None
    if "@" in body:
        body, _, revision = body.rpartition("@")
        if not revision:
            return _not_a_hub_spec(spec, explicit, "empty revision after '@'")
    parts = body.split("/")
    if len(parts) < 3 or any(part in ("", ".", "..") for part in parts):
        return _not_a_hub_spec(spec, explicit, "expected owner/repo/path/in/repo[@revision]")
    owner, repo = parts[0], parts[1]
    if not (_HUB_NAME.match(owner) and _HUB_NAME.match(repo)):
        return _not_a_hub_spec(spec, explicit, f"'{owner}/{repo}' is not a valid hub repo id")
    if not explicit and ("\\" in spec or Path(owner).is_dir()):
        return None
    return HubFile(repo_id=f"{owner}/{repo}", filename="/".join(parts[2:]), revision=revision)


# --------------------------------------------------------------------------------------------------
# Resolution


def _resolve(
    spec: str | None,
    *,
    download: bool,
    progress: bool,
    verify: bool,
    fresh_hash: bool = False,
    force_download: bool = False,
) -> ResolvedWeights:
    chosen = _chosen_spec(spec)
    preset = PRESETS.get(chosen)
    if preset is not None:
        preset = _with_sidecar(preset)
        if preset.local_path:
            path = _locate_shipped(preset)
        else:
            path = _locate_on_hub(
                _preset_hub_file(preset), preset=preset, spec=chosen,
                download=download, progress=progress, force_download=force_download,
            )
        sha256 = _check_integrity(path, preset, fresh=fresh_hash, progress=progress) if verify else None
        if sha256 is None:
            # Nothing to compare with (or not asked to): report the hash only if it is known or was asked for.
            sha256 = file_sha256(path, fresh=True) if fresh_hash else remembered_sha256(path)
        return ResolvedWeights(path=path, id=preset.name, sha256=sha256, preset=preset)

    local = Path(chosen).expanduser()
    if local.is_file():
        path = local.absolute()
        sha256 = file_sha256(path, fresh=True) if fresh_hash else remembered_sha256(path)
        return ResolvedWeights(path=path, id=str(path), sha256=sha256, preset=None)
    if local.is_dir():
        raise UsageError(f"weights path is a directory, not a checkpoint file: {chosen}")
    if local.exists():  # a FIFO, a device (a link to /dev/zero), a socket: said so, from stat alone (a FIFO blocks)
        from interp_cli.files import check_input_file

        check_input_file(chosen, "a checkpoint file")

    hub = parse_hub_spec(chosen)
    if hub is not None:
        path = _locate_on_hub(
            hub, preset=None, spec=chosen, download=download, progress=progress, force_download=force_download
        )
        sha256 = file_sha256(path, fresh=True) if fresh_hash else remembered_sha256(path)
        return ResolvedWeights(path=path, id=hub.id, sha256=sha256, preset=None)

    if _looks_like_path(chosen):
        raise UsageError(f"weights file not found: {chosen}")
    raise UsageError(
        f"unknown weights '{chosen}': not a file and not a preset (presets: {', '.join(sorted(PRESETS))}); "
        "pass a preset name, a checkpoint path, or a hub file owner/repo/path/in/repo.pt[@revision]"
    )


def _chosen_spec(spec: str | None) -> str:
    # An empty --weights or INTERP_WEIGHTS= means "not set": shells and CI templates produce them.
    for candidate in (spec, os.environ.get(WEIGHTS_ENV)):
        if candidate is not None and candidate.strip():
            return candidate.strip()
    return DEFAULT_PRESET


def _looks_like_path(spec: str) -> bool:
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in spec for sep in separators) or spec.lower().endswith(CHECKPOINT_SUFFIXES)


def _not_a_hub_spec(spec: str, explicit: bool, why: str) -> None:
    if explicit:
        raise UsageError(f"bad hub weights '{spec}': {why}")
    return None


def _hub_file_for(spec: str) -> HubFile | None:
    """The hub file a spec downloads from, if it is a hub preset or hub id (None for local files)."""
    chosen = _chosen_spec(spec)
    preset = PRESETS.get(chosen)
    if preset is not None:
        return None if preset.local_path else _preset_hub_file(preset)
    if Path(chosen).expanduser().exists():
        return None
    return parse_hub_spec(chosen)


def _preset_hub_file(preset: Preset) -> HubFile:
    if not preset.repo_id:
        raise CheckpointError(f"preset '{preset.name}' has neither a repo_id nor a local_path")
    return HubFile(repo_id=preset.repo_id, filename=preset.filename, revision=preset.revision)


# --------------------------------------------------------------------------------------------------
# Presets shipped with the package (interp_cli/data/)


def shipped_dir() -> Path:
    """`interp_cli/data/` of the imported package, found through importlib.resources (not the checkout).

    The same folder in a checkout, an editable install, a wheel or an sdist install.
    """
    from importlib.resources import files

    folder = files("interp_cli") / SHIPPED_DATA
    if not isinstance(folder, Path):
        # A zipped install (zipapp, zipimport): torch.load needs a real file, so say so instead of guessing.
        raise WeightsUnavailableError(
            f"interp is imported from a zip ({folder}), so its shipped weights are not files on disk; "
            "install it unzipped (pip install) or pass a checkpoint path with --weights"
        )
    return folder


def _shipped_path(preset: Preset) -> Path:
    # Joining an absolute local_path yields it unchanged, which lets tests point a preset at a temp file.
    return shipped_dir() / preset.local_path


def _sidecar_path(preset: Preset) -> Path:
    return _shipped_path(preset).with_suffix(".json")


def _with_sidecar(preset: Preset) -> Preset:
    """A repo-shipped preset with sha256/size filled in from its JSON sidecar, when it has one.

    Read on every resolve rather than at import, so a model retrained in a long-lived process (or a
    test) is checked against the trainer's latest record.
    """
    if not preset.local_path:
        return preset
    sidecar = _sidecar_path(preset)
    if not sidecar.is_file():
        return preset
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        sha256, size = record.get("sha256"), record.get("size")
        if sha256 is not None and not (isinstance(sha256, str) and _SHA256_HEX.match(sha256.lower())):
            raise ValueError("sha256 must be 64 hex digits")
        if size is not None and not (type(size) is int and size >= 0):
            raise ValueError("size must be a non-negative integer")
    except (ValueError, AttributeError) as err:
        raise CheckpointError(
            f"{sidecar}: unreadable checksum record ({err}); expected {{\"sha256\": \"<64 hex>\", \"size\": <bytes>}}"
        ) from None
    return replace(
        preset,
        sha256=sha256.lower() if sha256 is not None else preset.sha256,
        size=size if size is not None else preset.size,
    )


def _locate_shipped(preset: Preset) -> Path:
    path = _shipped_path(preset)
    if path.is_file():
        return path
    build = f"build it with `{preset.build_command}`" if preset.build_command else "restore it from the repo"
    raise WeightsUnavailableError(
        f"{preset.name} weights missing: {path} does not exist (this preset ships with interp and is never "
        f"downloaded); {build}, or pass another checkpoint with --weights"
    )


# --------------------------------------------------------------------------------------------------
# Hub files


def _locate_on_hub(
    hub: HubFile, *, preset: Preset | None, spec: str, download: bool, progress: bool, force_download: bool
) -> Path:
    """A hub file from the HF cache, downloading it if allowed; WeightsUnavailableError otherwise."""
    import huggingface_hub

    if not force_download:
        # Checked before hf_hub_download because that one asks the hub for the latest etag on every call:
        # a network round trip per run, and a failure when the hub is down even though the file is here.
        cached = huggingface_hub.try_to_load_from_cache(hub.repo_id, hub.filename, revision=hub.revision)
        if isinstance(cached, str) and os.path.isfile(cached):
            return Path(cached)
    if _hub_offline():
        raise _unavailable(hub, preset, spec, "offline mode is on (HF_HUB_OFFLINE) and it is not in the Hugging "
                                              "Face cache")
    if not download:
        raise _unavailable(hub, preset, spec, "it has not been downloaded (not in the Hugging Face cache)")
    try:
        with _progress_bars(progress), _quiet_hub_logs():
            _check_advertised(hub, preset)
            downloaded = huggingface_hub.hf_hub_download(
                hub.repo_id, hub.filename, revision=hub.revision, force_download=force_download
            )
    except Exception as err:
        reason = _download_failure_reason(err, hub)
        if reason is None:
            raise
        raise _unavailable(hub, preset, spec, reason) from err
    return Path(downloaded)


def _check_advertised(hub: HubFile, preset: Preset | None) -> None:
    """One HEAD request before a long download: is the hub reachable, and is its file the preset's?

    The hub advertises an LFS file's sha256 as its etag. A preset whose published sha256 differs
    is refused at once, naming both, rather than after 1.2 GB and a hash. The request does not
    retry (unlike hf_hub_download's own), so an unreachable hub fails in seconds.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    metadata = get_hf_file_metadata(hf_hub_url(hub.repo_id, hub.filename, revision=hub.revision))
    if preset is None or preset.sha256 is None:
        return
    advertised = (metadata.etag or "").strip('"').lower()
    if _SHA256_HEX.match(advertised) and advertised != preset.sha256.lower():
        raise ChecksumError(
            f"{preset.name} weights: the hub advertises sha256 {advertised} for {hub.id}, but the preset expects "
            f"{preset.sha256}; refusing to download a file that is not the published checkpoint"
        )


@contextmanager
def _quiet_hub_logs() -> Iterator[None]:
    """No retry chatter from huggingface_hub on stderr: our one-line error says what went wrong."""
    import logging

    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _hub_offline() -> bool:
    # Read from the environment at call time: huggingface_hub reads it once at import.
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if enabled or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


# Exceptions from these packages mean "the download did not happen" (transport, HTTP or hub errors);
# anything else escaping hf_hub_download is a bug and must keep its traceback.
_NETWORK_PACKAGES = {"huggingface_hub", "httpx", "httpx2", "httpcore", "requests", "urllib3", "hf_xet"}


def _download_failure_reason(err: BaseException, hub: HubFile) -> str | None:
    """Why a download failed, in a few words for the one-line error; None if `err` is not a download failure."""
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
        return "offline mode is on (HF_HUB_OFFLINE) and it is not in the Hugging Face cache"
    if isinstance(err, GatedRepoError):
        return f"{hub.repo_id} is gated: accept its terms on huggingface.co and log in with `hf auth login`"
    if isinstance(err, RepositoryNotFoundError):
        return f"the hub has no repo {hub.repo_id}, or it is private and needs `hf auth login` (HTTP 401/404)"
    if isinstance(err, RevisionNotFoundError):
        return f"{hub.repo_id} has no revision '{hub.revision}'"
    if isinstance(err, LocalEntryNotFoundError):
        # huggingface_hub wraps the transport error; its root (DNS, proxy, timeout...) is the useful part.
        root = _root_cause(err)
        return "the Hugging Face Hub could not be reached" + (_error_summary(root) if root is not err else "")
    if isinstance(err, EntryNotFoundError):
        return f"{hub.repo_id} has no file {hub.filename} at revision {hub.revision or 'main'} (HTTP 404)"
    if isinstance(err, HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", None)
        return f"the hub answered HTTP {status}" if status else "the hub request failed"
    if isinstance(err, OSError) and not isinstance(err, (ConnectionError, TimeoutError)) and err.errno:
        return f"the download failed: {err.strerror or err}"
    return "the Hugging Face Hub could not be reached" + _error_summary(_root_cause(err))


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _error_summary(err: BaseException) -> str:
    first_line = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
    return f" ({type(err).__name__}: {first_line})" if first_line else f" ({type(err).__name__})"


def _raised_by_network_package(err: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] in _NETWORK_PACKAGES for cls in type(err).__mro__)


def _unavailable(hub: HubFile, preset: Preset | None, spec: str, reason: str) -> WeightsUnavailableError:
    """The single line that tells someone without the file what is missing, where it goes and how to get it."""
    label = f"{preset.name} weights" if preset else f"weights {hub.id}"
    size = f" ({_human_size(preset.size)})" if preset and preset.size else ""
    basename = hub.filename.rsplit("/", 1)[-1]
    hf_command = f"hf download {hub.repo_id} {hub.filename}" + (f" --revision {hub.revision}" if hub.revision else "")
    # A bare owner/repo/file spec might have been meant as a relative path: say that it is not one.
    if_local = "" if preset or spec.startswith(_HUB_PREFIX) else f"; if you meant a local file, no such file: {spec}"
    return WeightsUnavailableError(
        f"{label} unavailable: {reason}. Needed: {hub.filename}{size} from the Hugging Face repo {hub.repo_id}"
        f"{f' at revision {hub.revision}' if hub.revision else ''}. Fetch it with `interp weights download {spec}` "
        f"(or `{hf_command}`) where the hub is reachable, or put a copy on this machine and pass "
        f"`--weights /path/to/{basename}` (or set {WEIGHTS_ENV}=/path/to/{basename}){if_local}. "
        f"To try interp with no download, morph with `--weights demo`: the small model shipped with interp "
        f"(cartoon faces only)"
    )


def _present_path(preset: Preset) -> Path | None:
    if preset.local_path:
        path = _shipped_path(preset)
        return path if path.is_file() else None
    import huggingface_hub

    cached = huggingface_hub.try_to_load_from_cache(preset.repo_id, preset.filename, revision=preset.revision)
    return Path(cached) if isinstance(cached, str) and os.path.isfile(cached) else None


# --------------------------------------------------------------------------------------------------
# Integrity


def _check_integrity(path: Path, preset: Preset, *, fresh: bool, progress: bool) -> str | None:
    """Refuse a preset file whose size or sha256 is not the expected one; return its sha256 when checked.

    The size check comes first: a truncated 1.2 GB download is then reported at once, not after
    seconds of hashing.
    """
    fix = f"`{preset.build_command}`" if preset.local_path and preset.build_command else (
        f"`interp weights download {preset.name}`"
    )
    expected_what = f"does not match {_sidecar_path(preset).name}" if preset.local_path else (
        "not the published checkpoint"
    )
    actual_size = path.stat().st_size
    if preset.size is not None and actual_size != preset.size:
        raise ChecksumError(
            f"{path.name}: size mismatch (expected {preset.size:,} bytes, got {actual_size:,}): the file is "
            f"incomplete (an interrupted download?) or {expected_what}; delete it and run {fix} (file: {path})"
        )
    if preset.sha256 is None:
        return None
    if progress and actual_size > _ANNOUNCE_HASH_ABOVE_BYTES and (fresh or remembered_sha256(path) is None):
        print(f"interp: verifying sha256 of {path.name} ({_human_size(actual_size)}, once per file)...",
              file=sys.stderr, flush=True)
    actual = file_sha256(path, fresh=fresh)
    if actual != preset.sha256.lower():
        raise ChecksumError(
            f"{path.name}: sha256 mismatch (expected {preset.sha256}, got {actual}): the file is corrupt or "
            f"{expected_what}; delete it and run {fix} (file: {path})"
        )
    return actual


def _human_size(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
