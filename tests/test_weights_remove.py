"""`interp weights remove` / `interp_cli.weights.remove_weights`: a downloaded model taken out of the Hugging Face
cache, and nothing else. The cache is built here in the layout huggingface_hub writes (blobs/, snapshots/ links,
refs/), then read by huggingface_hub itself: no download, no fake of its functions."""

from __future__ import annotations

import json
import mmap
import os
import shlex
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest

from interp_cli import weights
from interp_cli.errors import InterpError, UsageError
from interp_cli.presets import PRESETS
from tests.cli_runner import cli_runner

FFHQ = PRESETS["ffhq"]
COMMIT = "a" * 40
OLD_COMMIT = "b" * 40


@pytest.fixture
def hf_cache(monkeypatch, tmp_path):
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "interp-cache"))
    return cache


def put(cache: Path, repo_id: str, filename: str, data: bytes, *, commit: str = COMMIT, etag: str | None = None,
        ref: str | None = "main") -> Path:
    """A file as hf_hub_download leaves it: the blob named by its etag, a relative link in the commit's snapshot."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    etag = etag or f"{len(data):064x}"[-64:]
    blob = repo / "blobs" / etag
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    entry = repo / "snapshots" / commit / filename
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.symlink_to(os.path.relpath(blob, entry.parent))
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return entry


def found(repo_id: str, filename: str, revision=None):
    cached = huggingface_hub.try_to_load_from_cache(repo_id, filename, revision=revision,
                                                    cache_dir=os.environ["HF_HUB_CACHE"])
    return cached if isinstance(cached, str) else None


def run(*args):
    return cli_runner().invoke(weights_cli(), list(args))


def weights_cli():
    from interp_cli.cli import cli

    return cli


def test_remove_takes_the_preset_file_and_leaves_the_repo_s_other_files_and_other_repos(hf_cache):
    ffhq = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 5000, etag="1" * 64)
    sibling = put(hf_cache, FFHQ.repo_id, "pretrained_models/other.pt", b"y" * 300, etag="2" * 64)
    other_repo = put(hf_cache, "someone/else", "model.bin", b"z" * 70, etag="3" * 64)
    assert found(FFHQ.repo_id, FFHQ.filename) == str(ffhq)

    result = run("weights", "remove", "ffhq")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "ffhq: removed from the Hugging Face cache, 5.0 kB freed\n"
    assert not os.path.lexists(ffhq)
    assert not (hf_cache / "models--AIRI-Institute--HairFastGAN" / "blobs" / ("1" * 64)).exists()
    assert found(FFHQ.repo_id, FFHQ.filename) is None
    assert [row["present"] for row in json.loads(run("weights", "list", "--json").stdout) if row["name"] == "ffhq"] \
        == [False]
    assert found(FFHQ.repo_id, "pretrained_models/other.pt") == str(sibling)
    assert Path(sibling).read_bytes() == b"y" * 300 and Path(other_repo).read_bytes() == b"z" * 70
    # What is left is a cache huggingface_hub reads without complaint.
    report = huggingface_hub.scan_cache_dir(hf_cache)
    assert not report.warnings
    assert sorted(repo.repo_id for repo in report.repos) == [FFHQ.repo_id, "someone/else"]


def test_json_names_every_path_removed_and_the_bytes(hf_cache):
    entry = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 1234, etag="1" * 64)
    blob = entry.resolve()
    partial = blob.parent / f"{'1' * 64}.incomplete"  # a killed download of it: no use once the file is gone
    partial.write_bytes(b"p" * 100)
    result = run("weights", "remove", "ffhq", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"id": "ffhq", "removed": [str(entry), str(blob), str(partial)],
                                         "bytes": 1334}
    assert result.stderr == ""


def test_the_repo_s_folder_goes_when_nothing_is_left_in_it(hf_cache):
    put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 10, etag="1" * 64)
    put(hf_cache, "someone/else", "model.bin", b"z" * 70, etag="3" * 64)
    assert run("weights", "remove", "ffhq").exit_code == 0
    assert sorted(p.name for p in hf_cache.iterdir()) == ["models--someone--else"]
    assert not huggingface_hub.scan_cache_dir(hf_cache).warnings


def test_every_snapshot_s_copy_goes_and_a_blob_another_entry_links_is_kept(hf_cache):
    new = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"n" * 10, etag="1" * 64)
    old = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"o" * 20, etag="4" * 64, commit=OLD_COMMIT, ref=None)
    # Another file of the repo with the same bytes as the new copy: the hub stores them as one blob.
    same = new.parent / "pretrained_models" / "copy.pt"
    same.parent.mkdir(parents=True)
    same.symlink_to(os.path.relpath(new.resolve(), same.parent))
    old_blob = old.resolve()
    removed = weights.remove_weights("ffhq")
    assert removed["removed"] == [str(new), str(old), str(old_blob)] and removed["bytes"] == 20
    assert not os.path.lexists(new) and not os.path.lexists(old)
    assert same.read_bytes() == b"n" * 10


def test_a_hub_file_at_a_revision_takes_that_snapshot_s_entry_only(hf_cache):
    main = put(hf_cache, "someone/models", "g.pt", b"m" * 10, etag="5" * 64)
    tagged = put(hf_cache, "someone/models", "g.pt", b"t" * 30, etag="6" * 64, commit=OLD_COMMIT, ref="v1")
    removed = weights.remove_weights("someone/models/g.pt@v1")
    assert removed == {"id": "someone/models/g.pt@v1", "removed": [str(tagged), str(tagged.parent.parent.parent
                                                                                   / "blobs" / ("6" * 64))],
                       "bytes": 30}
    assert main.read_bytes() == b"m" * 10


@pytest.mark.parametrize("as_json", [False, True])
def test_nothing_to_remove_is_one_line_and_exit_1(hf_cache, as_json):
    put(hf_cache, "someone/else", "model.bin", b"z" * 70, etag="3" * 64)
    # ffhq's folder as a download that failed left it: the commit its branch names, no file
    (hf_cache / "models--AIRI-Institute--HairFastGAN" / "refs").mkdir(parents=True)
    (hf_cache / "models--AIRI-Institute--HairFastGAN" / "refs" / "main").write_text(COMMIT)
    before = sorted(str(p) for p in hf_cache.rglob("*"))
    result = run("weights", "remove", "ffhq", *(["--json"] if as_json else []))
    assert result.exit_code == 1
    line = f"ffhq weights are not in the Hugging Face cache {hf_cache}: nothing to remove"
    assert result.stderr == f"interp: error: {line}\n"
    assert (json.loads(result.stdout)["error"] == line) if as_json else result.stdout == ""
    assert sorted(str(p) for p in hf_cache.rglob("*")) == before
    with pytest.raises(InterpError, match="nothing to remove"):
        weights.remove_weights("ffhq")


def test_a_file_of_the_user_s_own_is_never_removed(hf_cache, tmp_path):
    # Even one inside the Hugging Face cache, named by its path: a --weights PATH is the user's.
    entry = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 10, etag="1" * 64)
    own = tmp_path / "mine.pt"
    own.write_bytes(b"mine")
    for path in (own, entry):
        result = run("weights", "remove", str(path))
        assert result.exit_code == 2
        assert result.stderr == (f"interp: error: {path} is a file path: interp removes only what it fetched into the "
                                 "Hugging Face cache, a hub preset (ffhq) or a hub file owner/repo/file.pt[@revision],"
                                 " never a file of yours\n")
    assert own.read_bytes() == b"mine" and entry.read_bytes() == b"x" * 10


@pytest.mark.parametrize(("name", "said"), [
    ("", "'' names no weights to remove: give a hub preset (ffhq) or a hub file owner/repo/file.pt[@revision]"),
    ("foo", "unknown weights 'foo': not a preset (presets: demo, ffhq) nor a hub file; give a hub preset (ffhq) or a "
            "hub file owner/repo/file.pt[@revision]"),
    ("FFHQ", "unknown weights 'FFHQ': not a preset (presets: demo, ffhq) nor a hub file; did you mean 'ffhq'?"),
    ("gone/x.pt", "gone/x.pt is a file path: interp removes only what it fetched into the Hugging Face cache, a hub "
                  "preset (ffhq) or a hub file owner/repo/file.pt[@revision], never a file of yours"),
])
def test_a_name_that_is_nothing_to_remove_is_a_usage_error(hf_cache, name, said):
    result = run("weights", "remove", name)
    assert (result.exit_code, result.stderr) == (2, f"interp: error: {said}\n")


def test_the_shipped_demo_is_refused(hf_cache):
    result = run("weights", "remove", "demo")
    assert result.exit_code == 2
    assert result.stderr == ("interp: error: demo ships with interp, in its package, and was never downloaded: "
                             "there is nothing of it to remove\n")
    assert weights.located("demo").path.is_file()
    with pytest.raises(UsageError):
        weights.remove_weights("demo")


def test_remove_waits_for_no_download_but_refuses_while_one_holds_its_lock(hf_cache):
    entry = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 10, etag="1" * 64)
    lock = hf_cache / ".locks" / "models--AIRI-Institute--HairFastGAN" / f"{'1' * 64}.lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    # A real other process holds huggingface_hub's download lock, as a download does.
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'w'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
                               str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        result = run("weights", "remove", "ffhq")
        assert result.exit_code == 1
        assert result.stderr == (f"interp: error: ffhq weights: a download of them is running now (it holds {lock}): "
                                 "let it finish, then remove them\n")
        assert entry.read_bytes() == b"x" * 10
    finally:
        holder.communicate("")
    assert run("weights", "remove", "ffhq").exit_code == 0  # the lock free, and left there: huggingface_hub's file
    assert not os.path.lexists(entry) and lock.is_file()


def test_a_process_that_mapped_the_file_goes_on_reading_it(hf_cache):
    """Linux (and macOS) unlink a name, not the file: a morph that has the checkpoint mapped (torch.load mmap=True)
    or open reads it to the end; its blocks are freed when that morph lets go."""
    entry = put(hf_cache, FFHQ.repo_id, FFHQ.filename, bytes(range(256)) * 64, etag="1" * 64)
    with open(entry, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert weights.remove_weights("ffhq")["bytes"] == 256 * 64
        assert not os.path.lexists(entry)
        assert mapped[:] == bytes(range(256)) * 64


def test_help_lists_remove():
    result = run("weights", "--help")
    assert result.exit_code == 0
    assert "remove Remove downloaded weights from the Hugging Face cache, freeing their disk space." in " ".join(
        result.stdout.split())


@pytest.mark.parametrize(("words", "said"), [
    (["rm", "ffhq"], "no such command 'rm'; did you mean `interp weights remove ffhq`?"),
    (["uninstall", "ffhq", "--json"], "no such command 'uninstall'; did you mean `interp weights remove ffhq --json`?"),
    (["remvoe", "ffhq"], "no such command 'remvoe'; did you mean `interp weights remove ffhq`?"),
    (["ls", "--bogus"], "no such command 'ls'; did you mean `interp weights list` (it takes no --bogus)?"),
])
def test_another_tool_s_verb_names_ours(hf_cache, words, said):
    """`interp weights rm ffhq` (pip's uninstall, hf's delete, ls) said only "no such command 'rm'"."""
    put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 10, etag="1" * 64)
    result = run("weights", *words)
    assert result.exit_code == 2 and result.stderr.startswith(f"interp: error: {said}\n")
    assert found(FFHQ.repo_id, FFHQ.filename) is not None  # a suggestion, nothing done
    followed = run(*shlex.split(said.split("`")[1])[1:])
    assert followed.exit_code == 0, followed.stderr


def test_a_cache_of_copies_not_links_frees_the_copy(hf_cache):
    """Where huggingface_hub cannot make links (Windows without developer mode) a snapshot holds the file itself."""
    repo = hf_cache / "models--AIRI-Institute--HairFastGAN"
    entry = repo / "snapshots" / COMMIT / FFHQ.filename
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"c" * 77)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir()
    assert found(FFHQ.repo_id, FFHQ.filename) == str(entry)
    assert weights.remove_weights("ffhq") == {"id": "ffhq", "removed": [str(entry)], "bytes": 77}
    assert not repo.exists()


def test_a_link_made_by_hand_to_a_file_outside_the_cache_goes_alone(hf_cache, tmp_path):
    """A snapshot entry that someone linked to a file of theirs (not into the repo's blobs/, where huggingface_hub's
    links lead): the link is removed, the file it leads to is not."""
    repo = hf_cache / "models--AIRI-Institute--HairFastGAN"
    own = tmp_path / "my_copy.pt"
    own.write_bytes(b"mine" * 10)
    entry = repo / "snapshots" / COMMIT / FFHQ.filename
    entry.parent.mkdir(parents=True)
    entry.symlink_to(own)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    # and beside it, the same file at another commit as huggingface_hub links it
    linked = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 10, etag="1" * 64, commit=OLD_COMMIT, ref=None)
    assert weights.remove_weights("ffhq") == {"id": "ffhq", "removed": [str(entry), str(linked),
                                                                        str(repo / "blobs" / ("1" * 64))], "bytes": 10}
    assert own.read_bytes() == b"mine" * 10 and not repo.exists()


@pytest.mark.parametrize("spec", ["owner/repo/file.pt@../../../victim", "owner/repo/file.pt@..",
                                  "owner/repo/x/../../../../../victim/file.pt@" + COMMIT])
def test_a_revision_or_name_of_dot_dot_steps_never_leads_out_of_the_cache(hf_cache, tmp_path, spec):
    """`..` in a revision or a file name is no hub's: read as folders, it led from the repo's snapshots to a file of
    the user's beside the cache (removed, with its folder)."""
    put(hf_cache, "owner/repo", "file.pt", b"hub", etag="4" * 64)
    victim = hf_cache.parent / "victim" / "file.pt"  # beside the cache: hf/victim, hf/hub
    victim.parent.mkdir()
    victim.write_bytes(b"mine")
    result = run("weights", "remove", spec)
    assert result.exit_code in (1, 2), result.stdout
    assert victim.read_bytes() == b"mine"
    assert found("owner/repo", "file.pt") is not None


@pytest.mark.parametrize("locked", ["blobs", "an old snapshot's folder"])
def test_a_removal_that_a_read_only_folder_would_stop_part_way_removes_nothing(hf_cache, locked):
    """A blobs/ folder of mode 555 (a cache shared read-only, another user's) let the links go, then refused the
    blob: "permission denied" (exit 2) with the weights no longer found, their bytes still on the disk, and the next
    try said "not in the Hugging Face cache: nothing to remove". Every folder is now checked before anything goes:
    one line naming the folder, exit 2, the cache as it was. Run with file modes binding (as root: under setpriv)."""
    from tests.file_modes import file_modes_binding

    new = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"x" * 5000, etag="1" * 64)
    old = put(hf_cache, FFHQ.repo_id, FFHQ.filename, b"y" * 3000, etag="2" * 64, commit=OLD_COMMIT, ref=None)
    folder = hf_cache / f"models--{FFHQ.repo_id.replace('/', '--')}" / "blobs" if locked == "blobs" else old.parent
    before = sorted((str(p), p.is_symlink()) for p in hf_cache.rglob("*"))
    prefix = file_modes_binding()
    folder.chmod(0o555)
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "interp_cli", "weights", "remove", "ffhq"],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    finally:
        folder.chmod(0o755)
    assert (done.returncode, done.stdout, done.stderr) == (
        2, "", f"interp: error: ffhq weights: cannot be removed: you cannot write in {folder}; nothing was removed\n")
    assert sorted((str(p), p.is_symlink()) for p in hf_cache.rglob("*")) == before
    assert found(FFHQ.repo_id, FFHQ.filename) == str(new)


def test_an_immutable_blob_refuses_the_removal_before_its_links_go(hf_cache):
    """A blob marked immutable (`chattr +i`, not even root removes it) in a writable blobs/: the check of the folders
    passed, the links went, then the blob refused ("operation not permitted", exit 2), the weights no longer found,
    their bytes still on the disk, and the next try said "not in the Hugging Face cache: nothing to remove". Now one
    line naming the blob, exit 2, nothing removed."""
    from tests.file_modes import file_attribute

    entry = put(hf_cache, "owner/repo", "file.pt", b"x" * 50, etag="1" * 64)
    blob = hf_cache / "models--owner--repo" / "blobs" / ("1" * 64)
    with file_attribute(blob, "i"):
        result = run("weights", "remove", "owner/repo/file.pt")
    assert (result.exit_code, result.stderr) == (
        2, f"interp: error: weights owner/repo/file.pt: cannot be removed: {blob} is immutable (chattr +i); nothing "
           "was removed\n")
    assert found("owner/repo", "file.pt") == str(entry) and blob.read_bytes() == b"x" * 50


def test_a_revision_whose_blob_another_revision_links_goes_though_blobs_is_read_only(hf_cache):
    """The up-front check asked for a writable blobs/ whenever the file had a blob, though a blob another revision's
    snapshot still links stays: `weights remove owner/repo/file.pt@OLD` with blobs/ of mode 555 was refused ("you
    cannot write in .../blobs; nothing was removed", exit 2), where only the old revision's link goes. Run with file
    modes binding (as root: under setpriv)."""
    from tests.file_modes import file_modes_binding

    new = put(hf_cache, "owner/repo", "file.pt", b"x" * 50, etag="1" * 64)
    old = put(hf_cache, "owner/repo", "file.pt", b"x" * 50, etag="1" * 64, commit=OLD_COMMIT, ref=None)
    blobs = hf_cache / "models--owner--repo" / "blobs"
    prefix = file_modes_binding()
    blobs.chmod(0o555)
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "interp_cli", "weights", "remove",
                               f"owner/repo/file.pt@{OLD_COMMIT}"], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    finally:
        blobs.chmod(0o755)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout == f"owner/repo/file.pt@{OLD_COMMIT}: removed from the Hugging Face cache, 0 bytes freed\n"
    assert not os.path.lexists(old) and not old.parent.exists()
    assert found("owner/repo", "file.pt") == str(new) and new.read_bytes() == b"x" * 50
