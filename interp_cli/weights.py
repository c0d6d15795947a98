"""Where the model weights come from: the one place a `--weights` value becomes a verified file on disk.

Weights are described as data (`interp_cli.presets`), the way timm's pretrained cfgs or diffusers'
`from_pretrained` do it, and every caller goes through `resolve_weights`, so the precedence rules, the offline
behaviour, the checksum policy and the error messages exist exactly once.

A `--weights` value (or `$INTERP_WEIGHTS`, or the default preset) can be:

* a preset name (`ffhq`, `demo`): a hub file with a published sha256 and size, or a file shipped inside
  the package (`interp_cli/data/`) whose sha256/size live in a JSON sidecar next to it (so its trainer
  can update them without touching code);
* a local file path: used as is, nothing to compare it with;
* a hub file `owner/repo/path/in/repo.pt[@revision]` (or with an explicit `hf://` prefix).

Hub files are fetched by `interp_cli.hub_download`, through huggingface_hub's own cache. huggingface_hub is
imported inside functions only: `interp weights list` and the commands' weights checks import this module,
and must stay fast.

The presets shipped inside the package (`demo`) are found, and a missing one advised back, by
`interp_cli.shipped`.

Checksums of big files are expensive (a 1.2 GB file takes seconds to hash), so hashes are remembered
by `interp_cli.sha256_record` (keyed by path + size + mtime_ns): an unchanged file is hashed once.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Callable

from interp_cli.errors import (CheckpointError, ChecksumError, InterpError, UsageError, WeightsUnavailableError, option,
                               set_env, shown, speaking_to_cli)
from interp_cli.hub_download import (ANNOUNCE_ABOVE_BYTES, HUB_PREFIX, HubFile, discard_download, download_command,
                                    locate_on_hub)
from interp_cli.presets import DEFAULT_PRESET, PRESETS, WEIGHTS_ENV, Preset
from interp_cli.progress import human_size
from interp_cli.sha256_record import file_sha256, remembered_sha256
from interp_cli.shipped import locate_shipped, restore_advice, shipped_path, sidecar_path, with_sidecar

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")

# Hub user, organisation and repo names: letters, digits, '-', '_', '.', not starting or ending with '-'/'.'.
_HUB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights file that exists on disk and, for presets with a known checksum, has been verified.

    `id` names it for logs and output metadata: the preset name, the hub id or the local path.
    `sha256` is the file's actual hash when it is known (verified, or remembered from an earlier
    hash), None for files nobody asked to hash. `label` is how error lines name the file: a local file
    as the user typed it (`./sub/p.pt`, `~/m.pt`: `path` is absolute, and two `p.pt` in different folders
    must not read alike), a preset's or hub file's by its full path on disk, where the user can find it.
    """

    path: Path
    id: str
    sha256: str | None
    preset: Preset | None
    label: str = ""

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", str(self.path))

    @property
    def local(self) -> bool:
        """Whether it is a file named by its path (its `id`), not a preset or a hub file."""
        return self.id == str(self.path)

    def summary(self) -> dict:
        """{"id", "path", "sha256"}: `download_weights`' answer, and `interp weights download/path --json`'s."""
        return {"id": self.id, "path": str(self.path), "sha256": self.sha256}




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
    if isinstance(spec, os.PathLike):  # a Path to a checkpoint is as natural from Python as its name
        spec = os.fspath(spec)
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
        preset = with_sidecar(preset)
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


def download(name: str | None, *, offline: bool | None = None, progress: bool = True) -> ResolvedWeights:
    """Fetch a preset (or hub file) into the Hugging Face cache and verify it, for `interp weights download` and
    `download_weights` (`offline` as there).

    A cached copy that fails verification is downloaded again rather than reported, because that is
    what someone running this command after a ChecksumError wants; a fresh download that fails is
    reported (downloading it a third time would not help). A name with nothing to fetch (a file here, a
    shipped preset) is only resolved: `interp weights download` checks those with `verify` instead.
    """
    fetch = {"download": True, "progress": progress, "verify": True, "offline": offline}
    if _hub_file_for(name) is None:
        return _resolve(name, **fetch)
    try:
        return _resolve(name, **{**fetch, "download": False})
    except WeightsUnavailableError:
        return _resolve(name, **fetch)
    except ChecksumError:
        return _resolve(name, **fetch, fresh_hash=True, force_download=True)


def download_weights(weights: str | os.PathLike | None = None, *, offline: bool | None = None,
                     progress: bool = False) -> dict:
    """Fetch weights into the Hugging Face cache and verify their sha256, as `interp weights download` does; what a
    morph's `weights=` then loads without a download. Returns {"id", "path", "sha256"}, as a summary's "weights".

    `weights`: a preset (`"ffhq"`), or a hub file `"owner/repo/file.pt[@rev]"`; None: what a morph without
    weights= uses ($INTERP_WEIGHTS, else ffhq). A file on this machine, or the shipped `"demo"`, is only checked.
    `offline`: None follows HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE as set in this process now (offline mode on:
    nothing is downloaded, a WeightsUnavailableError says so); False downloads whatever they say, as
    `HF_HUB_OFFLINE=0 interp weights download` does (huggingface_hub, which read them when it was imported, is
    held online meanwhile: another thread's request in this process may go online too); True never downloads.
    `progress=True`: the download's bar and the "verifying" line on stderr, as the command shows them.
    A copy in the cache that fails its sha256 is downloaded again.
    """
    from interp_cli.checks import check_flags

    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise UsageError(f"{option('weights', weights)}: give a preset name, a checkpoint path or a hub file")
    offline, progress = check_flags(offline=offline, progress=progress).values()
    try:
        resolved = download(os.fspath(weights) if weights is not None else None, offline=offline, progress=progress)
    except WeightsUnavailableError as err:  # ends with what this caller can do (its keyword, not the command's)
        raise err.for_command("download") from None
    return resolved.summary()


def remove_weights(weights: str | os.PathLike) -> dict:
    """Remove weights that interp downloaded from the Hugging Face cache, as `interp weights remove` does; returns
    {"id", "removed": [the cache's paths removed], "bytes": what they held}. The next morph with them downloads them
    again.

    `weights`: a hub preset (`"ffhq"`) or a hub file `"owner/repo/file.pt[@rev]"`: only that file goes, never the
    repo's other files in the cache. A file on this machine named by its path, or the shipped `"demo"`, is not
    interp's to remove: UsageError; so is a cache folder it would remove from that this user cannot write, or a file
    there kept from removal (`chattr +i`): nothing is removed then. Nothing of it in the cache, or a download of it
    running now: InterpError. A morph that has the file open goes on reading it; its blocks are freed when that morph
    ends.
    """
    from interp_cli.hub_download import RemovalRefused, remove_cached

    hub_presets = ", ".join(sorted(name for name, preset in PRESETS.items() if not preset.local_path))
    removable = f"a hub preset ({hub_presets}) or a hub file owner/repo/file.pt[@revision]"
    if not isinstance(weights, (str, os.PathLike)) or not os.fspath(weights).strip():
        raise UsageError(f"{shown(weights)} names no weights to remove: give {removable}")
    chosen = os.fspath(weights).strip()
    preset = PRESETS.get(chosen)
    if preset is not None and preset.local_path:
        raise UsageError(f"{chosen} ships with interp, in its package, and was never downloaded: there is nothing "
                         "of it to remove")
    hub = _hub_file_for(chosen)
    if hub is None and (_local_stat(Path(chosen).expanduser()) is not None or _looks_like_path(chosen)):
        raise UsageError(f"{chosen} is a file path: interp removes only what it fetched into the Hugging Face cache, "
                         f"{removable}, never a file of yours", path=chosen)
    if hub is None:
        meant = _preset_meant(chosen)
        raise UsageError(f"unknown weights '{chosen}': not a preset (presets: {', '.join(sorted(PRESETS))}) nor a "
                         f"hub file; " + (f"did you mean '{meant}'?" if meant else f"give {removable}"))
    label = f"{preset.name} weights" if preset is not None else f"weights {hub.id}"
    try:
        removed = remove_cached(hub)
    except BlockingIOError as err:  # a download of the same file holds huggingface_hub's lock
        raise InterpError(f"{label}: a download of them is running now (it holds {err.filename}): let it finish, "
                          "then remove them") from None
    except RemovalRefused as err:  # checked before anything went
        raise UsageError(f"{label}: cannot be removed: {err.why}; nothing was removed", path=err.filename) from None
    if not removed.entries:
        from interp_cli.hub_download import hub_cache

        raise InterpError(f"{label} are not in the Hugging Face cache {hub_cache()}: nothing to remove")
    return {"id": chosen if preset is not None else hub.id,
            "removed": [str(path) for path in (*removed.entries, *removed.blobs)], "bytes": removed.bytes}


@dataclass(frozen=True)
class Verification:
    """What `interp weights verify` found: the file, its fresh sha256, and which preset it is, if any.

    `preset` is the preset whose published (or, for a shipped one, recorded) sha256 the file has;
    None for a file that is no preset, which then has `contents`: what loading it found.
    """

    path: Path
    id: str
    sha256: str
    preset: Preset | None
    contents: str | None = None

    def summary(self) -> dict:
        """`interp weights verify --json`'s object: "id", "path", the fresh "sha256", "preset" (the preset whose
        sha256 it has, else null) and "contents" (what loading a file that is no preset found, else null)."""
        return {"id": self.id, "path": str(self.path), "sha256": self.sha256,
                "preset": self.preset.name if self.preset is not None else None, "contents": self.contents}


def verify(spec: str | None = None, *, progress: bool = True) -> Verification:
    """Check a weights file for `interp weights verify`; never downloads, always hashes afresh.
    `progress=False`: no "verifying sha256" line on stderr (the command's `--json` off a terminal, as download's).

    A preset name is checked against its sha256 and size. Any other file (a path, a hub file) is
    compared with every preset: the same sha256 makes it that preset's file; a preset's file name or
    exact size with another sha256 makes it a damaged copy (ChecksumError), since nothing else would
    be called e4e_ffhq_encode.pt or weigh exactly 1,201,649,680 bytes. Anything else is loaded the way
    a morph loads it, so a file that is no checkpoint fails with the loader's own reason
    (CheckpointError) instead of being hashed and called OK.
    """
    chosen = _chosen_spec(spec)
    if chosen in PRESETS:
        resolved = _resolve(chosen, download=False, progress=progress, verify=True, fresh_hash=True)
        if resolved.preset.sha256 is not None:
            return Verification(resolved.path, resolved.id, resolved.sha256, resolved.preset)
        # A shipped preset without its checksum record: nothing to compare with, so say what it is.
        return Verification(resolved.path, resolved.id, resolved.sha256, None, _describe_checkpoint(resolved))
    resolved = _resolve(chosen, download=False, progress=False, verify=False)
    path = resolved.path
    size = path.stat().st_size
    sha256 = file_sha256(path, fresh=True, reading=_hashing_line(path, size, progress=progress, label=resolved.label))
    presets = [p for p in map(with_sidecar, PRESETS.values()) if p.sha256 is not None]
    for preset in presets:
        if sha256 == preset.sha256.lower() and preset.size in (None, size):
            return Verification(path, resolved.id, sha256, preset)
    for preset in presets:
        named = path.name == _file_name(preset)
        if named or size == preset.size:
            raise ChecksumError(_not_the_preset(resolved, size, sha256, preset, named, from_env=bool(_from_env(spec))),
                                  path=resolved.label)
    return Verification(path, resolved.id, sha256, None, _describe_checkpoint(resolved))


def weights_path(spec: str | None = None) -> Path:
    """Where the weights are on disk, without downloading or hashing; WeightsUnavailableError if absent."""
    return located(spec).path


def located(spec: str | None = None) -> ResolvedWeights:
    """The weights on disk, as `weights_path` finds them; `sha256` only if an earlier run hashed this very file
    (`sha256_record`), else None: finding a file never hashes it (`verify` does)."""
    return _resolve(spec, download=False, progress=False, verify=False)


def hub_file(spec: str | None = None) -> HubFile | None:
    """The hub file `interp weights download SPEC` fetches; None when SPEC is a file here or shipped with interp."""
    return _hub_file_for(spec)


def parse_hub_spec(spec: str) -> HubFile | None:
    """`owner/repo/path/in/repo.pt[@revision]` (or `hf://...`) as a HubFile; None if `spec` is not one.

    Without the `hf://` prefix a spec only counts as a hub file when it cannot be a relative local
    path: no leading `/`, `.` or `~`, no backslash, and its first component is not a local directory
    (so a typo in `weights/mine.pt` is reported as a missing file rather than looked up on the hub).
    """
    explicit = spec.startswith(HUB_PREFIX)
    body = spec[len(HUB_PREFIX):] if explicit else spec
    revision = None
    if "@" in body:
        body, _, revision = body.rpartition("@")
        if not revision:
            return _not_a_hub_spec(spec, explicit, "empty revision after '@'")
    parts = body.split("/")
    if len(parts) < 3 or any(part in ("", ".", "..") for part in parts):
        return _not_a_hub_spec(spec, explicit, "expected owner/repo/path/in/repo[@revision]")
    owner, repo = parts[0], parts[1]
    # `--`, `..` and a `.git` ending huggingface_hub refuses too (HFValidationError), which ended the command as
    # an internal error.
    if not (_HUB_NAME.match(owner) and _HUB_NAME.match(repo)) or any(
            "--" in name or ".." in name for name in (owner, repo)) or repo.endswith(".git"):
        return _not_a_hub_spec(spec, explicit, f"'{owner}/{repo}' is not a valid hub repo id")
    if not explicit and ("\\" in spec or Path(owner).is_dir()):
        return None
    if revision is not None and (problem := _revision_problem(revision)):
        # huggingface_hub takes any revision as a path under the cache's refs/ (`../../x` reads a file above it), and
        # offline it led to the long advice with a URL of that "revision": refused here, before any of that.
        raise UsageError(f"bad hub weights '{spec}': revision '{revision}' {problem}; give one, e.g. @main")
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
    offline: bool | None = None,
) -> ResolvedWeights:
    chosen = _chosen_spec(spec)
    preset = PRESETS.get(chosen)
    if preset is not None:
        preset = with_sidecar(preset)
        fetched = False
        if preset.local_path:
            path = locate_shipped(preset)
        else:
            path, fetched = locate_on_hub(
                _preset_hub_file(preset), preset=preset, spec=chosen,
                download=download, progress=progress, force_download=force_download, offline=offline,
            )
        sha256 = (_check_integrity(path, preset, fresh=fresh_hash, progress=progress, fetched=fetched)
                  if verify else None)
        if sha256 is None:
            # Nothing to compare with (or not asked to): report the hash only if it is known or was asked for.
            sha256 = file_sha256(path, fresh=True) if fresh_hash else remembered_sha256(path)
        return ResolvedWeights(path=path, id=preset.name, sha256=sha256, preset=preset)

    named = _named_file(chosen, spec)
    if isinstance(named, Path):
        path = named.absolute()
        sha256 = file_sha256(path, fresh=True) if fresh_hash else remembered_sha256(path)
        return ResolvedWeights(path=path, id=str(path), sha256=sha256, preset=None, label=chosen)
    path, _ = locate_on_hub(
        named, preset=None, spec=chosen, download=download, progress=progress, force_download=force_download,
        offline=offline,
    )
    sha256 = file_sha256(path, fresh=True) if fresh_hash else remembered_sha256(path)
    return ResolvedWeights(path=path, id=named.id, sha256=sha256, preset=None)


def check_weights_name(spec: str | os.PathLike | None = None) -> None:
    """Refuse, with the line a morph would give (UsageError), a `--weights` value (or `$INTERP_WEIGHTS`) that
    names nothing: no preset, no file here, no hub file. From the name and a stat alone (no torch, no network,
    no hashing), so `interp batch` says a typo in every task of an array, those with no row to make too.
    Whether a preset or hub file can be fetched, and whether a file is a checkpoint, is found when it loads."""
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if spec is not None and not isinstance(spec, str):
        return  # not a name at all: `Session` says so, as it always has
    chosen = _chosen_spec(spec)
    if chosen not in PRESETS:
        _named_file(chosen, spec)


def _named_file(chosen: str, spec: str | None) -> Path | HubFile:
    """What a `chosen` spec that is no preset names: a file here, or a hub file; else the UsageError saying
    why it names nothing (`spec` as given: a value from $INTERP_WEIGHTS is said to come from there)."""
    local = Path(chosen).expanduser()
    found = _local_stat(local)
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UsageError(f"weights path is a directory, not a checkpoint file: {chosen}{_from_env(spec)}", path=chosen)
    if found is not None:  # a FIFO, a device (a link to /dev/zero), a socket, an unreadable file: said so, from
        # stat alone (a FIFO blocks), before torch's import rather than as the loader's error after it
        from interp_cli.files import check_input_file

        check_input_file(local, "a checkpoint file")
        return local

    hub = parse_hub_spec(chosen)
    if hub is not None:
        return hub

    source = _from_env(spec)
    if _looks_like_path(chosen):
        raise UsageError(f"weights file not found: {chosen}{source}", path=chosen)
    meant = _preset_meant(chosen)
    raise UsageError(
        f"unknown weights '{chosen}'{source}: not a file and not a preset (presets: {', '.join(sorted(PRESETS))}); "
        + (f"did you mean '{meant}'?" if meant else
           f"{'set it to' if source else 'pass'} a preset name, a checkpoint path, or a hub file "
           "owner/repo/path/in/repo.pt[@revision]")
    )


def _preset_meant(name: str) -> str | None:
    """The preset a name in other letter case stands for (`FFHQ`, `Demo`: the README's prose says "the FFHQ
    model"), else None. Preset names are lower case, and a file or hub name is case-sensitive, so the name is
    refused as before, but with the word that works: said alone, it fits `--weights`, $INTERP_WEIGHTS,
    `interp weights download` and a Python caller's weights= alike."""
    return next((preset for preset in sorted(PRESETS) if preset.lower() == name.strip().lower()), None)


def _local_stat(local: Path) -> os.stat_result | None:
    """The stat of the file a spec names here, or None where there is none (a preset or hub name, a typo).

    Path.exists() and is_file() raise for a name too long for the file system (--weights with a 300-byte
    name: an OSError, told as exit 1 with a traceback under --debug) and answer False for a symlink loop
    ("weights file not found" for a file that is there): those, and a folder that cannot be searched,
    are the one line an input gets, exit 2."""
    try:
        return os.stat(local)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        from interp_cli.files import check_input_file

        check_input_file(local, "a checkpoint file")  # raises, naming the reason
        raise


def _from_env(spec: str | None) -> str:
    """" (from $INTERP_WEIGHTS)" when that variable, not `spec`, chose the weights: a value set long ago in a
    shell profile is not on the command line that failed, so the message says where it came from."""
    if spec is not None and spec.strip():
        return ""
    return f" (from ${WEIGHTS_ENV})" if os.environ.get(WEIGHTS_ENV, "").strip() else ""


def _chosen_spec(spec: str | None) -> str:
    # An empty --weights or INTERP_WEIGHTS= means "not set": shells and CI templates produce them.
    for candidate in (spec, os.environ.get(WEIGHTS_ENV)):
        if candidate is not None and candidate.strip():
            return candidate.strip()
    return DEFAULT_PRESET


def _looks_like_path(spec: str) -> bool:
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in spec for sep in separators) or spec.lower().endswith(CHECKPOINT_SUFFIXES)


# What git refuses in a ref name (`git check-ref-format`), which the hub's branches and tags are: control characters,
# space, ~ ^ : ? * [ and backslash; `..` and `@{` anywhere.
_REF_REFUSED = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{")


def _revision_problem(revision: str) -> str | None:
    """Why `revision` names no branch, tag or commit (git would refuse it as a ref name), or None. `refs/pr/1`, `main`,
    `v1.0` and a commit's hex are names; `../x`, `a..b`, `.hidden`, `x.lock`, `a//b`, `x/` are not."""
    parts = revision.split("/")
    if _REF_REFUSED.search(revision) or revision.endswith(".") or any(
            not part or part.startswith(".") or part.endswith(".lock") for part in parts):
        return "is no branch, tag or commit name (git refuses it)"
    return None


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
    if _local_stat(Path(chosen).expanduser()) is not None:
        return None
    return parse_hub_spec(chosen)


def _preset_hub_file(preset: Preset) -> HubFile:
    if not preset.repo_id:
        raise CheckpointError(f"preset '{preset.name}' has neither a repo_id nor a local_path")
    return HubFile(repo_id=preset.repo_id, filename=preset.filename, revision=preset.revision)


# --------------------------------------------------------------------------------------------------
# A preset's file on this machine (the shipped ones: interp_cli.shipped)


def _present_path(preset: Preset) -> Path | None:
    if preset.local_path:
        path = shipped_path(preset)
        return path if path.is_file() else None
    from interp_cli.hub_download import check_hub_settings, hub_cache

    check_hub_settings()
    import huggingface_hub

    cached = huggingface_hub.try_to_load_from_cache(preset.repo_id, preset.filename, revision=preset.revision,
                                                    cache_dir=hub_cache())
    return Path(cached) if isinstance(cached, str) and os.path.isfile(cached) else None


# --------------------------------------------------------------------------------------------------
# Integrity


def _check_integrity(path: Path, preset: Preset, *, fresh: bool, progress: bool, fetched: bool = False) -> str | None:
    """Refuse a preset file whose size or sha256 is not the expected one; return its sha256 when checked.

    The size check comes first: a truncated 1.2 GB download is then reported at once, not after
    seconds of hashing. A file `fetched` by this very call that fails is removed from the HF cache
    (`discard_download`); one found there is left for `interp weights download` to replace.
    """
    if preset.local_path:
        # Shipped with interp, never downloaded: damaged or replaced in place, and restored, not fetched.
        # Its words (`_mismatch_advice`) are found only for a file that fails: the restore command asks git or
        # the installed distribution's file list, which every run of an intact file paid for nothing.
        recorded = f", as recorded in {sidecar_path(preset).name}"
        why = None
    else:
        recorded = ""
        why = {"size": "the file is incomplete (an interrupted download?) or not the published checkpoint",
               "sha256": "the file is corrupt or not the published checkpoint"}
    actual_size = path.stat().st_size
    if preset.size is not None and actual_size != preset.size:
        raise ChecksumError(f"{path.name}: size mismatch (expected {preset.size:,} bytes{recorded}, got "
                            f"{actual_size:,}): {_mismatch_advice(path, preset, why, 'size', fetched)}", path=path)
    if preset.sha256 is None:
        return None
    actual = file_sha256(path, fresh=fresh, reading=_hashing_line(path, actual_size, progress=progress))
    if actual != preset.sha256.lower():
        raise ChecksumError(f"{path.name}: sha256 mismatch (expected {preset.sha256}{recorded}, got {actual}): "
                            f"{_mismatch_advice(path, preset, why, 'sha256', fetched)}", path=path)
    return actual


def _mismatch_advice(path: Path, preset: Preset, why: dict[str, str] | None, kind: str, fetched: bool) -> str:
    """What to do about a preset file that failed its size or sha256 check, ending with where it is (`why`:
    each check's cause for a downloaded file; a shipped one has its own)."""
    if preset.local_path:
        return (f"the {preset.name} model shipped with interp is damaged or was replaced; "
                f"{restore_advice(preset)} (file: {path})")
    command = download_command(preset.name)
    if not fetched:
        # `interp weights download` downloads a cached copy that fails its check again (force_download): deleting
        # the snapshot's link by hand is no help, huggingface_hub would link the bad blob again unasked.
        return f"{why[kind]}; {command} replaces it (file: {path})"
    blob = path.resolve()
    if discard_download(path):
        return (f"the download is not the published checkpoint (changed on the way, or the hub's file changed), "
                f"so it was removed from the Hugging Face cache; try again with {command}")
    return f"the download is not the published checkpoint; delete {blob} and {path}, then try again with {command}"



def _hashing_line(path: Path, size: int, *, progress: bool, label: str | None = None) -> Callable[[], None]:
    """What `file_sha256` calls as this run starts reading a big file: the "verifying" line, which a run that takes
    the digest from the record, or from another run it waited for (a job array's workers), has no reason to print."""
    def say() -> None:
        if progress and size > ANNOUNCE_ABOVE_BYTES:
            print(f"interp: verifying sha256 of {label or path.name} ({human_size(size)}, once per file)...",
                  file=sys.stderr, flush=True)
    return say


def _file_name(preset: Preset) -> str:
    return Path(preset.local_path or preset.filename).name


def _not_the_preset(resolved: ResolvedWeights, size: int, sha256: str, preset: Preset, named: bool, *,
                    from_env: bool) -> str:
    """Why a file that looks like a preset's (its name or exact size) but has another sha256 is refused.

    `from_env`: the file is $INTERP_WEIGHTS, which every morph goes on using until it is set to the fetched preset;
    a file named on the command line is a morph's `--weights`, which then names the preset instead."""
    path, label = resolved.path, resolved.label
    if named and preset.size is not None and size != preset.size:
        looks = f"named {path.name} like it, but {size:,} bytes, not {preset.size:,}"
    elif named:
        looks = f"named {path.name} like it"
    else:
        looks = f"exactly its size, {size:,} bytes"
    source = f"the sha256 recorded in {sidecar_path(preset).name}" if preset.local_path else "the published sha256"
    if preset.local_path:
        check = (f"interp weights verify {preset.name}" if speaking_to_cli()
                 else f'interp_cli.weights.verify("{preset.name}")')  # how a Python caller reached this line
        fix = f"check the shipped file itself with `{check}` and use it rather than a copy"
    else:
        use = (set_env(WEIGHTS_ENV, shlex.quote(preset.name)) if from_env
               else f"morph with `{option('weights', preset.name)}`")
        fix = f"copy it again from a good copy, or fetch it with {download_command(preset.name)} and {use}"
    own = "; if it is a checkpoint of your own, give it another name" if named else ""
    where = f" (file: {path})" if label != str(path) else ""
    label += f" (from ${WEIGHTS_ENV})" if from_env else ""
    return (f"{label}: not the {preset.name} checkpoint it looks like ({looks}): its sha256 {sha256} is not "
            f"{source}, {preset.sha256}; the copy is damaged or incomplete: {fix}{own}{where}")


def _describe_checkpoint(resolved: ResolvedWeights) -> str:
    """What a checkpoint holds, read by the loader a morph uses (tensors only, every layout check)."""
    from interp_cli.models.checkpoint import load_model

    model = load_model(resolved.path, name=resolved.label)
    codes = f"{model.size} px, W+ codes [{model.n_latent}, {model.style_dim}]"
    if model.encoder is not None:
        return f"an e4e checkpoint (encoder + StyleGAN2 generator), {codes}"
    return (f"a StyleGAN2 generator ({model.layout} layout), {codes}, with no encoder: it renders codes "
            "but cannot encode photos")
