"""The weights that ship inside interp's package (`interp_cli/data/`, the `demo` preset), for `interp_cli.weights`:
where they are in this install, the checksum sidecar beside each, and how to get a missing or damaged one back
(git in a checkout, else a reinstall of the same distribution), said as a command that works here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from interp_cli.errors import CheckpointError, WeightsUnavailableError, option, pip_install
from interp_cli.presets import SHA256_HEX, Preset

SHIPPED_DATA = "data"
"""The folder of the `interp_cli` package that holds the presets shipped with interp (`demo`): it goes
into the wheel and the sdist, so an installed interp finds them wherever it is installed."""


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
            with_another_checkpoint(f", or pass a checkpoint path with {option('weights')}"),
        )
    return folder


def with_another_checkpoint(advice: str) -> dict[str, str]:
    """A shipped preset's unavailable-advice `advice` (naming --weights / weights=) for what takes the weights as an
    option: the commands and a Python caller's Session and render. Not `interp weights path/verify/download`, nor
    `download_weights` (another checkpoint is not the one asked for), nor interp_cli.weights' own functions."""
    return {command: advice for command in ("morph", "encode", "mix", "render", "batch", "session")}


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


def shipped_path(preset: Preset) -> Path:
    # Joining an absolute local_path yields it unchanged, which lets tests point a preset at a temp file.
    return shipped_dir() / preset.local_path


def sidecar_path(preset: Preset) -> Path:
    return shipped_path(preset).with_suffix(".json")


def with_sidecar(preset: Preset) -> Preset:
    """A repo-shipped preset with sha256/size filled in from its JSON sidecar, when it has one.

    Read on every resolve rather than at import, so a model retrained in a long-lived process (or a
    test) is checked against the trainer's latest record.
    """
    if not preset.local_path:
        return preset
    sidecar = sidecar_path(preset)
    if not sidecar.is_file():
        return preset
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        sha256, size = record.get("sha256"), record.get("size")
        if sha256 is not None and not (isinstance(sha256, str) and SHA256_HEX.match(sha256.lower())):
            raise ValueError("sha256 must be 64 hex digits")
        if size is not None and not (type(size) is int and size >= 0):
            raise ValueError("size must be a non-negative integer")
    except (ValueError, AttributeError) as err:
        raise CheckpointError(
            f"{sidecar}: unreadable checksum record ({err}); expected {{\"sha256\": \"<64 hex>\", \"size\": <bytes>}}",
            path=sidecar) from None
    return replace(
        preset,
        sha256=sha256.lower() if sha256 is not None else preset.sha256,
        size=size if size is not None else preset.size,
    )


def locate_shipped(preset: Preset) -> Path:
    path = shipped_path(preset)
    if path.is_file():
        return path
    raise WeightsUnavailableError(
        f"{preset.name} weights missing: {path} does not exist; the file ships inside interp's package: "
        f"{restore_advice(preset)}",
        with_another_checkpoint(f", or pass another checkpoint with {option('weights')}"),
    )


def restore_advice(preset: Preset) -> str:
    """How to get a damaged or missing shipped file back, as a command that works for this install.

    Rebuilding it (`make demo-weights`) is no answer: that takes hours, exists only in a checkout and
    trains a different model than the one recorded. The file came with interp, so it comes back the
    way interp came: from git in a checkout, else by reinstalling the same distribution.
    """
    path = shipped_path(preset)
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
    pip = pip_install("--force-reinstall --no-deps")
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
