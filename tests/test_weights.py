"""Weights resolution: precedence, offline behaviour, checksums and the hash record, all without a network.

Every test runs with huggingface_hub's download functions replaced (an unexpected download fails the
test), a private INTERP_CACHE_DIR, and small temp files standing in for checkpoints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import time
import re
import shlex
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.utils import (
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    are_progress_bars_disabled,
)

from interp_cli import sha256_record, weights
from interp_cli import shipped as shipped_weights
from interp_cli.cache_folders import cache_dir
from interp_cli.progress import human_size
from interp_cli.errors import (
    CheckpointError,
    ChecksumError,
    UsageError,
    WeightsUnavailableError,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONTENT = b"not really a checkpoint, but bytes with a known sha256\n" * 100
CONTENT_SHA256 = hashlib.sha256(CONTENT).hexdigest()


def _http_response(status: int):
    """A response object of whichever HTTP library this huggingface_hub version builds its errors on."""
    for module_name in ("httpx2", "httpx"):
        try:
            http = importlib.import_module(module_name)
        except ImportError:
            continue
        return http.Response(status, request=http.Request("GET", "https://huggingface.co/someone/tiny"))
    import requests

    response = requests.Response()
    response.status_code = status
    return response


def _connect_error() -> Exception:
    """The transport-level error the HTTP client raises when the hub's host cannot be reached."""
    for module_name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(module_name).ConnectError("[Errno -3] Temporary failure in name resolution")
        except ImportError:
            continue
    import requests

    return requests.ConnectionError("Failed to establish a new connection")


def run_cli(*args):
    """`interp ARGS` in this process, so the patched hub and environment apply."""
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    return cli_runner().invoke(cli, [str(a) for a in args])


class FakeHub:
    """Stands in for huggingface_hub's cache lookup and download, recording every call."""

    def __init__(self, root: Path):
        self.root = root
        self.cached: dict[tuple[str, str], Path] = {}
        self.download_calls: list[dict] = []
        self.failure: BaseException | None = None
        self.payload = CONTENT
        self.progress_disabled_during_download: bool | None = None
        self.advertised: str | None = None  # the sha256 the hub's metadata names (default: the payload's)
        self.metadata_calls: list[str] = []

    def snapshot_path(self, repo_id: str, filename: str) -> Path:
        return self.root / repo_id.replace("/", "--") / "snapshots" / "abc123" / filename

    def put(self, repo_id: str, filename: str, payload: bytes = CONTENT) -> Path:
        path = self.snapshot_path(repo_id, filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        self.cached[(repo_id, filename)] = path
        return path

    def try_to_load_from_cache(self, repo_id, filename, cache_dir=None, revision=None, repo_type=None):
        path = self.cached.get((repo_id, filename))
        return str(path) if path is not None else None

    def get_hf_file_metadata(self, url, **kwargs):
        self.metadata_calls.append(url)
        if self.failure is not None:  # an unreachable hub fails this request first
            raise self.failure
        etag = self.advertised or hashlib.sha256(self.payload).hexdigest()
        # Only the fields interp reads (HfFileMetadata's constructor differs between versions).
        return types.SimpleNamespace(commit_hash="abc123", etag=etag, location=url, size=len(self.payload))

    def hf_hub_download(self, repo_id, filename, **kwargs):
        self.download_calls.append({"repo_id": repo_id, "filename": filename, **kwargs})
        self.progress_disabled_during_download = are_progress_bars_disabled()
        if self.failure is not None:
            raise self.failure
        return str(self.put(repo_id, filename, self.payload))


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No real network, no real caches, no inherited INTERP_WEIGHTS / HF_HUB_OFFLINE."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "interp-cache"))
    monkeypatch.delenv("INTERP_WEIGHTS", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    hub = FakeHub(tmp_path / "hf-cache")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", hub.try_to_load_from_cache)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", hub.get_hf_file_metadata)
    return hub


@pytest.fixture
def hub(isolated):
    return isolated


@pytest.fixture
def tiny(monkeypatch):
    """A hub preset whose published checksum matches CONTENT."""
    preset = weights.Preset(
        name="tiny", repo_id="someone/tiny", filename="ckpt/tiny.pt", revision=None,
        sha256=CONTENT_SHA256, size=len(CONTENT), license="test-only", description="tiny test checkpoint",
    )
    monkeypatch.setitem(weights.PRESETS, "tiny", preset)
    return preset


@pytest.fixture
def hash_calls(monkeypatch):
    """Counts real hashing work (not answers from the hash record)."""
    calls = []
    real_hash_file = sha256_record.sha256_of

    def counting_hash_file(path):
        calls.append(Path(path))
        return real_hash_file(path)

    monkeypatch.setattr(sha256_record, "sha256_of", counting_hash_file)
    return calls


@pytest.fixture
def local_ckpt(tmp_path) -> Path:
    path = tmp_path / "models" / "mine.pt"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


# --------------------------------------------------------------------------------------------------
# Local paths and precedence


def test_local_file_is_used_as_is_without_hashing(local_ckpt, hash_calls):
    resolved = weights.resolve_weights(str(local_ckpt))
    assert resolved.path == local_ckpt
    assert resolved.id == str(local_ckpt)
    assert resolved.preset is None
    assert resolved.sha256 is None
    assert hash_calls == []


def test_relative_local_path_resolves_to_absolute(local_ckpt):
    resolved = weights.resolve_weights("models/mine.pt")
    assert resolved.path.is_absolute()
    assert resolved.path == local_ckpt


def test_local_file_reports_sha256_once_it_is_known(local_ckpt):
    weights.file_sha256(local_ckpt)
    assert weights.resolve_weights(str(local_ckpt)).sha256 == CONTENT_SHA256


@pytest.mark.parametrize("spec", ["missing.pt", "models/missing.pt", "./nowhere/ckpt", "gone.ckpt", "x.pth"])
def test_missing_path_is_a_usage_error(spec, local_ckpt, hub):
    with pytest.raises(UsageError, match=f"^weights file not found: {re.escape(spec)}$"):
        weights.resolve_weights(spec)
    assert hub.download_calls == []


def test_directory_is_a_usage_error(local_ckpt):
    with pytest.raises(UsageError, match="directory"):
        weights.resolve_weights(str(local_ckpt.parent))


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_weights_that_are_a_fifo_or_a_device_say_what_they_are_and_never_open_them(tmp_path, kind):
    # Both exist, so "weights file not found" (what was said) was wrong; opening the FIFO would block.
    path = tmp_path / "w.pt"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink(os.devnull.replace("null", "zero"), path)
    root = Path(__file__).resolve().parents[1]
    photos = [str(root / "examples" / name) for name in ("demo_a.png", "demo_b.png")]
    done = subprocess.run([sys.executable, "-m", "interp_cli", *photos, "--weights", "w.pt", "--steps", "2",
                           "-o", "out.gif"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    what = "a FIFO (named pipe)" if kind == "fifo" else "a device"
    assert (done.returncode, done.stderr) == (2, f"interp: error: w.pt: is {what}, not a regular file\n")
    assert not (tmp_path / "out.gif").exists()


def test_unknown_name_lists_presets():
    with pytest.raises(UsageError) as excinfo:
        weights.resolve_weights("ffhq2")
    message = str(excinfo.value)
    assert "ffhq2" in message
    assert "demo" in message and "ffhq" in message
    assert excinfo.value.exit_code == 2


def test_env_var_is_used_when_no_spec(monkeypatch, local_ckpt):
    monkeypatch.setenv("INTERP_WEIGHTS", str(local_ckpt))
    assert weights.resolve_weights().path == local_ckpt
    assert weights.default_weights_spec() == str(local_ckpt)


def test_explicit_spec_beats_env_var(monkeypatch, local_ckpt, tmp_path):
    other = tmp_path / "other.pt"
    other.write_bytes(b"other")
    monkeypatch.setenv("INTERP_WEIGHTS", str(other))
    assert weights.resolve_weights(str(local_ckpt)).path == local_ckpt


def test_default_is_ffhq_and_empty_env_counts_as_unset(monkeypatch, hub):
    monkeypatch.setenv("INTERP_WEIGHTS", "  ")
    assert weights.default_weights_spec() == "ffhq"
    with pytest.raises(WeightsUnavailableError, match="^ffhq weights unavailable"):
        weights.resolve_weights(download=False)


def test_env_var_can_name_a_preset(monkeypatch, hub, tiny):
    hub.put("someone/tiny", "ckpt/tiny.pt")
    monkeypatch.setenv("INTERP_WEIGHTS", "tiny")
    resolved = weights.resolve_weights()
    assert resolved.id == "tiny"
    assert resolved.preset == tiny


@pytest.mark.parametrize("value, said", [
    ("/nowhere/e4e_ffhq_encode.pt", "weights file not found: /nowhere/e4e_ffhq_encode.pt (from $INTERP_WEIGHTS)"),
    ("demo-typo", "unknown weights 'demo-typo' (from $INTERP_WEIGHTS): not a file and not a preset"),
    (".", "weights path is a directory, not a checkpoint file: . (from $INTERP_WEIGHTS)"),
])
def test_bad_interp_weights_is_named_as_the_source(monkeypatch, value, said):
    """A bad $INTERP_WEIGHTS (the offline advice says to set it; a shell profile keeps it for months) is not on
    the command line that fails: the line says where the value came from. Before, it said only "unknown
    weights 'demo-typo' ...; pass a preset name", to someone who had passed nothing."""
    monkeypatch.setenv("INTERP_WEIGHTS", value)
    for args in (("weights", "path"), ("encode", "a.png", "-o", "a.npy")):
        Path("a.png").write_bytes((Path(__file__).resolve().parents[1] / "examples" / "demo_a.png").read_bytes())
        result = run_cli(*args)
        assert result.exit_code == 2, result.stderr
        line, = result.stderr.splitlines()
        assert line.startswith(f"interp: error: {said}"), line
        assert "; pass a preset" not in line
    # Given on the command line, the value is the user's own typing: no source to name.
    result = run_cli("weights", "path", value)
    assert "$INTERP_WEIGHTS" not in result.stderr and result.exit_code == 2


@pytest.mark.parametrize("spec", ["missing.pt", "models/missing.pt", "ffhq2", "DIR", "FIFO", "hf://bad", None])
def test_check_weights_name_says_what_loading_would_without_loading(spec, monkeypatch, tmp_path, hub, hash_calls):
    """`interp batch` checks the name up front, also in a shard with nothing to make: the same UsageError as
    `resolve_weights`, from a stat (a FIFO is never opened), with no download or hashing."""
    monkeypatch.chdir(tmp_path)
    os.mkfifo("fifo.pt")
    spec = {"DIR": str(tmp_path), "FIFO": "fifo.pt"}.get(spec, spec)
    if spec is None:
        monkeypatch.setenv("INTERP_WEIGHTS", "demo-typo")
    with pytest.raises(UsageError) as loading:
        weights.resolve_weights(spec)
    with pytest.raises(UsageError) as checking:
        weights.check_weights_name(spec)
    assert str(checking.value) == str(loading.value)
    assert hub.download_calls == [] and hash_calls == []


def test_check_weights_name_passes_what_can_only_be_found_by_loading(tmp_path, hub, tiny, hash_calls):
    """A preset (downloaded or not), a hub file and a file here (checkpoint or not) name something: whether
    it can be fetched and loaded is for the first row that needs it."""
    (tmp_path / "junk.pt").write_bytes(b"no checkpoint")
    for spec in ("tiny", "ffhq", "someone/models/e4e.pt", "hf://someone/models/e4e.pt", str(tmp_path / "junk.pt"),
                 tmp_path / "junk.pt"):
        weights.check_weights_name(spec)
    assert hub.download_calls == [] and hash_calls == []


def test_preset_name_wins_over_a_same_named_file_in_cwd(hub, tiny, tmp_path):
    (tmp_path / "tiny").write_bytes(b"an unrelated file")
    hub.put("someone/tiny", "ckpt/tiny.pt")
    assert weights.resolve_weights("tiny").path == hub.snapshot_path("someone/tiny", "ckpt/tiny.pt")
    assert weights.resolve_weights("./tiny").path == tmp_path / "tiny"


# --------------------------------------------------------------------------------------------------
# Hub presets: cache, download, offline


def test_cached_preset_is_used_without_download(hub, tiny):
    cached = hub.put("someone/tiny", "ckpt/tiny.pt")
    resolved = weights.resolve_weights("tiny")
    assert resolved.path == cached
    assert resolved.sha256 == CONTENT_SHA256
    assert hub.download_calls == []


def test_missing_preset_is_downloaded_with_its_revision(hub, monkeypatch, tiny):
    monkeypatch.setitem(weights.PRESETS, "tiny", dataclasses.replace(tiny, revision="v1.0"))
    resolved = weights.resolve_weights("tiny")
    assert resolved.path == hub.snapshot_path("someone/tiny", "ckpt/tiny.pt")
    [call] = hub.download_calls
    assert (call["repo_id"], call["filename"], call["revision"]) == ("someone/tiny", "ckpt/tiny.pt", "v1.0")
    assert call["force_download"] is False


def test_progress_false_silences_the_download_bar_and_restores_it(hub, tiny):
    assert not are_progress_bars_disabled()
    weights.resolve_weights("tiny", progress=False)
    assert hub.progress_disabled_during_download is True
    assert not are_progress_bars_disabled()


def test_the_download_bar_is_drawn_on_a_terminal_or_in_a_notebook_only(hub, tiny, monkeypatch):
    """Into a pipe or a log huggingface_hub 0.20 drew its bar as carriage-return redraws (0.21+ draw none there);
    a Jupyter kernel's stderr is no terminal either, but there tqdm draws a widget."""
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    weights.resolve_weights("tiny", progress=True)  # pytest's captured stderr: no terminal
    assert hub.progress_disabled_during_download is True
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    hub.cached.clear()  # downloaded again
    weights.resolve_weights("tiny", progress=True)
    assert hub.progress_disabled_during_download is False
    assert not are_progress_bars_disabled()


def test_a_big_download_speaks_in_a_log_but_not_where_its_bar_is_drawn(hub, monkeypatch, capsys):
    """Off a terminal a download over 64 MiB says that it starts (and how far it is); in a notebook, where
    huggingface_hub draws its widget, those lines would repeat it."""
    hub.payload = bytes(70_000_000)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    weights.resolve_weights("someone/tiny/ckpt/big.pt", progress=True)  # pytest's captured stderr: no terminal
    assert capsys.readouterr().err.startswith("interp: downloading weights someone/tiny/ckpt/big.pt (70.0 MB) from ")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    hub.cached.clear()  # downloaded again
    weights.resolve_weights("someone/tiny/ckpt/big.pt", progress=True)
    assert capsys.readouterr().err == ""


def test_download_false_never_downloads(hub, tiny):
    with pytest.raises(WeightsUnavailableError, match="not been downloaded"):
        weights.resolve_weights("tiny", download=False)
    assert hub.download_calls == []


def _assert_actionable_one_liner(message: str) -> None:
    assert "\n" not in message
    assert "someone/tiny" in message and "ckpt/tiny.pt" in message
    assert f"({human_size(len(CONTENT))})" in message
    assert re.search(r'`interp_cli\.download_weights\(weights="tiny"(, offline=False)?\)`', message)
    # The file's URL: any browser or curl fetches it, whatever huggingface_hub (if any) the other machine has.
    assert "https://huggingface.co/someone/tiny/resolve/main/ckpt/tiny.pt" in message
    # Said to a Python caller of interp_cli.weights' own functions, which take the weights as their first argument
    # (a Session's `weights=`: tests/test_pipeline.py; the command's `--weights /path/...`: tests/test_advice.py).
    assert message.endswith('or put a copy on this machine and pass its path ("/path/to/tiny.pt") in place of "tiny"')


def test_offline_env_fails_with_one_actionable_line(hub, monkeypatch, tiny):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as excinfo:
        weights.resolve_weights("tiny")
    message = str(excinfo.value)
    _assert_actionable_one_liner(message)
    assert "offline" in message
    assert hub.download_calls == []


def test_a_weights_command_s_copy_advice_says_what_the_variable_changes(hub, monkeypatch, tmp_path, tiny):
    """`interp weights path tiny` offline advised "put a copy on this machine and set INTERP_WEIGHTS=/path/to/tiny.pt":
    followed, the same command failed again, since a name given always means the cache's file; the variable stands in
    for a name left out. The line says so, and each part of it is followed here."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    told = run_cli("weights", "path", "tiny")
    assert told.exit_code == 1
    copy = tmp_path / "copy" / "tiny.pt"
    copy.parent.mkdir()
    copy.write_bytes(CONTENT)
    line = told.stderr.replace("/path/to/tiny.pt", str(copy))
    assert (f"or put a copy on this machine (`interp weights verify {copy}` checks it) and set INTERP_WEIGHTS={copy} "
            "for the morphs and `interp weights` commands that name no weights: the name tiny itself keeps meaning "
            "the Hugging Face cache's file\n") in line
    checked = run_cli(*shlex.split(re.search(r"`interp (weights verify [^`]*)`", line).group(1)))
    assert checked.exit_code == 0 and "OK: the tiny checkpoint" in checked.stdout
    monkeypatch.setenv("INTERP_WEIGHTS", str(copy))
    assert run_cli("weights", "path").stdout == f"{copy}\n"
    assert weights.resolve_weights(download=False).path == copy  # what a morph without --weights loads
    assert run_cli("weights", "path", "tiny").exit_code == 1  # the name itself: the cache's file, not there


def test_offline_env_still_uses_the_hf_cache(hub, monkeypatch, tiny):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = hub.put("someone/tiny", "ckpt/tiny.pt")
    assert weights.resolve_weights("tiny").path == cached


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (lambda: LocalEntryNotFoundError("Cannot find the requested files in the disk cache"), "could not be reached"),
        (lambda: OfflineModeIsEnabled("offline mode is enabled"), "offline"),
        (_connect_error, "could not be reached"),
        (lambda: TimeoutError("timed out"), "could not be reached"),
        (lambda: RepositoryNotFoundError("404 Client Error", response=_http_response(404)), "HTTP 401/404"),
        (lambda: RepositoryNotFoundError("401 Client Error", response=_http_response(401)), "HTTP 401/404"),
        (lambda: GatedRepoError("403 gated", response=_http_response(403)), "gated"),
    ],
    ids=["local-entry-not-found", "offline-mode", "connect-error", "timeout", "http-404", "http-401", "gated"],
)
def test_hub_failures_become_weights_unavailable(hub, tiny, failure, reason):
    hub.failure = failure()
    with pytest.raises(WeightsUnavailableError) as excinfo:
        weights.resolve_weights("tiny")
    _assert_actionable_one_liner(str(excinfo.value))
    assert reason in str(excinfo.value)
    assert excinfo.value.exit_code == 1


def test_unreachable_hub_names_the_underlying_transport_error(hub, tiny):
    wrapped = LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")
    wrapped.__cause__ = transport = _connect_error()
    hub.failure = wrapped
    # httpx's ConnectError (huggingface_hub >= 1.0) or requests' ConnectionError (older releases).
    with pytest.raises(WeightsUnavailableError, match=rf"could not be reached \({type(transport).__name__}: "):
        weights.resolve_weights("tiny")


def test_bugs_inside_the_download_are_not_disguised_as_network_errors(hub, tiny):
    hub.failure = TypeError("unexpected keyword argument")
    with pytest.raises(TypeError):
        weights.resolve_weights("tiny")


def test_unreachable_ffhq_message_names_the_real_file(hub):
    hub.failure = LocalEntryNotFoundError("no connection")
    with pytest.raises(WeightsUnavailableError) as excinfo:
        weights.resolve_weights("ffhq")
    message = str(excinfo.value)
    assert "\n" not in message
    assert "AIRI-Institute/HairFastGAN" in message
    assert "pretrained_models/encoder4editing/e4e_ffhq_encode.pt (1.2 GB)" in message
    assert '`interp_cli.download_weights(weights="ffhq")`' in message
    assert '("/path/to/e4e_ffhq_encode.pt") in place of "ffhq"' in message


# --------------------------------------------------------------------------------------------------
# Checksums and the hash record


def test_checksum_mismatch_is_refused(hub, tiny):
    corrupt = b"X" + CONTENT[1:]  # same size, so only the sha256 can tell
    path = hub.put("someone/tiny", "ckpt/tiny.pt", corrupt)
    with pytest.raises(ChecksumError) as excinfo:
        weights.resolve_weights("tiny")
    got = hashlib.sha256(corrupt).hexdigest()
    assert str(excinfo.value) == (
        f"tiny.pt: sha256 mismatch (expected {CONTENT_SHA256}, got {got}): the file is corrupt or not the "
        f'published checkpoint; `interp_cli.download_weights(weights="tiny")` replaces it (file: {path})'
    )


def test_remembered_mismatch_is_still_refused(hub, tiny, hash_calls):
    hub.put("someone/tiny", "ckpt/tiny.pt", b"X" + CONTENT[1:])
    for _ in range(2):
        with pytest.raises(ChecksumError):
            weights.resolve_weights("tiny")
    assert len(hash_calls) == 1


def test_verify_false_skips_the_checks(hub, tiny, hash_calls):
    hub.put("someone/tiny", "ckpt/tiny.pt", b"short")
    assert weights.resolve_weights("tiny", verify=False).sha256 is None
    assert weights.weights_path("tiny") == hub.snapshot_path("someone/tiny", "ckpt/tiny.pt")
    assert hash_calls == []


def test_size_mismatch_is_reported_before_hashing(hub, tiny, hash_calls):
    hub.put("someone/tiny", "ckpt/tiny.pt", CONTENT[:-10])
    expected = rf"size mismatch \(expected {len(CONTENT):,} bytes, got {len(CONTENT) - 10:,}\)"
    with pytest.raises(ChecksumError, match=expected):
        weights.resolve_weights("tiny")
    assert hash_calls == []


def test_hash_record_avoids_rehashing_until_the_file_changes(hub, tiny, hash_calls):
    path = hub.put("someone/tiny", "ckpt/tiny.pt")
    weights.resolve_weights("tiny")
    weights.resolve_weights("tiny")
    assert len(hash_calls) == 1

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    weights.resolve_weights("tiny")
    assert len(hash_calls) == 2


def test_hash_record_lives_in_interp_cache_dir(tmp_path, local_ckpt):
    weights.file_sha256(local_ckpt)
    record = json.loads((tmp_path / "interp-cache" / "sha256-records.json").read_text())
    entry = record["files"][str(local_ckpt.resolve())]
    assert abs(entry.pop("used") - time.time()) < 60  # when last used: the record keeps the most recent entries
    stat = local_ckpt.stat()
    assert entry == {"size": len(CONTENT), "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
                     "ino": stat.st_ino, "sha256": CONTENT_SHA256}


def test_same_size_rewrite_is_rehashed(local_ckpt, hash_calls):
    """The record is kept for one file version (size, mtime_ns, ctime_ns, inode): a same-size rewrite changes
    mtime_ns, so it is re-hashed."""
    assert weights.file_sha256(local_ckpt) == CONTENT_SHA256
    new_content = b"Y" + CONTENT[1:]
    local_ckpt.write_bytes(new_content)
    stat = local_ckpt.stat()
    os.utime(local_ckpt, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert weights.file_sha256(local_ckpt) == hashlib.sha256(new_content).hexdigest()
    assert len(hash_calls) == 2


@pytest.mark.parametrize("how", ["in place", "renamed into place"])
def test_a_swapped_file_with_the_old_size_and_mtime_is_hashed_again(hub, tiny, hash_calls, how):
    """`cp -p` (the same file rewritten) or `rsync -t` (a new file renamed over it) puts other bytes in place with
    the old size and mtime: the record keyed by those two reused the verified digest, and the swapped file
    loaded as the tiny preset. Now it is hashed again, and refused."""
    path = hub.put("someone/tiny", "ckpt/tiny.pt")
    assert weights.resolve_weights("tiny").sha256 == CONTENT_SHA256
    old = path.stat()
    time.sleep(0.05)  # past the kernel's coarse clock tick, as any real swap is
    other = b"Y" + CONTENT[1:]
    if how == "in place":
        path.write_bytes(other)
    else:
        swap = path.with_name("swap.tmp")
        swap.write_bytes(other)
        os.replace(swap, path)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    with pytest.raises(ChecksumError):
        weights.resolve_weights("tiny")
    assert len(hash_calls) == 2


def test_file_changed_while_hashing_is_not_remembered(monkeypatch, tmp_path, local_ckpt):
    real_hash_file = sha256_record.sha256_of

    def hash_while_someone_rewrites(path):
        digest = real_hash_file(path)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        return digest

    monkeypatch.setattr(sha256_record, "sha256_of", hash_while_someone_rewrites)
    weights.file_sha256(local_ckpt)
    assert not (tmp_path / "interp-cache" / "sha256-records.json").exists()


def test_verify_always_hashes_afresh(hub, tiny, hash_calls):
    hub.put("someone/tiny", "ckpt/tiny.pt")
    weights.resolve_weights("tiny")
    assert weights.verify("tiny").sha256 == CONTENT_SHA256
    assert len(hash_calls) == 2


def test_verify_hashes_and_loads_a_plain_local_file(tiny_ckpt, hash_calls):
    checked = weights.verify(str(tiny_ckpt))
    assert checked.sha256 == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    assert len(hash_calls) == 1
    # Asked again, it hashes again: verify is what a user runs when doubting the file, so a record of an earlier
    # hash (which a rewrite keeping the size and time would not invalidate) is never its answer.
    assert weights.verify(str(tiny_ckpt)).sha256 == checked.sha256
    assert len(hash_calls) == 2


def test_damaged_or_unwritable_record_only_costs_a_rehash(monkeypatch, tmp_path, local_ckpt, hash_calls):
    cache = tmp_path / "interp-cache"
    cache.mkdir()
    (cache / "sha256-records.json").write_text("{not json")
    assert weights.file_sha256(local_ckpt) == CONTENT_SHA256

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("INTERP_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    assert weights.file_sha256(local_ckpt) == CONTENT_SHA256
    assert len(hash_calls) == 2


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.setenv("INTERP_CACHE_DIR", "~/cache-here")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / "cache-here"
    monkeypatch.delenv("INTERP_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "interp"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "interp"


# --------------------------------------------------------------------------------------------------
# download()


def test_download_fetches_a_missing_preset_once(hub, tiny):
    resolved = weights.download("tiny")
    assert resolved.sha256 == CONTENT_SHA256
    assert [call["force_download"] for call in hub.download_calls] == [False]


def test_download_replaces_a_corrupt_cached_copy(hub, tiny):
    hub.put("someone/tiny", "ckpt/tiny.pt", b"X" + CONTENT[1:])
    resolved = weights.download("tiny")
    assert resolved.sha256 == CONTENT_SHA256
    assert resolved.path.read_bytes() == CONTENT
    assert [call["force_download"] for call in hub.download_calls] == [True]


def test_a_python_callers_corrupt_cached_copy_is_replaced_by_the_call_its_message_gives(hub, tiny):
    """A Session's ChecksumError for a damaged cached preset said `interp weights download tiny` replaces it: a
    shell command, told to a Python caller. Now it names `interp_cli.download_weights(...)`, which, run as
    written, downloads the file again (the damaged copy is not taken as done), and the Session loads."""
    import interp_cli

    hub.put("someone/tiny", "ckpt/tiny.pt", b"X" + CONTENT[1:])
    with pytest.raises(ChecksumError) as excinfo:
        weights.resolve_weights("tiny")
    advice = re.search(r"; `([^`]*)` replaces it", str(excinfo.value)).group(1)
    assert advice == 'interp_cli.download_weights(weights="tiny")'
    fetched = eval(advice, {"interp_cli": interp_cli})
    assert fetched == {"id": "tiny", "path": str(hub.snapshot_path("someone/tiny", "ckpt/tiny.pt")),
                       "sha256": CONTENT_SHA256}
    assert [call["force_download"] for call in hub.download_calls] == [True]
    assert weights.resolve_weights("tiny").path.read_bytes() == CONTENT


@pytest.mark.parametrize("call, said", [
    (dict(weights=3), "weights=3: give a preset name, a checkpoint path or a hub file"),
    (dict(weights="tiny", offline="no"), 'offline="no": give True or False, or None to follow HF_HUB_OFFLINE'),
    (dict(weights="tiny", progress=None), "progress=None: give True or False"),
])
def test_download_weights_refuses_a_wrong_keyword_by_its_name(hub, tiny, call, said):
    from interp_cli import UsageError, download_weights

    with pytest.raises(UsageError) as excinfo:
        download_weights(**call)
    assert str(excinfo.value) == said and hub.download_calls == []


def test_download_weights_with_offline_true_only_takes_the_cache(hub, tiny):
    from interp_cli import download_weights

    with pytest.raises(WeightsUnavailableError, match=r"^tiny weights unavailable: offline=True was passed and it is "
                                                      r"not in the Hugging Face cache\. .*Fetch it with "
                                                      r'`interp_cli\.download_weights\(weights="tiny"\)`'):
        download_weights("tiny", offline=True)
    assert hub.download_calls == []
    hub.put("someone/tiny", "ckpt/tiny.pt")
    assert download_weights("tiny", offline=True)["sha256"] == CONTENT_SHA256


def test_download_reports_a_freshly_downloaded_bad_file(hub, tiny):
    hub.advertised = CONTENT_SHA256  # the hub names the right file, but other bytes arrive (damaged in transit)
    hub.payload = b"X" + CONTENT[1:]
    with pytest.raises(ChecksumError):
        weights.download("tiny")
    assert len(hub.download_calls) == 1


def test_download_of_a_cached_good_file_does_nothing(hub, tiny):
    hub.put("someone/tiny", "ckpt/tiny.pt")
    weights.download("tiny")
    assert hub.download_calls == []


# --------------------------------------------------------------------------------------------------
# Hub ids


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("owner/repo/file.pt", weights.HubFile("owner/repo", "file.pt")),
        ("owner/repo/deep/dir/file.pt@v2", weights.HubFile("owner/repo", "deep/dir/file.pt", "v2")),
        ("owner/repo/file.pt@refs/pr/3", weights.HubFile("owner/repo", "file.pt", "refs/pr/3")),
        ("hf://Org-1/re.po_2/f.pth@0123abc", weights.HubFile("Org-1/re.po_2", "f.pth", "0123abc")),
        ("owner/repo", None),
        ("./owner/repo/file.pt", None),
        ("/abs/path/file.pt", None),
        ("~/models/x/file.pt", None),
        ("owner/repo/../file.pt", None),
        ("owner/-repo/file.pt", None),
        ("owner/repo/file.pt@", None),
    ],
)
def test_parse_hub_spec(spec, expected):
    assert weights.parse_hub_spec(spec) == expected


def test_existing_local_directory_is_never_taken_for_a_hub_owner(tmp_path):
    (tmp_path / "models" / "e4e").mkdir(parents=True)
    assert weights.parse_hub_spec("models/e4e/missing.pt") is None
    assert weights.parse_hub_spec("hf://models/e4e/missing.pt") == weights.HubFile("models/e4e", "missing.pt")


def test_malformed_explicit_hub_spec_is_a_usage_error():
    with pytest.raises(UsageError, match="bad hub weights"):
        weights.resolve_weights("hf://owner/repo")



@pytest.mark.parametrize(("spec", "why"), [
    ("hf://owner/repo/file.pt@", "empty revision after '@'"),
    ("hf://owner/repo", "expected owner/repo/path/in/repo[@revision]"),
    ("hf://owner/re po/file.pt", "'owner/re po' is not a valid hub repo id"),
    ("hf://-owner/repo/file.pt", "'-owner/repo' is not a valid hub repo id"),
])
def test_a_malformed_explicit_hub_spec_says_what_is_wrong_with_it(spec, why):
    """`hf://` says the weights are on the hub, so a malformed one is refused as such, saying which part is wrong,
    not looked for as a local file named `hf://...`; an owner and a repo are each checked."""
    with pytest.raises(UsageError) as refused:
        weights.resolve_weights(spec)
    assert str(refused.value) == f"bad hub weights '{spec}': {why}"

@pytest.mark.parametrize("revision", ["../../keep.pt", "a..b", ".hidden", "x.lock", "x/", "a//b", "a b", "x~1",
                                      "v1:2", "x."])
def test_a_revision_git_refuses_is_a_usage_error_before_any_advice(tmp_path, revision):
    """`interp weights download owner/repo/x.pt@../../keep.pt` took `../../keep.pt` for a revision (which
    huggingface_hub reads as a path under its cache's refs/) and, offline, printed the long advice with a URL of
    `..%2F..%2Fkeep.pt` (exit 1). A name git refuses for a branch or tag is refused: one line, exit 2."""
    import os
    import subprocess
    import sys

    spec = f"owner/repo/x.pt@{revision}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), INTERP_CACHE_DIR=str(tmp_path / "c"))
    done = subprocess.run([sys.executable, "-m", "interp_cli", "weights", "download", spec], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == (f"interp: error: bad hub weights '{spec}': revision '{revision}' is no branch, tag or "
                           "commit name (git refuses it); give one, e.g. @main\n")
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize("revision", ["main", "v1.0", "refs/pr/1", "refs/convert/parquet", "a" * 40, "feature/x-1_2"])
def test_a_branch_tag_pr_or_commit_revision_is_taken(revision):
    assert weights.parse_hub_spec(f"owner/repo/x.pt@{revision}") == weights.HubFile("owner/repo", "x.pt", revision)


@pytest.mark.parametrize("repo_id", ["owner/re..po", "ow--ner/repo", "owner/repo.git"])
def test_a_repo_id_the_hub_refuses_is_named_not_an_internal_error(repo_id):
    """huggingface_hub refuses `--`, `..` and a `.git` ending in a repo id (HFValidationError): `hf://owner/re..po/x.pt`
    ended as "interp: internal error: HFValidationError", exit 1. Refused as the other malformed ids are."""
    spec = f"hf://{repo_id}/x.pt"
    with pytest.raises(UsageError) as refused:
        weights.resolve_weights(spec)
    assert str(refused.value) == f"bad hub weights '{spec}': '{repo_id}' is not a valid hub repo id"


def test_hub_id_is_downloaded_at_its_revision(hub):
    resolved = weights.resolve_weights("owner/repo/sub/model.pt@v3")
    assert resolved.id == "owner/repo/sub/model.pt@v3"
    assert resolved.preset is None
    [call] = hub.download_calls
    assert (call["repo_id"], call["filename"], call["revision"]) == ("owner/repo", "sub/model.pt", "v3")


def test_unreachable_hub_id_also_mentions_the_local_reading(hub):
    hub.failure = RepositoryNotFoundError("404", response=_http_response(404))
    with pytest.raises(WeightsUnavailableError) as excinfo:
        weights.resolve_weights("owner/repo/model.pt@v3")
    message = str(excinfo.value)
    assert "https://huggingface.co/owner/repo/resolve/v3/model.pt" in message
    assert '`interp_cli.download_weights(weights="owner/repo/model.pt@v3")`' in message
    assert "if you meant a local file, no such file: owner/repo/model.pt@v3" in message


# --------------------------------------------------------------------------------------------------
# Presets shipped in the repo (demo)


@pytest.fixture
def shipped(monkeypatch, tmp_path):
    """A shipped preset pointing at a temp dir, like `demo` points at interp_cli/data/."""
    preset = weights.Preset(
        name="mini", repo_id=None, filename="mini.pt", revision=None, sha256=None, size=None,
        license="test-only", description="mini test model", local_path=str(tmp_path / "w" / "mini.pt"),
    )
    monkeypatch.setitem(weights.PRESETS, "mini", preset)
    (tmp_path / "w").mkdir()
    return tmp_path / "w"


def test_missing_shipped_file_says_to_restore_it_not_to_build_or_download_it(shipped, hub):
    with pytest.raises(WeightsUnavailableError) as excinfo:
        weights.resolve_weights("mini")
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(shipped / "mini.pt") in message and "does not exist" in message
    assert "reinstall interp" in message  # a temp dir is neither a git checkout nor a pip install
    assert "make" not in message and "download" not in message
    assert hub.download_calls == []
    # resolve_weights and weights_path take the weights as their first argument: no `weights=` advised to them
    # (it was: "or pass another checkpoint with weights"); a Session, which takes that keyword, is told it.
    assert message == str(_refused(lambda: weights.weights_path("mini"))) and not message.endswith("weights")
    from interp_cli.pipeline import Session

    assert str(_refused(lambda: Session("mini", "cpu"))) == f"{message}, or pass another checkpoint with weights"


def test_list_says_a_missing_shipped_file_ships_with_interp_and_the_verify_it_names_says_how_to_restore_it(shipped,
                                                                                                        hub):
    """`interp weights list` names where each preset is; a shipped one that is gone (a packager dropped the data
    files) is no download to wait for: it says so, and the command it names says how to get it back."""
    shown = run_cli("weights", "list")
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    where = {line.split(":")[0].split(" (")[0]: lines[i + 2].strip()  # a preset's third line: where it is
             for i, line in enumerate(lines) if not line.startswith(" ") and ":" in line}
    assert where["mini"] == "missing (it ships with interp: `interp weights verify mini` says how to restore it)"
    assert where["ffhq"] == "not downloaded"
    verified = run_cli("weights", "verify", "mini")
    assert verified.exit_code != 0
    assert "reinstall interp" in verified.stderr and str(shipped / "mini.pt") in verified.stderr


def _refused(call) -> Exception:
    with pytest.raises(WeightsUnavailableError) as excinfo:
        call()
    return excinfo.value


def test_shipped_file_without_sidecar_loads_unchecked(shipped, hash_calls):
    (shipped / "mini.pt").write_bytes(CONTENT)
    resolved = weights.resolve_weights("mini")
    assert resolved.path == shipped / "mini.pt"
    assert resolved.sha256 is None
    assert hash_calls == []


def test_sidecar_supplies_checksum(shipped):
    (shipped / "mini.pt").write_bytes(CONTENT)
    (shipped / "mini.json").write_text(json.dumps({"sha256": CONTENT_SHA256.upper(), "size": len(CONTENT)}))
    assert weights.resolve_weights("mini").sha256 == CONTENT_SHA256

    (shipped / "mini.json").write_text(json.dumps({"sha256": "0" * 64, "size": len(CONTENT)}))
    with pytest.raises(ChecksumError, match=r"as recorded in mini\.json, got .*: the mini model shipped with "
                                            r"interp is damaged or was replaced; reinstall interp"):
        weights.resolve_weights("mini")


def test_an_intact_shipped_model_asks_git_and_pip_nothing(monkeypatch):
    # The restore advice runs `git ls-files` in a checkout (else reads the installed distribution's file list):
    # every morph with the demo model worked it out, then threw it away with the file intact.
    asked = []
    for module in (shipped_weights, weights):  # where the file is found, and where its checksum is compared
        monkeypatch.setattr(module, "restore_advice", lambda preset: asked.append(preset.name) or "restore it")
    resolved = weights.resolve_weights("demo")
    assert resolved.path.name == "demo.pt" and resolved.sha256 is not None
    assert asked == []


@pytest.mark.parametrize("sidecar", ['{"sha256": "abc"}', '{"size": -1}', '{"size": "12"}', "[]", "{oops"])
def test_malformed_sidecar_is_a_clear_error(shipped, sidecar):
    (shipped / "mini.pt").write_bytes(CONTENT)
    (shipped / "mini.json").write_text(sidecar)
    with pytest.raises(CheckpointError, match="mini.json: unreadable checksum record"):
        weights.resolve_weights("mini")


def test_download_of_a_shipped_preset_never_touches_the_hub(shipped, hub):
    with pytest.raises(WeightsUnavailableError, match="reinstall interp"):
        weights.download("mini")
    assert hub.download_calls == []


def test_demo_preset_ships_inside_the_package():
    demo = weights.PRESETS["demo"]
    assert demo.repo_id is None
    package = Path(weights.__file__).resolve().parent
    assert weights.weights_path("demo") == package / "data" / "demo.pt"


# --------------------------------------------------------------------------------------------------
# list_presets and import cost


def test_list_presets_describes_each_preset(hub, shipped):
    rows = {row["name"]: row for row in weights.list_presets()}
    ffhq = rows["ffhq"]
    assert ffhq["repo_id"] == "AIRI-Institute/HairFastGAN"
    assert ffhq["filename"] == "pretrained_models/encoder4editing/e4e_ffhq_encode.pt"
    assert ffhq["sha256"] == "2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999"
    assert ffhq["size"] == 1_201_649_680
    assert "non-commercial" in ffhq["license"]
    assert ffhq["description"]
    assert ffhq["default"] is True
    assert (ffhq["present"], ffhq["path"]) == (False, None)
    assert rows["demo"]["source"] == "package" and rows["ffhq"]["source"] == "hub"

    (shipped / "mini.pt").write_bytes(CONTENT)
    (shipped / "mini.json").write_text(json.dumps({"sha256": CONTENT_SHA256, "size": len(CONTENT)}))
    mini = {row["name"]: row for row in weights.list_presets()}["mini"]
    assert (mini["present"], mini["path"]) == (True, str(shipped / "mini.pt"))
    assert (mini["sha256"], mini["size"]) == (CONTENT_SHA256, len(CONTENT))


def test_list_presets_sees_the_hf_cache_and_the_env_default(hub, monkeypatch):
    cached = hub.put("AIRI-Institute/HairFastGAN", "pretrained_models/encoder4editing/e4e_ffhq_encode.pt", b"x")
    monkeypatch.setenv("INTERP_WEIGHTS", "demo")
    rows = {row["name"]: row for row in weights.list_presets()}
    assert (rows["ffhq"]["present"], rows["ffhq"]["path"]) == (True, str(cached))
    assert rows["ffhq"]["default"] is False and rows["demo"]["default"] is True
    assert hub.download_calls == []


def test_import_does_not_load_huggingface_hub():
    code = "import sys, interp_cli.weights; sys.exit('huggingface_hub' in sys.modules or 'torch' in sys.modules)"
    root = Path(weights.__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------------
# What the hub advertises, checked before a download


def test_advertised_sha256_mismatch_is_refused_before_downloading(hub, tiny):
    hub.advertised = "ab" * 32
    with pytest.raises(ChecksumError) as err:
        weights.resolve_weights("tiny")
    assert "ab" * 32 in str(err.value) and CONTENT_SHA256 in str(err.value)
    assert hub.download_calls == [] and len(hub.metadata_calls) == 1


def test_unreachable_hub_fails_on_the_metadata_request_without_downloading(hub, tiny):
    hub.failure = _connect_error()
    with pytest.raises(WeightsUnavailableError, match="could not be reached"):
        weights.resolve_weights("tiny")
    assert hub.download_calls == []


# --------------------------------------------------------------------------------------------------
# `interp weights verify`: a file is checked against the presets, or loaded, never just hashed


def test_verify_of_a_file_that_is_no_checkpoint_fails_with_the_loaders_reason(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("junk\n")
    with pytest.raises(CheckpointError) as excinfo:
        weights.verify(str(junk))
    assert str(excinfo.value).startswith(f"{junk}: not a readable PyTorch checkpoint")  # named as given
    result = run_cli("weights", "verify", junk)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"interp: error: {junk}: not a readable PyTorch checkpoint")
    assert len(result.stderr.splitlines()) == 1 and "OK" not in result.stderr


def test_verify_describes_a_checkpoint_that_is_no_preset(tiny_ckpt):
    checked = weights.verify(str(tiny_ckpt))
    assert checked.preset is None
    assert checked.contents == "an e4e checkpoint (encoder + StyleGAN2 generator), 16 px, W+ codes [6, 32]"
    result = run_cli("weights", "verify", tiny_ckpt)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{tiny_ckpt}: loads as an e4e checkpoint")
    assert "no published sha256 to compare it with" in result.stdout and checked.sha256 in result.stdout


def test_verify_names_the_preset_whose_file_a_copy_is(hub, tiny, tmp_path):
    copy = tmp_path / "anything.bin"
    copy.write_bytes(CONTENT)  # the tiny preset's published bytes, loadable or not
    assert weights.verify(str(copy)).preset == tiny
    result = run_cli("weights", "verify", copy)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"{copy}: OK: the tiny checkpoint (sha256 {CONTENT_SHA256}, as published)"


@pytest.mark.parametrize(("name", "payload", "looks"), [
    ("tiny.pt", b"something else", "named tiny.pt like it, but 14 bytes"),
    ("tiny.pt", b"X" + CONTENT[1:], "named tiny.pt like it)"),
    ("renamed.pt", b"X" + CONTENT[1:], f"exactly its size, {len(CONTENT):,} bytes"),
], ids=["name", "name-and-size", "size"])
def test_verify_refuses_a_damaged_copy_named_or_sized_like_a_preset(hub, tiny, tmp_path, name, payload, looks):
    copy = tmp_path / name
    copy.write_bytes(payload)
    with pytest.raises(ChecksumError) as excinfo:
        weights.verify(str(copy))
    message = str(excinfo.value)
    assert message.startswith(f"{copy}: not the tiny checkpoint it looks like ({looks}")
    assert CONTENT_SHA256 in message and hashlib.sha256(payload).hexdigest() in message
    assert '`interp_cli.download_weights(weights="tiny")`' in message


@pytest.mark.parametrize("payload", [b"\x00\x17random bytes" * 3, None], ids=["random-bytes", "truncated-demo"])
def test_verify_fails_random_bytes_named_like_ffhq_and_a_truncated_demo_copy(tmp_path, payload):
    """The auditor's cases: each used to print `OK (sha256 ...)` and exit 0."""
    if payload is None:
        path = tmp_path / "demo.pt"
        path.write_bytes(weights.weights_path("demo").read_bytes()[:100_000])
        preset = "demo"
    else:
        path = tmp_path / "e4e_ffhq_encode.pt"
        path.write_bytes(payload)
        preset = "ffhq"
    result = run_cli("weights", "verify", path)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"interp: error: {path}: not the {preset} checkpoint it looks like")


def test_verify_of_a_preset_says_which_and_how_it_was_checked():
    result = run_cli("weights", "verify", "demo")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("demo: OK: the demo checkpoint (sha256 ")


def test_verify_help_says_what_each_kind_of_file_gets():
    shown = run_cli("weights", "verify", "--help").stdout
    for words in ("published", "e4e_ffhq_encode.pt", "1,201,649,680", "no published sha256", "exit 1"):
        assert words in shown


# --------------------------------------------------------------------------------------------------
# A damaged or missing shipped model: restored the way interp was installed, never "downloaded"


def _package_copy(root: Path) -> Path:
    """A copy of the interp_cli package under `root`, with one byte of its demo.pt flipped."""
    package = Path(weights.__file__).resolve().parent
    shutil.copytree(package, root / "interp_cli", ignore=shutil.ignore_patterns("__pycache__"))
    demo = root / "interp_cli" / "data" / "demo.pt"
    data = bytearray(demo.read_bytes())
    data[5000] ^= 1
    demo.write_bytes(bytes(data))
    return demo


def _interp(root: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "interp_cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("inside", ["", "site/"], ids=["zip-top", "folder-in-zip"])
def test_a_zipped_interp_names_only_what_each_command_takes_and_how_to_unzip_it_works(tmp_path, inside):
    """interp imported from a zip has no shipped weights on disk. `interp weights path demo` said "or pass a
    checkpoint path with --weights", an option `interp weights` does not take; a morph does, and still says so.
    "install it unzipped (pip install)" said neither what to install nor how (pip installs no zip): the line now
    gives the command that unpacks it and the PYTHONPATH entry to use instead, and both are followed here."""
    package = Path(weights.__file__).resolve().parent
    archive = tmp_path / "interp.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in package.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, inside + path.relative_to(package.parent).as_posix())
    entry = archive / inside if inside else archive
    advice = (f"unpack it with `{sys.executable} -m zipfile -e {archive} {tmp_path / 'interp-unzipped'}` and put "
              f"{tmp_path / 'interp-unzipped' / inside if inside else tmp_path / 'interp-unzipped'} on PYTHONPATH "
              f"in place of {entry}")
    for command in (("weights", "path", "demo"), ("weights", "verify", "demo")):
        done = _interp(entry, *command, cwd=tmp_path)
        assert done.returncode == 1 and done.stderr.startswith("interp: error: interp is imported from a zip ")
        assert done.stderr.endswith(f"{advice}\n") and "--weights" not in done.stderr, done.stderr
    examples = package.parent / "examples"
    morph = _interp(entry, examples / "demo_a.png", examples / "demo_b.png", "--weights", "demo",
                    "--no-align", "-o", tmp_path / "m.gif", cwd=tmp_path)
    assert morph.returncode == 1 and morph.stderr.endswith(
        f"{advice}, or pass a checkpoint path with --weights\n"), morph.stderr
    # Followed: the command as given, then the folder it names in place of the zip.
    unzip = shlex.split(re.search(r"unpack it with `([^`]*)`", morph.stderr).group(1))
    assert subprocess.run(unzip, capture_output=True, timeout=120).returncode == 0
    folder = re.search(r"and put (\S+) on PYTHONPATH in place of", morph.stderr).group(1)
    verified = _interp(Path(folder), "weights", "verify", "demo", cwd=tmp_path)
    assert verified.returncode == 0 and "OK: the demo checkpoint" in verified.stdout, verified.stderr


def test_damaged_demo_outside_a_checkout_says_reinstall(tmp_path):
    root = tmp_path / "copy"
    demo = _package_copy(root)
    examples = Path(weights.__file__).resolve().parents[1] / "examples"
    verified = _interp(root, "weights", "verify", "demo", cwd=tmp_path)
    morphed = _interp(root, examples / "demo_a.png", examples / "demo_b.png", "--weights", "demo", "--no-align",
                      "--steps", 2, "-o", tmp_path / "m.gif", cwd=tmp_path)
    for done in (verified, morphed):
        assert done.returncode == 1
        line, = done.stderr.strip().splitlines()
        assert line.startswith("interp: error: demo.pt: sha256 mismatch") and str(demo) in line
        assert "the demo model shipped with interp is damaged or was replaced; reinstall interp" in line
        assert "download" not in line and "make demo-weights" not in line
    demo.unlink()
    missing = _interp(root, "weights", "path", "demo", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "reinstall interp" in missing.stderr
    assert "download" not in missing.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_damaged_demo_in_a_git_checkout_names_the_git_command_that_restores_it(tmp_path):
    root = tmp_path / "checkout"
    root.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(root)]
    package = Path(weights.__file__).resolve().parent
    shutil.copytree(package, root / "interp_cli", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "interp_cli"], check=True)
    subprocess.run([*git, "commit", "-qm", "interp"], check=True)
    demo = root / "interp_cli" / "data" / "demo.pt"
    demo.write_bytes(demo.read_bytes()[:-1] + b"!")

    failed = _interp(root, "weights", "verify", "demo", cwd=tmp_path)
    assert failed.returncode == 1 and "download" not in failed.stderr
    command, = re.findall(r"restore it with `([^`]*)`", failed.stderr)
    assert command == f"git -C {root} checkout HEAD -- interp_cli/data/demo.pt interp_cli/data/demo.json"
    subprocess.run(shlex.split(command), cwd=tmp_path, check=True)  # following the advice, from anywhere
    assert _interp(root, "weights", "verify", "demo", cwd=tmp_path).returncode == 0


def test_damaged_demo_in_a_pip_install_names_the_reinstall_of_what_was_installed(monkeypatch, tmp_path):
    from importlib import metadata

    wheel = tmp_path / "interp_cli-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    shipped = weights.weights_path("demo")
    record = json.dumps({"url": wheel.as_uri(), "archive_info": {}})

    class Installed:  # what importlib.metadata knows of a wheel install that holds this demo.pt
        version = "0.1.0"
        files = [types.SimpleNamespace(name="demo.pt")]

        def locate_file(self, _):
            return shipped

        def read_text(self, name):
            return record if name == "direct_url.json" else None

    monkeypatch.setattr(metadata, "distribution", lambda name: Installed())
    advice = shipped_weights._reinstall_advice(shipped)
    assert advice == f"reinstall interp: `{sys.executable} -m pip install --force-reinstall --no-deps {wheel}`"
    record = json.dumps({"url": "file:///gone/interp_cli-0.1.0-py3-none-any.whl", "archive_info": {}})
    # The wheel is gone: not `interp-cli==0.1.0`, which no public index has, but the way back in words.
    assert shipped_weights._reinstall_advice(shipped) == (
        "reinstall interp from the wheel or checkout it was installed from: "
        f"`{sys.executable} -m pip install --force-reinstall --no-deps WHEEL_OR_CHECKOUT`")
    record = None  # no direct_url.json at all
    assert "interp-cli==" not in shipped_weights._reinstall_advice(shipped)


# --------------------------------------------------------------------------------------------------
# The default: `download` with no NAME and `list` agree with what a morph uses


def test_download_without_a_name_fetches_what_a_morph_would_use(hub, tiny, monkeypatch):
    monkeypatch.setenv("INTERP_WEIGHTS", "tiny")
    result = run_cli("weights", "download")
    assert result.exit_code == 0, result.stderr
    assert [(c["repo_id"], c["filename"]) for c in hub.download_calls] == [("someone/tiny", "ckpt/tiny.pt")]
    fetched = hub.snapshot_path("someone/tiny", "ckpt/tiny.pt")
    assert result.stdout.strip() == f"tiny: {fetched} (sha256 {CONTENT_SHA256})"
    assert "$INTERP_WEIGHTS, else ffhq" in run_cli("weights", "download", "--help").stdout


def test_download_without_a_name_of_a_local_default_has_nothing_to_fetch(hub, monkeypatch, tiny_ckpt):
    monkeypatch.setenv("INTERP_WEIGHTS", str(tiny_ckpt))
    result = run_cli("weights", "download")
    assert result.exit_code == 0, result.stderr
    assert hub.download_calls == [] and hub.metadata_calls == []
    assert result.stderr == f"interp: nothing to download: {tiny_ckpt} is a file on this machine\n"


@pytest.mark.parametrize("kind", ["truncated-demo", "text", "text-from-env"])
def test_download_of_a_bad_file_here_fails_as_verify_does(hub, tmp_path, monkeypatch, kind):
    """The auditor's cases: `download` said rc 0 with the path twice, while `verify` of the same file said rc 1."""
    if kind == "truncated-demo":
        path = tmp_path / "demo.pt"
        path.write_bytes(weights.weights_path("demo").read_bytes()[:1_000_000])
    else:
        path = tmp_path / "text.pt"
        path.write_text("hi\n")
    args = [path] if kind != "text-from-env" else []
    if kind == "text-from-env":
        monkeypatch.setenv("INTERP_WEIGHTS", str(path))
    downloaded, verified = run_cli("weights", "download", *args), run_cli("weights", "verify", *args)
    assert downloaded.exit_code == verified.exit_code == 1
    assert downloaded.stdout == "" and downloaded.stderr == verified.stderr
    assert downloaded.stderr.startswith(f"interp: error: {path}: ") and downloaded.stderr.count("\n") == 1
    assert hub.download_calls == []


def test_download_of_a_good_file_here_says_what_verify_says_once(hub, tiny_ckpt):
    downloaded, verified = run_cli("weights", "download", tiny_ckpt), run_cli("weights", "verify", tiny_ckpt)
    assert downloaded.exit_code == 0, downloaded.stderr
    assert downloaded.stdout == verified.stdout and downloaded.stdout.count(str(tiny_ckpt)) == 1
    assert "loads as an e4e checkpoint" in downloaded.stdout
    shown = " ".join(run_cli("weights", "download", "--help").stdout.split())
    assert "checked as `interp weights verify` checks it, with the same line and exit code" in shown


def test_list_marks_the_default_a_morph_uses_now(hub, monkeypatch, tiny_ckpt):
    assert "ffhq (default): " in run_cli("weights", "list").stdout
    monkeypatch.setenv("INTERP_WEIGHTS", "demo")
    shown = run_cli("weights", "list").stdout
    assert "demo (default, from $INTERP_WEIGHTS): " in shown and "ffhq (default" not in shown
    monkeypatch.setenv("INTERP_WEIGHTS", str(tiny_ckpt))
    shown = run_cli("weights", "list").stdout
    assert "(default" not in shown
    assert shown.splitlines()[-1] == f"default: {tiny_ckpt} (from $INTERP_WEIGHTS, not a preset)"


# --------------------------------------------------------------------------------------------------
# Offline advice that does not lead back to the same failure


@pytest.mark.parametrize(("variable", "value"), [("HF_HUB_OFFLINE", "1"), ("HF_HUB_OFFLINE", "true"),
                                                 ("HF_HUB_OFFLINE", "YES"), ("TRANSFORMERS_OFFLINE", "on")])
def test_offline_advice_turns_offline_mode_off_and_that_works(hub, tiny, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    failed = run_cli("weights", "download", "tiny")
    assert failed.exit_code == 1
    assert f"offline mode is on ({variable}={value})" in failed.stderr
    command, = re.findall(r"fetch it with `([^`]*)`", failed.stderr)
    assert command == "HF_HUB_OFFLINE=0 interp weights download tiny"
    assert f"`unset {variable}` first" in failed.stderr
    # What the old advice said, `interp weights download tiny` with offline mode still on, fails again;
    assert run_cli("weights", "download", "tiny").exit_code == 1
    # what the new one says works (HF_HUB_OFFLINE=0 overrides TRANSFORMERS_OFFLINE too, as huggingface_hub reads them).
    assignment, *words = shlex.split(command)
    monkeypatch.setenv(*assignment.split("="))
    assert run_cli(*words[1:]).exit_code == 0
    assert len(hub.download_calls) == 1


def test_offline_mode_off_is_not_mentioned(hub, tiny, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")  # HF_HUB_OFFLINE=0 is read first and wins, as in huggingface_hub
    hub.failure = LocalEntryNotFoundError("no connection")
    with pytest.raises(WeightsUnavailableError) as excinfo:
        weights.resolve_weights("tiny")
    assert "offline" not in str(excinfo.value)
    assert 'Fetch it with `interp_cli.download_weights(weights="tiny")`' in str(excinfo.value)


def test_login_advice_names_a_command_the_installed_huggingface_hub_has(hub, tiny):
    from importlib import metadata

    from interp_cli.errors import cli_words

    hub.failure = GatedRepoError("403 gated", response=_http_response(403))
    with pytest.raises(WeightsUnavailableError) as excinfo, cli_words():  # the command's words; Python's: below
        weights.resolve_weights("tiny")
    message = str(excinfo.value)
    scripts = {ep.name for ep in metadata.distribution("huggingface_hub").entry_points
               if ep.group == "console_scripts"}
    named = re.findall(r"`((?:hf|huggingface-cli)\b[^`]*)`", message)
    assert named and all(command.split()[0] in scripts for command in named), (named, scripts)
    assert "HF_TOKEN" in message
    with pytest.raises(WeightsUnavailableError) as excinfo:  # a Python caller: no command (test_hub_download runs it)
        weights.resolve_weights("tiny")
    assert ('accept its terms on huggingface.co and give a token of your account: `os.environ["HF_TOKEN"] = '
            '"hf_..."`') in str(excinfo.value)


# --------------------------------------------------------------------------------------------------
# `interp weights` alone, and its subcommands without it


def test_bare_weights_group_prints_its_help():
    result = run_cli("weights")
    assert result.exit_code == 0 and result.stderr == ""
    assert re.match(r"Usage: \S+ weights \[OPTIONS\]", result.stdout)  # \S+: the runner's prog name
    assert "Commands:" in result.stdout.splitlines() and len(result.stdout.splitlines()) > 5


@pytest.mark.parametrize("words", [["download", "ffhq"], ["list"], ["verify"], ["path", "demo"]])
def test_a_weights_subcommand_without_weights_is_pointed_at_it(words):
    result = run_cli(*words)
    assert result.exit_code == 2
    assert result.stderr == (f"interp: error: no such command or file '{words[0]}'; did you mean "
                             f"`interp weights {' '.join(words)}`?\n")


def test_a_file_named_like_a_weights_subcommand_is_still_an_input(tmp_path):
    (tmp_path / "list").write_bytes(b"")
    result = run_cli("list", "b.png")
    assert result.exit_code == 2 and "did you mean" not in result.stderr


# --------------------------------------------------------------------------------------------------
# A checkpoint that does not load is named as the user typed it, by every command and by Session


@pytest.fixture
def two_bad_p_pt(tmp_path, monkeypatch):
    """./a/p.pt and ./b/p.pt, neither a checkpoint, in the current directory with two photos and a code."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    for folder, text in (("a", "not a checkpoint\n"), ("b", "nor this\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "p.pt").write_text(text)
    examples = Path(__file__).resolve().parents[1] / "examples"
    for name in ("demo_a.png", "demo_b.png"):
        shutil.copy(examples / name, tmp_path / name)
    import numpy as np

    np.save(tmp_path / "code.npy", np.zeros((10, 128), np.float32))
    (tmp_path / "pairs.csv").write_text("demo_a.png,demo_b.png,ab.gif\n")
    return tmp_path


COMMANDS_WITH_WEIGHTS = {
    "morph": ["demo_a.png", "demo_b.png", "--no-align", "-o", "ab.gif"],
    "encode": ["encode", "demo_a.png", "-o", "a.npy"],
    "render": ["render", "code.npy", "-o", "code.png"],
    "mix": ["mix", "demo_a.png", "demo_b.png", "--coarse", "a", "--fine", "b", "-o", "mix.png"],
    "batch": ["batch", "pairs.csv", "--outdir", "out", "--no-align"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS_WITH_WEIGHTS))
@pytest.mark.parametrize("typed", ["a/p.pt", "./b/p.pt"])
def test_a_checkpoint_that_does_not_load_is_named_as_typed_by_every_command(two_bad_p_pt, command, typed):
    # Each used to say `p.pt: not a readable ...`, whichever of the two p.pt it was.
    result = run_cli(*COMMANDS_WITH_WEIGHTS[command], "--weights", typed)
    assert result.exit_code == 1, result.stderr
    assert f"interp: error: {typed}: not a readable PyTorch checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(p.name in ("ab.gif", "a.npy", "code.png", "mix.png") for p in two_bad_p_pt.rglob("*"))


@pytest.mark.parametrize("typed", ["a/p.pt", "./b/p.pt"])
def test_weights_verify_and_session_name_a_bad_checkpoint_as_typed(two_bad_p_pt, typed, monkeypatch):
    from interp_cli.session import Session

    result = run_cli("weights", "verify", typed)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"interp: error: {typed}: not a readable PyTorch checkpoint")
    with pytest.raises(CheckpointError) as excinfo:
        Session(weights=typed, device="cpu", progress=False)
    assert str(excinfo.value).startswith(f"{typed}: not a readable PyTorch checkpoint")
    monkeypatch.setenv("INTERP_WEIGHTS", typed)  # the value of $INTERP_WEIGHTS is typed too
    with pytest.raises(CheckpointError, match=f"^{re.escape(typed)}: "):
        Session(device="cpu", progress=False)


def test_a_generator_only_checkpoint_asked_to_encode_is_named_as_typed(tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    (tmp_path / "g").mkdir()
    demo = torch.load(weights.weights_path("demo"), weights_only=True)
    generator = {k[len("decoder."):]: v for k, v in demo["state_dict"].items() if k.startswith("decoder.")}
    torch.save({"g_ema": generator, "latent_avg": demo["latent_avg"][0]}, tmp_path / "g" / "p.pt")
    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "demo_a.png", tmp_path / "a.png")
    result = run_cli("encode", "a.png", "-o", "a.npy", "--weights", "g/p.pt", "--no-align")
    assert result.exit_code == 1
    assert result.stderr.startswith("interp: error: g/p.pt: this checkpoint has no encoder"), result.stderr


def test_weights_at_fault_are_the_path_of_the_failure(tmp_path, monkeypatch, tiny_ckpt):
    """`--weights broken.pt` (damaged, no checkpoint, missing) failed with "path": null under --json, and a
    Python caller's `err.path` was None, where a bad input or an unwritable output is named: the weights file
    is the file at fault, named as the line names it (as typed; `interp weights verify` alike)."""
    import torch

    from interp_cli.pipeline import encode

    monkeypatch.chdir(tmp_path)
    Path("broken.pt").write_bytes(Path(tiny_ckpt).read_bytes()[:5000])  # a download cut short
    torch.save({"opts": {}, "g_ema": {"x": torch.zeros(1)}}, "wrong.pt")  # a checkpoint, not a model's
    Path("folder.pt").mkdir()
    for name in ("broken.pt", "wrong.pt", "missing.pt", "folder.pt"):
        for words in (["weights", "verify", name], ["encode", EXAMPLES / "demo_a.png", "-o", "a.npy", "--weights",
                                                    name]):
            result = run_cli(*words, "--json")
            told = json.loads(result.stdout)
            assert told["path"] == name and told["error"].count(name) == 1, (words, result.stdout)
            assert result.exit_code == told["exit_code"] == (1 if name in ("broken.pt", "wrong.pt") else 2)
        with pytest.raises((CheckpointError, UsageError)) as err:
            encode(EXAMPLES / "demo_a.png", "a.npy", weights=name)
        assert err.value.path == name
    assert not Path("a.npy").exists()
    # A name that names no file has no file at fault.
    assert json.loads(run_cli("weights", "verify", "nope", "--json").stdout)["path"] is None
