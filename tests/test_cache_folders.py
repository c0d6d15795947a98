"""interp_cli.cache_folders: where interp's cache dir is, and the eviction its caches share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from interp_cli import cache_folders


def test_cache_dir_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("INTERP_CACHE_DIR", "~/c")
    assert cache_folders.cache_dir() == tmp_path / "c"


def test_a_relative_xdg_cache_home_is_ignored_as_the_spec_says(tmp_path):
    """XDG_CACHE_HOME=cache (relative: invalid, per the XDG Base Directory spec) was taken as it came: each morph left
    `cache/interp/latents/...` in the folder it was run from. Now the cache is ~/.cache/interp, as with none set."""
    root = Path(__file__).resolve().parents[1]
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERP_", "HF_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME="cache", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "-m", "interp_cli", root / "examples" / "demo_a.png",
                           root / "examples" / "demo_b.png", "--weights", "demo", "--steps", "2", "-o", "out.gif"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(work)) == ["out.gif"]
    assert len(list((home / ".cache" / "interp" / "latents").glob("*.npy"))) == 2
    # `~/...` as a systemd unit or an env file sets it, unexpanded by a shell: the user's home, as before
    env.update(XDG_CACHE_HOME="~/xdg")
    done = subprocess.run([sys.executable, "-m", "interp_cli", "cache", "--json"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["path"] == str(home / "xdg" / "interp"), done.stderr


def test_a_cache_bound_below_zero_is_a_setting_said_once_not_a_cache_turned_off(tmp_path):
    """INTERP_LATENT_CACHE_MB=-1 and INTERP_TUNE_CACHE_MB=-1 (-1: "no limit" to many tools) turned both caches off
    without a word, and `interp cache` said "at most -1000000 bytes". Now below 0 is a setting the default bound
    replaces, said once per cache, as a typo is; a second run reuses the codes and the tuning."""
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERP_", "HF_"))}
    env.update(INTERP_CACHE_DIR=str(tmp_path / "cache"), INTERP_LATENT_CACHE_MB="-1", INTERP_TUNE_CACHE_MB=" -1 ",
               HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(root))
    morph = [sys.executable, "-m", "interp_cli", root / "examples" / "demo_a.png", root / "examples" / "demo_b.png",
             "--weights", "demo", "--steps", "2", "--tune", "1", "-o", tmp_path / "out.gif"]
    said = []
    for _ in range(2):
        done = subprocess.run(morph, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        said.append([line for line in done.stderr.splitlines() if line.startswith(("warning", "encoding", "tuning"))])
    for what, env_name in (("latent cache", "INTERP_LATENT_CACHE_MB"), ("tuned-weights cache", "INTERP_TUNE_CACHE_MB")):
        assert f"warning: {env_name}='-1' is below 0; the {what} keeps its default bound, 2048 MB (0 turns it off)" \
            in said[0], said[0]
    assert "encoding: 2 of 2 codes reused from the cache (--no-cache encodes again)" in said[1], said[1]
    assert "tuning: 1 steps reused from the cache" in said[1], said[1]
    done = subprocess.run([sys.executable, "-m", "interp_cli", "cache", "--json"], env=env, capture_output=True,
                          text=True, timeout=60)
    bounds = {part["name"]: part["bound_bytes"] for part in json.loads(done.stdout)["parts"]}
    assert bounds["latents"] == bounds["tuned"] == 2048 * 10**6, bounds


def test_evict_least_recent_keeps_the_most_recently_used_within_a_count_or_a_size(tmp_path):
    """The one eviction the landmark and tuned-weights caches share: oldest mtime out first, `mark_used` moving an
    entry to the back of the queue, a listed entry that is already gone neither counted nor a failure."""
    entries = []
    for age, size in enumerate((30, 20, 10, 40)):
        entry = tmp_path / f"e{age}"
        entry.write_bytes(b"x" * size)
        os.utime(entry, (1000 - age, 1000 - age))  # e0 newest ... e3 oldest
        entries.append(entry)
    cache_folders.mark_used(entries[3])  # the oldest read just now: now the newest
    cache_folders.evict_least_recent(entries + [tmp_path / "gone"], keep=3)
    assert sorted(os.listdir(tmp_path)) == ["e0", "e1", "e3"]
    assert cache_folders.evict_least_recent(entries, room=90) == 90  # exactly the bound: all three kept
    assert sorted(os.listdir(tmp_path)) == ["e0", "e1", "e3"]
    assert cache_folders.evict_least_recent(entries, room=45) == 40  # e1 (20 bytes) then e0 (30) out: 40 bytes left
    assert os.listdir(tmp_path) == ["e3"]
    cache_folders.mark_used(tmp_path / "gone")  # best effort: nothing to stamp is no error
    # An old entry that cannot be removed (here a folder: unlink fails) stays, and takes no newer one with it.
    stuck = tmp_path / "stuck"
    (stuck / "inside").mkdir(parents=True)
    os.utime(stuck, (1, 1))
    newer = tmp_path / "newer"
    newer.write_bytes(b"y")
    cache_folders.evict_least_recent([stuck, entries[3], newer], keep=2)
    assert sorted(os.listdir(tmp_path)) == ["e3", "newer", "stuck"]


def test_a_read_only_cache_serves_its_entries_silently_and_a_miss_is_one_warning(tmp_path):
    """A cache whose folders are made read-only (`chmod 555`: a shared one, a lab's) after a --tune morph filled it:
    the same morph again is served from it, no warning; a morph whose tuned weights are not in it tunes, warns once
    that the cache was not written, and writes its output (exit 0); the cache is left as it was. Run with file modes
    binding (as root: under setpriv), which root's runs never tried."""
    from tests.file_modes import file_modes_binding

    root = Path(__file__).resolve().parents[1]
    cache = tmp_path / "cache"
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(cache), PYTHONPATH=str(root))

    def morph(prefix, tune, out):
        return subprocess.run([*prefix, sys.executable, "-m", "interp_cli", root / "examples" / "demo_a.png",
                               root / "examples" / "demo_b.png", "--weights", "demo", "--steps", "2", "--tune",
                               str(tune), "-o", tmp_path / out], env=env, capture_output=True, text=True, timeout=300)

    assert morph([], 2, "first.gif").returncode == 0
    folders = [cache, *(p for p in cache.rglob("*") if p.is_dir())]
    before = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    prefix = file_modes_binding()
    for folder in folders:
        folder.chmod(0o555)
    try:
        served = morph(prefix, 2, "served.gif")
        missed = morph(prefix, 3, "missed.gif")
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert served.returncode == 0 and "warning" not in served.stderr, served.stderr
    assert "2 of 2 codes reused from the cache" in served.stderr and "steps reused from the cache" in served.stderr
    warned = [line for line in missed.stderr.splitlines() if line.startswith("warning:")]
    assert missed.returncode == 0 and len(warned) == 1, missed.stderr
    # The tuned-weights cache alone: the latent cache had reused both codes and had nothing to write.
    assert warned[0] == (f"warning: tuned-weights cache not written ({cache / 'tuned'}: permission denied); "
                         "continuing without it"), warned
    assert (tmp_path / "served.gif").is_file() and (tmp_path / "missed.gif").is_file()
    assert sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) == before


def test_a_cache_that_has_only_been_read_is_not_named_in_another_caches_warning(tmp_path):
    """A --tune morph on a read-only cache (or a full disk) whose codes were all reused: the tuned-weights cache's
    failure said "tuned-weights and latent caches not written", though the latent cache had nothing to write. It
    names only a cache with a write still to come (a code missed, not yet put): the one-cause-one-line rule."""
    import errno

    import numpy as np

    from interp_cli.cache import LatentCache

    full = OSError(errno.ENOSPC, "No space left on device")  # a disk both folders share (`_fails_alike`)
    for missed, named in [(False, "tuned-weights cache not written ("),
                          (True, "tuned-weights and latent caches not written (")]:
        root = tmp_path / str(missed)
        said = []
        failures = cache_folders.CacheWarnings(said.append)
        latents = LatentCache(root / "latents", failures=failures)
        failures.add("tuned-weights cache", root / "tuned")
        latents.put("a", np.ones((18, 512), np.float32))
        assert latents.get("a") is not None  # reused
        if missed:
            assert latents.get("b") is None  # its code is still to be put
        failures.not_written("tuned-weights cache", full, root / "tuned")
        assert len(said) == 1 and said[0].startswith(f"warning: {named}{root / 'tuned'}: "), said
        assert "no space left on device" in said[0]
