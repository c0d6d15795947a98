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
`interp weights list` and the commands' weights checks import this module, and must stay fast.

Checksums of big files are expensive (a 1.2 GB file takes seconds to hash), so hashes are remembered
by `interp_cli.sha256_record` (keyed by path + size + mtime_ns): an unchanged file is hashed once.
"""

from __future__ import annotations

import errno
import glob
import inspect
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from collections.abc import Callable, Iterator

from interp_cli.errors import CheckpointError, ChecksumError, UsageError, WeightsUnavailableError, option
from interp_cli.files import remove_if_same, take_lock
from interp_cli.progress import human_size, is_terminal, polled
from interp_cli.sha256_record import file_sha256, remembered_sha256

SHIPPED_DATA = "data"
"""The folder of the `interp_cli` package that holds the presets shipped with interp (`demo`): it goes
into the wheel and the sdist, so an installed interp finds them wherever it is installed."""

DEFAULT_PRESET = "ffhq"
WEIGHTS_ENV = "INTERP_WEIGHTS"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")

# Below this size a download or a hash is too quick to be worth lines on stderr ("downloading...", "verifying..."):
# a size, not a time, so what a run prints does not hang on the load of the machine or the network. A log sees
# the 1.2 GB checkpoint arrive and get verified; a small file (a test's, a tokenizer) and a cached one say nothing.
_ANNOUNCE_ABOVE_BYTES = 64 * 1024 * 1024
# huggingface_hub releases before this one download into `blobs/<etag>.incomplete` and, on the next try, resume it
# (0.23+, and older ones given resume_download=True: `_resume_option`) or, with force_download, remove it first.
# 1.18 downloads into a new `<etag>.<8 hex>.incomplete` every time and never reads an older partial file
# (huggingface/huggingface_hub#4306).
_FRESH_PARTIAL_FROM = (1, 18)
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
    ),
}


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
    reported (downloading it a third time would not help). A name with nothing to fetch (a file here, a
    shipped preset) is only resolved: `interp weights download` checks those with `verify` instead.
    """
    if _hub_file_for(name) is None:
        return _resolve(name, download=True, progress=True, verify=True)
    try:
        return _resolve(name, download=False, progress=True, verify=True)
    except WeightsUnavailableError:
        return _resolve(name, download=True, progress=True, verify=True)
    except ChecksumError:
        return _resolve(name, download=True, progress=True, verify=True, fresh_hash=True, force_download=True)


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


def verify(spec: str | None = None) -> Verification:
    """Check a weights file for `interp weights verify`; never downloads, always hashes afresh.

    A preset name is checked against its sha256 and size. Any other file (a path, a hub file) is
    compared with every preset: the same sha256 makes it that preset's file; a preset's file name or
    exact size with another sha256 makes it a damaged copy (ChecksumError), since nothing else would
    be called e4e_ffhq_encode.pt or weigh exactly 1,201,649,680 bytes. Anything else is loaded the way
    a morph loads it, so a file that is no checkpoint fails with the loader's own reason
    (CheckpointError) instead of being hashed and called OK.
    """
    chosen = _chosen_spec(spec)
    if chosen in PRESETS:
        resolved = _resolve(chosen, download=False, progress=True, verify=True, fresh_hash=True)
        if resolved.preset.sha256 is not None:
            return Verification(resolved.path, resolved.id, resolved.sha256, resolved.preset)
        # A shipped preset without its checksum record: nothing to compare with, so say what it is.
        return Verification(resolved.path, resolved.id, resolved.sha256, None, _describe_checkpoint(resolved))
    resolved = _resolve(chosen, download=False, progress=False, verify=False)
    path = resolved.path
    size = path.stat().st_size
    sha256 = file_sha256(path, fresh=True, reading=_hashing_line(path, size, progress=True, label=resolved.label))
    presets = [p for p in map(_with_sidecar, PRESETS.values()) if p.sha256 is not None]
    for preset in presets:
        if sha256 == preset.sha256.lower() and preset.size in (None, size):
            return Verification(path, resolved.id, sha256, preset)
    for preset in presets:
        named = path.name == _file_name(preset)
        if named or size == preset.size:
            raise ChecksumError(_not_the_preset(resolved, size, sha256, preset, named, from_env=bool(_from_env(spec))))
    return Verification(path, resolved.id, sha256, None, _describe_checkpoint(resolved))


def weights_path(spec: str | None = None) -> Path:
    """Where the weights are on disk, without downloading or hashing; WeightsUnavailableError if absent."""
    return _resolve(spec, download=False, progress=False, verify=False).path


def hub_file(spec: str | None = None) -> HubFile | None:
    """The hub file `interp weights download SPEC` fetches; None when SPEC is a file here or shipped with interp."""
    return _hub_file_for(spec)


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
        fetched = False
        if preset.local_path:
            path = _locate_shipped(preset)
        else:
            path, fetched = _locate_on_hub(
                _preset_hub_file(preset), preset=preset, spec=chosen,
                download=download, progress=progress, force_download=force_download,
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
    path, _ = _locate_on_hub(
        named, preset=None, spec=chosen, download=download, progress=progress, force_download=force_download
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
        raise UsageError(f"weights path is a directory, not a checkpoint file: {chosen}{_from_env(spec)}")
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
        raise UsageError(f"weights file not found: {chosen}{source}")
    raise UsageError(
        f"unknown weights '{chosen}'{source}: not a file and not a preset (presets: {', '.join(sorted(PRESETS))}); "
        f"{'set it to' if source else 'pass'} a preset name, a checkpoint path, or a hub file "
        "owner/repo/path/in/repo.pt[@revision]"
    )


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
            f"{_unzip_advice(folder)}",
            # `interp weights path/verify/download` take no --weights, a morph, encode, mix or render does.
            {"": f", or pass a checkpoint path with {option('weights')}", "weights": ""},
        )
    return folder


def _unzip_advice(folder) -> str:
    """How to run interp from files instead of the zip it is imported from (a zip or a wheel on PYTHONPATH, a
    zipapp): unpack it with Python's own zipfile, which every install has (pip does not install a zip, and a
    wheel's name says nothing of the tool that put it there), then import from that folder in its place."""
    archive = getattr(getattr(folder, "root", None), "filename", None)
    if not archive:
        return "unpack it and import interp from the unpacked folder"
    archive = Path(archive)
    unpacked = archive.with_name(f"{archive.stem}-unzipped")
    # The entry of sys.path inside the zip: the folder that holds interp_cli/ (the zip's top, or a folder in it).
    inside = Path(getattr(folder, "at", "")).parent.parent
    entry, replacement = (archive / inside, unpacked / inside) if inside.parts else (archive, unpacked)
    return (f"unpack it with `{shlex.quote(sys.executable)} -m zipfile -e {shlex.quote(str(archive))} "
            f"{shlex.quote(str(unpacked))}` and put {replacement} on PYTHONPATH in place of {entry}")


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
    raise WeightsUnavailableError(
        f"{preset.name} weights missing: {path} does not exist; the file ships inside interp's package: "
        f"{_restore_advice(preset)}",
        # `interp weights path/verify` take no --weights; a morph, encode, mix or render does.
        {"": f", or pass another checkpoint with {option('weights')}", "weights": ""},
    )


def _restore_advice(preset: Preset) -> str:
    """How to get a damaged or missing shipped file back, as a command that works for this install.

    Rebuilding it (`make demo-weights`) is no answer: that takes hours, exists only in a checkout and
    trains a different model than the one recorded. The file came with interp, so it comes back the
    way interp came: from git in a checkout, else by reinstalling the same distribution.
    """
    path = _shipped_path(preset)
    return _git_restore(path) or _reinstall_advice(path)


def _git_restore(path: Path) -> str | None:
    """`git -C ROOT checkout HEAD -- FILES` when `path` is tracked in a git checkout; None otherwise."""
    root = next((folder for folder in path.parents if (folder / ".git").exists()), None)
    if root is None:
        return None
    wanted = [path.relative_to(root).as_posix(), path.with_suffix(".json").relative_to(root).as_posix()]
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "--", *wanted], capture_output=True,
                                text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git here: the command could not be followed either
        return None
    tracked = [name for name in wanted if name in listed.stdout.splitlines()]
    if listed.returncode != 0 or wanted[0] not in tracked:
        return None
    # The checksum record goes with it: a file restored next to a record of another file would still fail.
    files = " ".join(shlex.quote(name) for name in tracked)
    return f"restore it with `git -C {shlex.quote(str(root))} checkout HEAD -- {files}`"


def _reinstall_advice(path: Path) -> str:
    """A reinstall command for the installed distribution that holds `path`, else plain words."""
    from importlib import metadata
    from importlib.util import find_spec

    generic = "reinstall interp, whose package ships it"
    try:
        dist = metadata.distribution("interp-cli")
    except metadata.PackageNotFoundError:
        return generic
    # Only if that distribution's files include this very file: an editable install or a copy of the
    # package on PYTHONPATH is not restored by reinstalling whatever `interp-cli` pip knows about.
    owned = any(Path(str(dist.locate_file(f))).resolve() == path.resolve()
                for f in dist.files or () if f.name == path.name)
    if not owned:
        return generic
    spec = _install_source(dist)
    pip = f"{shlex.quote(sys.executable)} -m pip install --force-reinstall --no-deps"
    if spec is None:  # interp-cli is on no public index: `interp-cli==<version>` would not install
        if find_spec("pip") is None:
            return "reinstall interp from the wheel or checkout it was installed from"
        return f"reinstall interp from the wheel or checkout it was installed from: `{pip} WHEEL_OR_CHECKOUT`"
    if find_spec("pip") is None:
        return f"reinstall interp ({spec}) with the tool that installed it"
    return f"reinstall interp: `{pip} {shlex.quote(spec)}`"


def _install_source(dist) -> str | None:
    """Where pip installed `dist` from (PEP 610 direct_url.json), as a pip requirement; None for an index."""
    from urllib.parse import unquote, urlparse

    try:
        record = json.loads(dist.read_text("direct_url.json") or "null")
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("url"), str):
        return None
    url = record["url"]
    vcs = record.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return f"{vcs['vcs']}+{url}@{vcs['commit_id']}"
    if url.startswith("file:"):
        local = unquote(urlparse(url).path)
        return local if os.path.exists(local) else None  # a wheel since deleted: no command to give
    return url


# --------------------------------------------------------------------------------------------------
# Hub files


def _locate_on_hub(
    hub: HubFile, *, preset: Preset | None, spec: str, download: bool, progress: bool, force_download: bool
) -> tuple[Path, bool]:
    """A hub file from the HF cache, downloading it if allowed; WeightsUnavailableError otherwise.

    Also says whether the file came through hf_hub_download in this call (True) or was found in the cache.
    """
    import huggingface_hub
    from huggingface_hub.file_download import repo_folder_name

    if not force_download:
        # Checked before hf_hub_download because that one asks the hub for the latest etag on every call:
        # a network round trip per run, and a failure when the hub is down even though the file is here.
        cached = huggingface_hub.try_to_load_from_cache(hub.repo_id, hub.filename, revision=hub.revision)
        if isinstance(cached, str) and os.path.isfile(cached):
            # What a killed download of this file left goes too: found here, the file is never downloaded again,
            # so no later download would come this way.
            blob = _linked_blob(cached)
            if blob is not None:
                _remove_abandoned_partials(blob.parent, blob.name)
            return Path(cached), False
    if _hub_offline():
        raise _unavailable(hub, preset, spec, _offline_reason())
    if not download:
        raise _unavailable(hub, preset, spec, "it has not been downloaded (not in the Hugging Face cache)")
    reached = False
    try:
        with _progress_bars(progress), _quiet_hub_logs():
            size, etag = _check_advertised(hub, preset)
            reached = True
            blobs = _hub_cache() / repo_folder_name(repo_id=hub.repo_id, repo_type="model") / "blobs"
            _remove_abandoned_partials(blobs, etag)
            here = _resumed_bytes(blobs, etag, size)
            _check_room(size, here)
            with _download_lines(hub, preset, size, blobs, etag, here, progress):
                downloaded = huggingface_hub.hf_hub_download(
                    hub.repo_id, hub.filename, revision=hub.revision, force_download=force_download,
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
    folder = _hub_cache()
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


def _partial_downloads(blobs: Path, etag: str | None = None) -> list[tuple[Path, os.stat_result]]:
    """The partial downloads in `blobs` (of the file `etag`, or of any) that the installed huggingface_hub never reads
    again: from 1.18 every one (`blobs/<etag>.incomplete` of an older release, and its own `<etag>.<8 hex>.incomplete`,
    which a killed download leaves: #4306); before, only the latter (a newer release's, in a shared cache), since
    it resumes the former. Whether a download is writing one now is `_unheld`'s question."""
    try:
        names = os.listdir(blobs)  # every morph lists this folder: a plain listing, no glob to compile
    except OSError:
        return []
    found = []
    for name in names:
        if not (name.endswith(".incomplete") and (etag is None or name.startswith(f"{etag}."))
                and re.fullmatch(r"[0-9a-f]+\.(?:[0-9a-f]{8}\.)?incomplete", name)):
            continue
        if name.count(".") == 1 and _hub_version() < _FRESH_PARTIAL_FROM:
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
    fd = take_lock(_hub_cache() / ".locks" / blobs.parent.name / f"{etag}.lock")
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def _abandoned_after() -> float:
    """How long a partial file must have gone unwritten, its lock free, to be a killed download's: huggingface_hub
    writes a live one at least every HF_HUB_DOWNLOAD_TIMEOUT seconds, or fails. The wait also spares a download on
    another node of a file system whose flock is local to each (Lustre's localflock), which the lock cannot show."""
    from huggingface_hub import constants

    return max(60.0, 6.0 * constants.HF_HUB_DOWNLOAD_TIMEOUT)


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


def _hub_version() -> tuple[int, ...]:
    """The installed huggingface_hub's (major, minor) release, e.g. (0, 20) for 0.20.3 or 1.18.0.dev0."""
    import huggingface_hub

    numbers = re.match(r"(\d+)\.(\d+)", huggingface_hub.__version__)
    return (int(numbers[1]), int(numbers[2])) if numbers else (0, 0)


@contextmanager
def _download_lines(hub: HubFile, preset: Preset | None, size: int | None, blobs: Path, etag: str | None, here: int,
                    enabled: bool) -> Iterator[None]:
    """Off a terminal, a big download (over _ANNOUNCE_ABOVE_BYTES) says so as it starts, naming the file, its size and
    the cache it goes to, then how far it is now and then, as a bar off a terminal does (`progress.polled`): a
    Slurm log or a pipe saw nothing for the minutes 1.2 GB take. Where huggingface_hub draws its bar (a terminal, a
    notebook: `_hub_bar_shows`), that bar says it.

    How far it is: the size of the partial file huggingface_hub writes, `blobs/<etag>.incomplete` (releases before
    1.18) or `blobs/<etag>.<8 hex>.incomplete`, a name that was not there before (1.18 and later). A run waiting for
    another's download of the same file (huggingface_hub's lock) follows that one's file, which is what it waits for,
    where it can tell it (before 1.18; from 1.18, if that file was made after this run looked): else it says only its
    first and last lines.
    """
    if not (enabled and size and size > _ANNOUNCE_ABOVE_BYTES and etag) or _hub_bar_shows():
        yield
        return
    label = f"{preset.name} weights {hub.filename}" if preset else f"weights {hub.id}"
    resumed = f"; {human_size(here)} of it are here already, from an interrupted download" if here else ""
    print(f"interp: downloading {label} ({human_size(size)}) from the Hugging Face repo {hub.repo_id} into the "
          f"Hugging Face cache {_hub_cache()}{resumed}", file=sys.stderr, flush=True)
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


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


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
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    # The wait hf_hub_download's own metadata request has (HF_HUB_ETAG_TIMEOUT): in huggingface_hub 0.20 this
    # one's default was a fixed 10 s, which that variable did not change.
    metadata = get_hf_file_metadata(hf_hub_url(hub.repo_id, hub.filename, revision=hub.revision),
                                    timeout=constants.HF_HUB_ETAG_TIMEOUT)
    size = metadata.size if isinstance(metadata.size, int) else None
    etag = metadata.etag if isinstance(metadata.etag, str) and metadata.etag else None
    if preset is None or preset.sha256 is None:
        return size, etag
    advertised = (etag or "").strip('"').lower()
    if _SHA256_HEX.match(advertised) and advertised != preset.sha256.lower():
        raise ChecksumError(
            f"{preset.name} weights: the hub advertises sha256 {advertised} for {hub.id}, but the preset expects "
            f"{preset.sha256}; refusing to download a file that is not the published checkpoint"
        )
    return size, etag


@contextmanager
def _quiet_hub_logs() -> Iterator[None]:
    """No retry chatter from huggingface_hub on stderr: our one-line error says what went wrong.

    Its disk-space warning too (two lines with its source file): `_check_room` refuses that download
    first, and a disk filled meanwhile fails it with the one line that says where and what to do.
    """
    import logging
    import warnings

    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Not enough free disk space")
            yield
    finally:
        logger.setLevel(level)


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


def _offline_reason() -> str:
    name = _offline_variable()
    setting = f"{name}={os.environ[name]}" if name else "HF_HUB_OFFLINE"
    return f"offline mode is on ({setting}) and it is not in the Hugging Face cache"


def _download_command(spec: str) -> str:
    """`interp weights download SPEC`, as a command that is not refused again by this shell's offline mode.

    HF_HUB_OFFLINE=0 wins over TRANSFORMERS_OFFLINE too (huggingface_hub takes the first non-empty one).
    """
    prefix = "HF_HUB_OFFLINE=0 " if _offline_variable() else ""
    return f"`{prefix}interp weights download {shlex.quote(spec)}`"


def _login_advice() -> str:
    """How to log in to the hub with the command line the installed huggingface_hub has.

    `hf` arrived in huggingface_hub 0.34; older releases (setup.cfg allows 0.20) have only
    `huggingface-cli`, and 1.0 removed that. HF_TOKEN works in all of them.
    """
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


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """huggingface_hub's download bar when `enabled` and stderr is a terminal (or a notebook's); none otherwise.

    Off a terminal huggingface_hub 0.21+ draws none; 0.20 (setup.cfg's floor) drew its tqdm bar into logs
    and pipes as carriage-return redraws, ahead of a failure's one line too. A Jupyter kernel's stderr is no
    terminal, but there tqdm.auto draws a widget, which every version did and does.
    """
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if (enabled and _hub_bar_shows()) or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


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
        from huggingface_hub import constants

        seconds = constants.HF_HUB_DOWNLOAD_TIMEOUT
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
        from huggingface_hub import constants

        # The metadata request's wait (HF_HUB_ETAG_TIMEOUT); a slow link or proxy may need more.
        seconds = constants.HF_HUB_ETAG_TIMEOUT
        said += f"; a slow connection may need more than {seconds} s: {_more_time('HF_HUB_ETAG_TIMEOUT', seconds)}"
    return said


def _more_time(variable: str, seconds: int) -> str:
    """`VARIABLE=N`, a wait that a slow connection is likely to be content with (huggingface_hub's default is 10 s)."""
    return f"{variable}={max(60, 6 * seconds)}"


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
    cache = _hub_cache()
    # HF_HUB_CACHE, where set, wins over HF_HOME: pointing HF_HOME elsewhere would not move that cache.
    variable = next((name for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE") if os.environ.get(name)), "HF_HOME")
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no room for it in the Hugging Face cache {cache} ({err.strerror or err}): free space there"
                f"{_leftovers(cache)}, or set {variable} to a folder on a disk with room")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"the Hugging Face cache {cache} cannot be written ({err.strerror or err}): set {variable} to a "
                "folder you can write to")
    return f"the download failed: {err.strerror or err}"


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
        fetch = (f"Where the hub is reachable, fetch it with {_download_command(spec)} (or `unset "
                 f"{' '.join(_offline_to_unset())}` first), or download {url} on any machine")
    else:
        fetch = f"Fetch it with {_download_command(spec)} where the hub is reachable, or download {url}"
    # A bare owner/repo/file spec might have been meant as a relative path: say that it is not one.
    if_local = "" if preset or spec.startswith(_HUB_PREFIX) else f"; if you meant a local file, no such file: {spec}"
    copy = f"/path/to/{basename}"
    with_option = (f", or put a copy on this machine and pass `{option('weights', copy)}` (or set "
                   f"{WEIGHTS_ENV}={copy}){if_local}")
    # `interp weights ...` takes no --weights: the copy is named through the environment, and checked.
    with_env = (f", or put a copy on this machine and set {WEIGHTS_ENV}={copy} (`interp weights verify {copy}` "
                f"checks it){if_local}")
    # Only commands that take --weights and can run on the demo model (render's codes come from one model).
    demo = (f". To try interp with no download, pass `{option('weights', 'demo')}`: the small model shipped with "
            "interp (cartoon faces only)")
    advice = {"": with_option, "render": with_option, "weights": with_env,
              **{command: with_option + demo for command in ("morph", "encode", "mix", "batch")}}
    return WeightsUnavailableError(
        f"{label} unavailable: {reason}. Needed: {hub.filename}{size} from the Hugging Face repo {hub.repo_id}"
        f"{f' at revision {hub.revision}' if hub.revision else ''}. {fetch}",
        advice,
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


def _check_integrity(path: Path, preset: Preset, *, fresh: bool, progress: bool, fetched: bool = False) -> str | None:
    """Refuse a preset file whose size or sha256 is not the expected one; return its sha256 when checked.

    The size check comes first: a truncated 1.2 GB download is then reported at once, not after
    seconds of hashing. A file `fetched` by this very call that fails is removed from the HF cache
    (`_discard_download`); one found there is left for `interp weights download` to replace.
    """
    if preset.local_path:
        # Shipped with interp, never downloaded: damaged or replaced in place, and restored, not fetched.
        # Its words (`_mismatch_advice`) are found only for a file that fails: the restore command asks git or
        # the installed distribution's file list, which every run of an intact file paid for nothing.
        recorded = f", as recorded in {_sidecar_path(preset).name}"
        why = None
    else:
        recorded = ""
        why = {"size": "the file is incomplete (an interrupted download?) or not the published checkpoint",
               "sha256": "the file is corrupt or not the published checkpoint"}
    actual_size = path.stat().st_size
    if preset.size is not None and actual_size != preset.size:
        raise ChecksumError(f"{path.name}: size mismatch (expected {preset.size:,} bytes{recorded}, got "
                            f"{actual_size:,}): {_mismatch_advice(path, preset, why, 'size', fetched)}")
    if preset.sha256 is None:
        return None
    actual = file_sha256(path, fresh=fresh, reading=_hashing_line(path, actual_size, progress=progress))
    if actual != preset.sha256.lower():
        raise ChecksumError(f"{path.name}: sha256 mismatch (expected {preset.sha256}{recorded}, got {actual}): "
                            f"{_mismatch_advice(path, preset, why, 'sha256', fetched)}")
    return actual


def _mismatch_advice(path: Path, preset: Preset, why: dict[str, str] | None, kind: str, fetched: bool) -> str:
    """What to do about a preset file that failed its size or sha256 check, ending with where it is (`why`:
    each check's cause for a downloaded file; a shipped one has its own)."""
    if preset.local_path:
        return (f"the {preset.name} model shipped with interp is damaged or was replaced; "
                f"{_restore_advice(preset)} (file: {path})")
    command = _download_command(preset.name)
    if not fetched:
        # `interp weights download` downloads a cached copy that fails its check again (force_download): deleting
        # the snapshot's link by hand is no help, huggingface_hub would link the bad blob again unasked.
        return f"{why[kind]}; {command} replaces it (file: {path})"
    blob = path.resolve()
    if _discard_download(path):
        return (f"the download is not the published checkpoint (changed on the way, or the hub's file changed), "
                f"so it was removed from the Hugging Face cache; try again with {command}")
    return f"the download is not the published checkpoint; delete {blob} and {path}, then try again with {command}"


def _discard_download(path: Path) -> bool:
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


def _hashing_line(path: Path, size: int, *, progress: bool, label: str | None = None) -> Callable[[], None]:
    """What `file_sha256` calls as this run starts reading a big file: the "verifying" line, which a run that takes
    the digest from the record, or from another run it waited for (a job array's workers), has no reason to print."""
    def say() -> None:
        if progress and size > _ANNOUNCE_ABOVE_BYTES:
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
    source = f"the sha256 recorded in {_sidecar_path(preset).name}" if preset.local_path else "the published sha256"
    if preset.local_path:
        fix = f"check the shipped file itself with `interp weights verify {preset.name}` and use it rather than a copy"
    else:
        use = (f"set {WEIGHTS_ENV}={shlex.quote(preset.name)}" if from_env
               else f"morph with `{option('weights', preset.name)}`")
        fix = f"copy it again from a good copy, or fetch it with {_download_command(preset.name)} and {use}"
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
