"""The latent cache: entries are checked before they are trusted, and writing it never fails a morph."""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pytest

from interp_cli import errors
from interp_cli.cache import LatentCache, cache_key
from interp_cli.cache_folders import USAGE_RECORD, CacheWarnings

SHAPE = (10, 128)


@pytest.fixture
def cache(tmp_path):
    return LatentCache(tmp_path / "latents")


def test_round_trip_and_key_stability(cache):
    code = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    key = cache_key(image="abc", weights="def", refine=0)
    assert key == cache_key(refine=0, weights="def", image="abc")
    assert cache.get(key, SHAPE) is None and cache.misses == 1
    cache.put(key, code)
    np.testing.assert_array_equal(cache.get(key, SHAPE), code)
    assert cache.hits == 1
    # no temp left; beside the entry, the folder's record of its size (cache_folders.USAGE_RECORD)
    assert sorted(p.name for p in cache.directory.iterdir()) == [USAGE_RECORD, f"{key}.npy"]


@pytest.mark.parametrize("damage", ["empty", "truncated", "nan", "inf", "float64", "shape", "pickle", "text"])
def test_damaged_entry_is_a_miss_and_is_removed(cache, damage, caplog):
    key = "k" * 64
    cache.put(key, np.ones(SHAPE, np.float32))
    path = cache.directory / f"{key}.npy"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage in ("nan", "inf"):
        np.save(path, np.full(SHAPE, np.nan if damage == "nan" else np.inf, np.float32))
    elif damage == "float64":
        np.save(path, np.ones(SHAPE, np.float64))
    elif damage == "shape":
        np.save(path, np.ones((3, 128), np.float32))
    elif damage == "pickle":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        path.write_text("not an array")
    with caplog.at_level(logging.DEBUG, logger="interp_cli"):
        assert cache.get(key, SHAPE) is None
    assert not path.exists()
    assert any("damaged" in r.getMessage() for r in caplog.records)


def test_unwritable_cache_warns_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    warnings = []
    cache = LatentCache(blocker / "latents", warn=warnings.append)  # cannot be created
    cache.put("a", np.ones(SHAPE, np.float32))
    cache.put("b", np.ones(SHAPE, np.float32))
    assert len(warnings) == 1 and "latent cache not written" in warnings[0]


def test_directory_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert LatentCache("~/c").directory == tmp_path / "c"


def test_key_follows_the_pixels_the_encoder_sees():
    from PIL import Image

    from interp_cli.cache import image_digest

    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    same = image_digest(Image.fromarray(pixels))
    assert image_digest(Image.fromarray(pixels.copy())) == same
    changed = pixels.copy()
    changed[5, 5, 0] ^= 1
    assert image_digest(Image.fromarray(changed)) != same
    assert image_digest(Image.fromarray(pixels).convert("RGBA")) != same


def test_a_changed_crop_is_never_served_a_stale_code(tmp_path, monkeypatch):
    """Same file, same options, but the aligner draws another crop (here: the other detector, as
    after an upgrade of the alignment code): the cached code of the old crop must not be reused."""
    from pathlib import Path

    from interp_cli import align
    from interp_cli.pipeline import EncodeSettings, Session

    if len(align.face_detectors()) < 2:
        pytest.skip("needs both face detectors (dlib-bin installed)")
    photo = Path(__file__).parent / "data" / "faces" / "obama.jpg"
    session = Session("demo", "cpu", log=lambda message: None, progress=False, cache_dir=tmp_path)
    monkeypatch.setenv("INTERP_FACE_DETECTOR", "haar")
    first = session.encode_path(photo, EncodeSettings(align=True))
    monkeypatch.setenv("INTERP_FACE_DETECTOR", "dlib")
    second = session.encode_path(photo, EncodeSettings(align=True))
    assert session.encoder_calls == 2 and not np.array_equal(first, second)
    np.testing.assert_array_equal(session.encode_path(photo, EncodeSettings(align=True)), second)
    assert session.encoder_calls == 2  # an unchanged crop still comes from the cache


def test_codes_refined_by_an_older_method_are_not_reused(tmp_path, monkeypatch):
    """A refined code is keyed by the refinement method's version (`refine.METHOD_VERSION`): after a
    change to how codes are refined, the cache must not hand back a code the old method made.
    Plain e4e codes do not depend on it and still come from the cache."""
    from pathlib import Path

    from interp_cli import refine
    from interp_cli.pipeline import EncodeSettings, Session

    face = Path(__file__).resolve().parents[1] / "examples" / "demo_a.png"
    session = Session("demo", "cpu", log=lambda message: None, progress=False, cache_dir=tmp_path)
    plain = session.encode_path(face, EncodeSettings())
    refined = session.encode_path(face, EncodeSettings(refine=3))
    assert session.encoder_calls == 2
    monkeypatch.setattr(refine, "METHOD_VERSION", refine.METHOD_VERSION + 1)
    np.testing.assert_array_equal(session.encode_path(face, EncodeSettings()), plain)
    assert session.encoder_calls == 2
    np.testing.assert_array_equal(session.encode_path(face, EncodeSettings(refine=3)), refined)
    assert session.encoder_calls == 3  # recomputed (same code: the method did not really change)


def test_a_sessions_own_cache_root_holds_latents_beside_tuned_weights(tmp_path):
    """`Session(cache_dir=X)` lays X out as interp's own cache: X/latents and X/tuned side by side (the
    tuned weights used to land inside the codes' folder, X/tuned beside X's .npy codes)."""
    from pathlib import Path

    from interp_cli.pipeline import Session, morph

    examples = Path(__file__).resolve().parents[1] / "examples"
    session = Session("demo", "cpu", log=lambda message: None, progress=False, cache_dir=tmp_path / "mine")
    morph([examples / "demo_a.png", examples / "demo_b.png"], tmp_path / "m.gif", steps=2, tune=2, session=session,
          log=lambda message: None, progress=False)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["latents", "tuned"]
    assert len(list((tmp_path / "mine" / "latents").glob("*.npy"))) == 2
    assert len(list((tmp_path / "mine" / "tuned").glob("*.pt"))) == 1


_PUT_TWICE = """
import sys
import numpy as np
from interp_cli.cache import LatentCache
cache = LatentCache(sys.argv[1], warn=print)
cache.put("a", np.ones((10, 128), np.float32))
cache.put("b", np.ones((10, 128), np.float32))
"""


def test_a_read_only_cache_is_worded_as_the_other_caches_word_it(tmp_path):
    """A real read-only mount (a tmpfs in a private mount namespace): the warning said
    "[Errno 30] Read-only file system: '...'", Python's words, where the tuned cache said "read-only file system"."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    place = tmp_path / "ro"
    place.mkdir()
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    script = f'mount -t tmpfs -o ro,size=1m tmpfs "{place}" && exec "{sys.executable}" -c "$0" "$1"'
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([*unshare, "sh", "-c", script, _PUT_TWICE, str(place / "c" / "latents")],
                          capture_output=True, text=True, env=env)
    if "mount" in done.stderr or "unshare" in done.stderr:
        pytest.skip(f"no private mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"warning: latent cache not written ({place / 'c' / 'latents'}: read-only file system); continuing without it"]


_TWO_CACHES = """
import errno, os, resource, sys
from pathlib import Path
import numpy as np
from interp_cli.cache import LatentCache
from interp_cli.cache_folders import CacheWarnings
from interp_cli.files import atomic_save_npy
root = Path(sys.argv[1])
if sys.argv[2] == "full":  # fill the disk, leaving less than an entry
    try:
        with open(root / "filler", "wb") as fh:
            while True:
                fh.write(bytes(4096))
                fh.flush()
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
else:
    resource.setrlimit(resource.RLIMIT_FSIZE, (10000, resource.RLIM_INFINITY))
failures = CacheWarnings(print)
latents = LatentCache(root / "c" / "latents", failures=failures)
failures.add("tuned-weights cache", root / "c" / "tuned")
latents.put("a", np.ones((18, 512), np.float32))  # 37 KB
for size in (100, 18 * 512):  # a small entry fits under the limit, a large one does not
    try:
        (root / "c" / "tuned").mkdir(parents=True, exist_ok=True)
        atomic_save_npy(root / "c" / "tuned" / f"{size}.npy", np.ones(size, np.float32))
    except Exception as err:
        failures.not_written("tuned-weights cache", err, root / "c" / "tuned")
"""


@pytest.mark.parametrize("cause", ["full", "file-size limit"])
def test_a_full_disk_stops_both_caches_in_one_line_and_a_file_size_limit_each_in_its_own(tmp_path, cause):
    """A full disk (a real one: a small tmpfs in a private mount namespace) that a Session's two caches share turns
    both off: the first failure says so for both, in one line, and the second says nothing more. A file-size limit
    (a real RLIMIT_FSIZE) stops an entry, not the disk: the latent cache is named alone, a small tuned entry is
    written, and a large one warns for itself. Only a --tune morph under a file-size limit (test_tune) told these
    apart; a disk judged full by the wrong errno passed every fast file."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    place = tmp_path / "disk"
    place.mkdir()
    if cause == "full":
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare(1)")
        unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
        script = f'mount -t tmpfs -o size=64k tmpfs "{place}" && exec "{sys.executable}" -c "$0" "$1" "$2"'
        done = subprocess.run([*unshare, "sh", "-c", script, _TWO_CACHES, str(place), "full"], capture_output=True,
                              text=True, env=env, timeout=60)
        if "mount" in done.stderr or "unshare" in done.stderr:
            pytest.skip(f"no private mount namespace here: {done.stderr.strip()}")
    else:
        done = subprocess.run([sys.executable, "-c", _TWO_CACHES, str(place), "limit"], capture_output=True, text=True,
                              env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    latents, tuned = place / "c" / "latents", place / "c" / "tuned"
    if cause == "full":
        assert done.stdout.splitlines() == [
            f"warning: latent and tuned-weights caches not written ({latents}: cannot write: no space left on device; "
            "free some space or write elsewhere); continuing without them"]
    else:
        limit = "file too large (over this process's file-size limit of 10,000 bytes, `ulimit -f`); raise that limit"
        assert done.stdout.splitlines() == [
            f"warning: latent cache not written ({latents}: cannot write: {limit}); continuing without it",
            f"warning: tuned-weights cache not written ({tuned}: cannot write: {limit}); continuing without it"]
        assert os.listdir(tuned) == ["100.npy"]


def test_a_file_in_a_cache_folders_way_is_named_with_what_to_do_in_the_callers_words(tmp_path, monkeypatch):
    """A file where a cache's folder (or one above it) goes was told as the OS says it, naming the folder that could
    not be made: "(.../latents: Not a directory)", "(.../latents: File exists)". Now the file in the way is named, and
    what to do: a cache part's file is interp's to move; a cache dir that is a file is a setting to change, in the
    words of whoever set it (a shell's INTERP_CACHE_DIR, a Python caller's os.environ line, a Session's cache_dir)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "latents").write_text("")

    def said(folder, words):
        warnings = []
        with errors.cli_words() if words else contextlib.nullcontext():
            LatentCache(folder, warn=warnings.append).put("a", np.ones(SHAPE, np.float32))
        assert len(warnings) == 1 and warnings[0].startswith("warning: latent cache not written (")
        return warnings[0].removeprefix("warning: latent cache not written (").removesuffix(
            "); continuing without it")

    monkeypatch.delenv("INTERP_CACHE_DIR", raising=False)
    for words in (True, False):  # a cache part that is a file: plain words, true in either place
        assert said(tmp_path / "root" / "latents", words) == (
            f"{tmp_path / 'root' / 'latents'} is a file where this cache's folder goes: move it away or remove it")
    # A root of a Python caller's own (Session(cache_dir=...)), the file itself or a folder under it.
    assert said(blocker / "latents", False) == (
        f"the cache dir {blocker} is a file, not a folder: give Session(cache_dir=...) a folder")
    assert said(blocker / "sub" / "latents", False) == (
        f"{blocker} is a file, not a folder, so the cache dir {blocker / 'sub'} cannot be made: give "
        "Session(cache_dir=...) a folder")
    # interp's own root, from INTERP_CACHE_DIR: the setting, as a shell and as a Python caller sets it.
    monkeypatch.setenv("INTERP_CACHE_DIR", str(blocker))
    assert said(blocker / "latents", True) == (
        f"the cache dir {blocker} is a file, not a folder: set INTERP_CACHE_DIR=/path/to/folder")
    assert said(blocker / "latents", False) == (
        f'the cache dir {blocker} is a file, not a folder: `os.environ["INTERP_CACHE_DIR"] = "/path/to/folder"`')
    assert blocker.read_text() == "" and (tmp_path / "root" / "latents").is_file()  # nothing moved on its own
    # A symlink to nothing where a folder goes: "File exists" too, for a name `ls` shows as a link.
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "latents").symlink_to(tmp_path / "nowhere")
    assert said(tmp_path / "linked" / "latents", True) == (
        f"{tmp_path / 'linked' / 'latents'} is a symlink to '{tmp_path / 'nowhere'}', which does not exist: make "
        "that folder, or remove the link")
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "linked" / "latents"))
    assert said(tmp_path / "linked" / "latents" / "latents", True) == (
        f"the cache dir {tmp_path / 'linked' / 'latents'} is a symlink to '{tmp_path / 'nowhere'}', which does not "
        "exist: set INTERP_CACHE_DIR=/path/to/folder")


@pytest.mark.parametrize("where", ["under /proc", "a name too long"])
def test_a_cache_root_that_cannot_be_made_turns_both_caches_off_in_one_line(tmp_path, where):
    """INTERP_CACHE_DIR under /proc (which makes no folder) or naming a part longer than the file system takes: the
    latent cache's failure names the tuned-weights cache too, in one line, and the tuned cache's own failure after
    it says nothing more. Only a --tune morph (test_tune, seconds each) told these from two lines for one cause."""
    from pathlib import Path

    root = Path("/proc/interp-nope") if where == "under /proc" else tmp_path / ("d" * 300)
    said = []
    failures = CacheWarnings(said.append).add("tuned-weights cache", root / "tuned")
    LatentCache(root / "latents", failures=failures).put("a", np.ones(SHAPE, np.float32))
    try:
        (root / "tuned").mkdir(parents=True)
    except OSError as err:
        failures.not_written("tuned-weights cache", err, root / "tuned")
    assert len(said) == 1 and said[0].startswith(f"warning: latent and tuned-weights caches not written "
                                                 f"({root / 'latents'}: "), said
    assert said[0].endswith("); continuing without them"), said


def test_a_cache_folder_whose_own_name_is_too_long_is_named_alone(tmp_path):
    """A name too long in one cache's own part of the path (not in the root both share) stops that cache only: its
    warning names it alone, not the other cache beside it."""
    said = []
    failures = CacheWarnings(said.append).add("tuned-weights cache", tmp_path / "tuned")
    long = tmp_path / ("l" * 300)
    LatentCache(long, failures=failures).put("a", np.ones(SHAPE, np.float32))
    assert len(said) == 1 and said[0].startswith(f"warning: latent cache not written ({long}: "), said


def _entries(cache) -> list[str]:
    return sorted(path.stem for path in cache.directory.glob("*.npy"))


def test_a_bound_keeps_the_most_recently_used_codes_and_the_rest_go(tmp_path):
    """`latents/` was never pruned: 100,000 rows of new photos left 8.2 GB of ffhq codes there
    (benchmarks/bench_latent_cache.py). Now it is bounded as the tuned cache is: past the bound, the codes used
    longest ago go first, a code read (a hit) counting as used."""
    import time

    one = np.ones(SHAPE, np.float32)
    LatentCache(tmp_path / "size").put("x", one)
    size = (tmp_path / "size" / "x.npy").stat().st_size
    cache = LatentCache(tmp_path / "latents", max_bytes=3 * size + size // 2)  # room for three
    for index, key in enumerate("abc"):
        cache.put(key, one * index)
        time.sleep(0.05)  # a clock tick apart: the file system's times are coarser than a nanosecond
    np.testing.assert_array_equal(cache.get("a", SHAPE), one * 0)  # `a` used: now `b` is the least recent
    time.sleep(0.05)
    cache.put("d", one * 3)
    assert _entries(cache) == ["a", "c", "d"]
    time.sleep(0.05)
    cache.put("e", one * 4)
    assert _entries(cache) == ["a", "d", "e"] and cache.get("b", SHAPE) is None
    # Another run with a lower bound applies it at its first write; the code it writes is kept.
    LatentCache(tmp_path / "latents", max_bytes=size + size // 2).put("f", one * 5)
    assert _entries(cache) == ["f"]


def test_the_bound_is_set_by_interp_latent_cache_mb_and_zero_turns_the_cache_off(tmp_path, monkeypatch):
    code = np.ones(SHAPE, np.float32)
    monkeypatch.setenv("INTERP_LATENT_CACHE_MB", "0.0105")  # 10,500 bytes: two entries of 5,248
    cache = LatentCache(tmp_path / "small")
    for key in "abc":
        cache.put(key, code)
    assert cache.bound.max_bytes == 10_500 and len(_entries(cache)) == 2
    monkeypatch.setenv("INTERP_LATENT_CACHE_MB", "0")
    off = LatentCache(tmp_path / "off")
    off.put("a", code)
    assert off.get("a", SHAPE) is None and not off.directory.exists()
    # Off, the codes written before are not served either (turned off to rule the cache out), and stay on disk.
    earlier = LatentCache(tmp_path / "small")
    assert earlier.get("c", SHAPE) is None and (earlier.hits, earlier.misses) == (0, 1)
    assert len(_entries(earlier)) == 2
    monkeypatch.setenv("INTERP_LATENT_CACHE_MB", "lots")
    said = []
    typo = LatentCache(tmp_path / "typo", warn=said.append)
    typo.put("a", code)
    typo.put("b", code)
    assert typo.bound.max_bytes == 2048 * 10**6 and _entries(typo) == ["a", "b"]
    assert said == ["warning: INTERP_LATENT_CACHE_MB='lots' is not a number of megabytes; the latent cache keeps its "
                    "default bound, 2048 MB (0 turns it off)"]


@pytest.mark.parametrize("setting", ["1_0", "\u0661\u0660", "0x10"])
def test_a_cache_bound_not_in_plain_digits_is_a_typo_said_once_not_read_as_another_number(monkeypatch, tmp_path,
                                                                                        setting):
    """float() read INTERP_LATENT_CACHE_MB=1_0 as 10 MB and Arabic-Indic digits as their ASCII value: a bound no
    one typed, silently. Now it is an unreadable setting (the default kept, said once), as `abc` was; spaces
    around a number are still taken."""
    monkeypatch.setenv("INTERP_LATENT_CACHE_MB", setting)
    said = []
    cache = LatentCache(tmp_path / "c", warn=said.append)
    cache.put("a", np.ones(SHAPE, np.float32))
    cache.put("b", np.ones(SHAPE, np.float32))
    hint = "" if setting == "0x10" else ", in the digits 0-9"
    assert cache.bound.max_bytes == 2048 * 10**6 and said == [
        f"warning: INTERP_LATENT_CACHE_MB={setting!r} is not a number of megabytes{hint}; the latent cache keeps "
        "its default bound, 2048 MB (0 turns it off)"]
    monkeypatch.setenv("INTERP_LATENT_CACHE_MB", " 0.0105 ")
    assert LatentCache(tmp_path / "d").bound.max_bytes == 10_500


_READER = """
import logging, sys, time
import numpy as np
from interp_cli.cache import LatentCache
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="note: %(message)s")
cache = LatentCache(sys.argv[1])
hits = misses = wrong = 0
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    for index in range(40):
        code = cache.get(f"k{index}", (10, 128))
        if code is None:
            misses += 1
        elif (code == index).all():
            hits += 1
        else:
            wrong += 1
print(f"hits {hits} misses {misses} wrong {wrong}")
"""


def test_a_reader_beside_a_writer_that_evicts_gets_whole_codes_or_misses(tmp_path):
    """Another process reads the folder while this one writes past a small bound (every write evicts): each read is
    the code written for its key, or a miss; never a damaged entry (removed as such), a wrong code or an error."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "latents"
    writer = LatentCache(folder, max_bytes=10 * 5248 + 100)  # ten of the forty keys fit
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(folder), "3"], stdout=subprocess.PIPE, text=True,
                              env=env)
    rounds = 0
    while reader.poll() is None:
        for index in range(40):
            writer.put(f"k{index}", np.full(SHAPE, index, np.float32))
        rounds += 1
    said = reader.stdout.read()
    assert reader.returncode == 0 and rounds > 1
    last, = said.splitlines()  # no "note: ... damaged" line
    hits, misses, wrong = (int(word) for word in last.split()[1::2])
    assert wrong == 0 and hits > 0 and misses > 0, said
    assert len(_entries(writer)) <= 10
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == [USAGE_RECORD]  # no temp


_ONE_PUT = """
import os
import sys
import numpy as np
from interp_cli.cache import LatentCache
folder, bound, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stats = []
cache = LatentCache(folder, max_bytes=bound)
code = np.ones((10, 128), np.float32)
sys.setprofile(lambda frame, event, arg: stats.append(1) if event == "c_call" and arg in (os.stat, os.lstat) else None)
cache.put(key, code)
sys.setprofile(None)
print(len(stats))
"""


def test_a_process_writing_into_a_cache_under_its_bound_does_not_stat_every_entry(tmp_path):
    """Each process's first write listed and stat()ed every entry (so that a bound lowered since applied at once):
    0.39 s with a full cache of 50,000 ffhq codes, paid by every `interp` run that encoded a new photo. The folder's
    record of its size answers that now: a process whose write leaves the folder under its bound stats a file or
    two, not the 100 entries, and one whose bound is lower than the folder applies it at its first write, as
    before. (The stat calls are counted, not timed: tests never time.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "latents"
    filler = LatentCache(folder, max_bytes=10**7)
    for index in range(100):
        filler.put(f"k{index}", np.full(SHAPE, index, np.float32))
    size = (folder / "k0.npy").stat().st_size
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def stats_of_a_put_in_a_new_process(bound: int, key: str) -> int:
        said = subprocess.run([sys.executable, "-c", _ONE_PUT, str(folder), str(bound), key], env=env, text=True,
                              capture_output=True, check=True).stdout
        return int(said)

    assert stats_of_a_put_in_a_new_process(10**7, "new") < 5
    assert len(_entries(filler)) == 101
    assert stats_of_a_put_in_a_new_process(3 * size + size // 2, "newest") > 100  # a lowered bound: a pass, at once
    kept = _entries(filler)  # the two newest and one of the filler's last (written within a clock tick)
    assert len(kept) == 3 and kept[1:] == ["new", "newest"] and kept[0] in ("k98", "k99")


def test_many_short_writers_keep_the_folder_within_its_bound_and_a_lost_record_costs_one_pass(tmp_path):
    """Writers that each write a code or two and end (one `interp` run each) never reach a pass of their own: the
    record counts their writes, so the folder still keeps to its bound. A record removed or damaged (a half line
    from a full disk) is no record: the next write makes a pass and writes it afresh."""
    import time

    one = np.ones(SHAPE, np.float32)
    LatentCache(tmp_path / "size").put("x", one)
    size = (tmp_path / "size" / "x.npy").stat().st_size
    folder = tmp_path / "latents"
    for index in range(30):
        LatentCache(folder, max_bytes=5 * size + size // 2).put(f"k{index:02}", one * index)
        time.sleep(0.01)
        assert len(list(folder.glob("*.npy"))) <= 5
    assert [path.stem for path in sorted(folder.glob("*.npy"))] == ["k25", "k26", "k27", "k28", "k29"]
    for damage in (None, b"12\n+5", b"lots\n"):
        # Entries put there behind the record's back (another version of interp, a copy), then a record lost
        for index in range(5):
            np.save(folder / f"extra{index}.npy", one)
        record = folder / USAGE_RECORD
        record.unlink()
        if damage is not None:
            record.write_bytes(damage)
        LatentCache(folder, max_bytes=5 * size + size // 2).put("after", one)
        assert len(list(folder.glob("*.npy"))) == 5 and (folder / "after.npy").exists()
        assert record.read_bytes() == b"%d\n" % (5 * size)


def test_a_record_that_undercounts_is_corrected_after_a_share_of_the_bound_is_written(tmp_path):
    """The record can undercount (appends racing a pass are lost; entries copied in behind its back): the folder then
    holds more than the record says. A pass is made once `_EVICT_SHARE` of the bound has been written since the last,
    whatever the record's total, so the folder is back within its bound after that much: with passes only where
    the record said "over", it grew past the bound for as long as the record undercounted."""
    import math

    from interp_cli.cache import _EVICT_SHARE

    one = np.ones(SHAPE, np.float32)
    folder = tmp_path / "latents"
    LatentCache(folder).put("first", one)
    size = (folder / "first.npy").stat().st_size
    bound = 100 * size + size // 2
    for index in range(150):  # over its bound, and a record that says nothing of it
        np.save(folder / f"extra{index:03}.npy", one)
    (folder / USAGE_RECORD).write_bytes(b"%d\n" % size)
    for index in range(math.ceil(bound * _EVICT_SHARE / size)):
        LatentCache(folder, max_bytes=bound).put(f"new{index}", one * index)
    entries = list(folder.glob("*.npy"))
    assert len(entries) == 100 and (folder / "new0.npy").exists()


def _interp_cache(env: dict, *args: str, prefix: list[str] | None = None) -> str:
    """What `interp cache ARGS` prints, run as a user runs it with `env` (after `prefix`'s words); it must succeed
    and say nothing on stderr."""
    import subprocess
    import sys

    done = subprocess.run([*(prefix or []), sys.executable, "-m", "interp_cli", "cache", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def test_interp_cache_says_where_the_cache_is_what_it_holds_and_how_to_clear_it(tmp_path):
    """interp keeps up to about 4 GB in its cache dir (codes and tuned weights, 2 GB each; parsed landmark models,
    65 MB each), and no command said where that is or how big it is. `interp cache` says both, part by part, with
    each part's bound and the command that clears it (the line a shell user can run as it is)."""
    import json
    import os
    import subprocess

    top = tmp_path / "my cache"
    LatentCache(top / "latents").put("k", np.zeros((18, 512), np.float32))
    (top / "tuned").mkdir()
    (top / "tuned" / "t.pt").write_bytes(b"0" * 1000)
    (top / "sha256-records.json").write_text("{}")
    env = dict(os.environ, INTERP_CACHE_DIR=str(top), INTERP_LATENT_CACHE_MB="5")

    def interp(*args):
        return _interp_cache(env, *args)

    report = json.loads(interp("--json"))
    parts = {part["name"]: part for part in report["parts"]}
    code = (top / "latents" / "k.npy").stat().st_size
    latents = code + len(b"%d\n" % code)  # and the folder's size record (cache_folders.USAGE_RECORD), the code's bytes
    assert report["path"] == str(top) and report["bytes"] == latents + 1000 + 2 and report["files"] == 4
    assert (parts["latents"]["bytes"], parts["latents"]["files"], parts["latents"]["bound_bytes"]) == (
        latents, 2, 5e6)
    assert (parts["tuned"]["bytes"], parts["tuned"]["bound_bytes"], parts["tuned"]["bound_env"]) == (
        1000, 2048e6, "INTERP_TUNE_CACHE_MB")
    assert parts["align"]["bytes"] == 0 and parts["align"]["bound_bytes"] is None
    lines = interp().splitlines()
    assert lines[0] == f"{top}: {(latents + 1002) / 1000:.1f} kB in 4 files"
    assert lines[1].split() == ["latents/", f"{latents / 1000:.1f}", "kB,", "at", "most", "5.0", "MB",
                                "($INTERP_LATENT_CACHE_MB):", "encoded", "codes"]
    told = lines[-1].split(": ", 1)
    assert told[0] == "to clear it (safe while interp runs too)"
    subprocess.run(told[1], shell=True, check=True)
    assert not top.exists() and tmp_path.exists()


def test_interp_cache_says_a_part_set_to_0_mb_is_off_and_keeps_what_it_holds(tmp_path):
    """`INTERP_TUNE_CACHE_MB=0` turns the tuned-weights cache off: its entries are neither served nor removed (a
    shared cache's, ruled out for one run). `interp cache` said "tuned/ 1.0 kB, at most 0 bytes", a bound that
    looks broken; it says the part is off, and --json keeps the bound, 0."""
    import json
    import os

    top = tmp_path / "c"
    (top / "tuned").mkdir(parents=True)
    (top / "tuned" / "t.pt").write_bytes(b"0" * 1000)
    env = dict(os.environ, INTERP_CACHE_DIR=str(top), INTERP_TUNE_CACHE_MB="0", INTERP_LATENT_CACHE_MB="5")
    tuned = next(line for line in _interp_cache(env).splitlines() if line.lstrip().startswith("tuned/"))
    assert tuned.split(None, 3)[1:] == ["1.0", "kB,", "off ($INTERP_TUNE_CACHE_MB=0: neither read nor written): "
                                                       "tuned generator weights (--tune)"], tuned
    parts = {part["name"]: part for part in json.loads(_interp_cache(env, "--json"))["parts"]}
    assert (parts["tuned"]["bytes"], parts["tuned"]["bound_bytes"], parts["latents"]["bound_bytes"]) == (1000, 0, 5e6)
    assert (top / "tuned" / "t.pt").stat().st_size == 1000


def test_interp_cache_names_a_bound_under_one_byte_as_it_was_set(tmp_path):
    """`INTERP_TUNE_CACHE_MB=0.0000001` is a bound under one byte, which keeps nothing: off, rightly. `interp cache`
    said "off ($INTERP_TUNE_CACHE_MB=0: ...)", a value that was not the one set; it says the one set. Either part."""
    import os

    env = dict(os.environ, INTERP_CACHE_DIR=str(tmp_path / "c"), INTERP_TUNE_CACHE_MB=" 0.0000001 ",
               INTERP_LATENT_CACHE_MB="1e-9")
    lines = {line.split()[0]: line.split(None, 3)[3] for line in _interp_cache(env).splitlines()[1:3]}
    assert lines == {
        "latents/": "off ($INTERP_LATENT_CACHE_MB=1e-9, under one byte: neither read nor written): encoded codes",
        "tuned/": "off ($INTERP_TUNE_CACHE_MB=0.0000001, under one byte: neither read nor written): tuned generator "
                  "weights (--tune)"}, lines
    env.update(INTERP_TUNE_CACHE_MB="-0", INTERP_LATENT_CACHE_MB="0.0")  # 0 however written: "=0", as before
    assert [line.split(None, 3)[3].split(":")[0] for line in _interp_cache(env).splitlines()[1:3]] == [
        "off ($INTERP_LATENT_CACHE_MB=0", "off ($INTERP_TUNE_CACHE_MB=0"]


def test_interp_cache_says_a_bound_setting_it_cannot_take_as_a_morph_does(tmp_path):
    """`INTERP_TUNE_CACHE_MB=abc` (or -5) keeps the default bound, and a morph says so once; `interp cache` showed
    "at most 2.0 GB ($INTERP_TUNE_CACHE_MB)" with no word, as if the value set were that. Now it says the morph's
    warning on stderr (in "warnings" under --json), and nothing under --quiet; the report is the same."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, INTERP_CACHE_DIR=str(tmp_path / "c"), INTERP_TUNE_CACHE_MB="abc",
               INTERP_LATENT_CACHE_MB="-5")

    def interp(*args):
        done = subprocess.run([sys.executable, "-m", "interp_cli", "cache", *args], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    # The caches named as a morph names them (test_tune, LatentCache): "the encoded codes keeps its default bound"
    # and "the tuned generator weights (--tune) keeps" were the parts' descriptions made into no sentence.
    said = ["warning: INTERP_LATENT_CACHE_MB='-5' is below 0; the latent cache keeps its default bound, 2048 MB "
            "(0 turns it off)",
            "warning: INTERP_TUNE_CACHE_MB='abc' is not a number of megabytes; the tuned-weights cache keeps its "
            "default bound, 2048 MB (0 turns it off)"]
    stdout, stderr = interp()
    assert stderr.splitlines() == said and "at most 2.0 GB ($INTERP_TUNE_CACHE_MB)" in stdout
    stdout, stderr = interp("--json")
    report = json.loads(stdout)
    assert stderr == "" and report["warnings"] == [line.removeprefix("warning: ") for line in said]
    assert [part["bound_bytes"] for part in report["parts"][:2]] == [2048e6, 2048e6]
    assert interp("--quiet")[1] == ""
    env.update(INTERP_TUNE_CACHE_MB="100", INTERP_LATENT_CACHE_MB="0")  # settings it takes: nothing said
    assert interp()[1] == "" and json.loads(interp("--json")[0])["warnings"] == []


def test_interp_cache_in_a_folder_of_the_users_counts_and_clears_only_interps_own(tmp_path):
    """INTERP_CACHE_DIR may name a folder that holds the user's own files (`~`, a job's scratch): `interp cache`
    counted them as interp's, and told `rm -rf` of the whole folder. It counts and removes interp's entries only."""
    import json
    import os
    import subprocess

    top = tmp_path / "scratch"
    LatentCache(top / "latents").put("k", np.zeros((18, 512), np.float32))
    (top / "sha256-records.json").write_text("{}")
    (top / ".sha256-records.tmp-3f2a.json").write_text("{")  # a killed writer's temp (files.temp_name): interp's
    (top / "sha256-records.json.lock").write_text("")  # and the records' lock, as every run leaves it
    (top / "thesis.tex").write_text("mine\n")
    (top / "data").mkdir()
    (top / "data" / "big.bin").write_bytes(b"0" * 100_000)
    env = dict(os.environ, INTERP_CACHE_DIR=str(top))

    def interp(*args):
        return _interp_cache(env, *args)

    report = json.loads(interp("--json"))
    assert report["files"] == 5 and report["bytes"] < 100_000
    told = interp().splitlines()[-1].split(": ", 1)
    assert told[0] == "to clear it (safe while interp runs too)"
    subprocess.run(told[1], shell=True, check=True)
    assert sorted(p.name for p in top.iterdir()) == ["data", "thesis.tex"]
    assert (top / "data" / "big.bin").stat().st_size == 100_000
    assert interp().splitlines()[-1] == "nothing of interp's is in it"


def test_interp_cache_of_a_dir_not_made_yet_says_so(tmp_path):
    """A cache dir no run has made yet (a fresh install, a new INTERP_CACHE_DIR) was "nothing of interp's is in it",
    of a folder that is not there; the report (sizes 0, the parts) and --json are as before, nothing is made."""
    import json
    import os

    env = dict(os.environ, INTERP_CACHE_DIR=str(tmp_path / "new" / "cache"))
    lines = _interp_cache(env).splitlines()
    assert lines[0] == f"{tmp_path / 'new' / 'cache'}: 0 bytes in 0 files"
    assert lines[-1] == "it does not exist yet: interp makes it when a run first caches something"
    assert json.loads(_interp_cache(env, "--json"))["clear"] == []
    assert not (tmp_path / "new").exists()


def test_interp_cache_through_a_symlinked_dir_clears_the_entries_not_the_link(tmp_path):
    """INTERP_CACHE_DIR may be a link to a bigger disk (`~/.cache/interp -> /scratch/interp`). The command told was
    `rm -rf -- LINK`, which removes the link and leaves every entry where it was; it names the entries."""
    import os
    import subprocess

    real = tmp_path / "scratch" / "interp"
    LatentCache(real / "latents").put("k", np.zeros((18, 512), np.float32))
    (real / "sha256-records.json").write_text("{}")
    link = tmp_path / "interp-cache"
    link.symlink_to(real, target_is_directory=True)
    told = _interp_cache(dict(os.environ, INTERP_CACHE_DIR=str(link))).splitlines()[-1].split(": ", 1)
    assert told[0] == "to clear it (safe while interp runs too)"
    subprocess.run(told[1], shell=True, check=True)
    assert list(real.iterdir()) == [] and link.is_symlink()  # the entries gone; the user's link kept, and used next


def test_interp_cache_names_what_it_cannot_read_and_does_not_call_it_empty(tmp_path):
    """A part this user may not read (another user's, a `chmod 000`) was counted as 0 bytes, and a cache dir that
    cannot be read was "nothing of interp's is in it": the folder names what could not be counted, and why."""
    import json
    import os

    from tests.file_modes import file_modes_binding

    top = tmp_path / "cache"
    LatentCache(top / "latents").put("k", np.zeros((18, 512), np.float32))
    env = dict(os.environ, INTERP_CACHE_DIR=str(top))
    prefix = file_modes_binding()
    try:
        (top / "latents").chmod(0)
        lines = _interp_cache(env, prefix=prefix).splitlines()
        assert f"cannot be read, not counted: {top / 'latents'} (Permission denied)" in lines
        report = json.loads(_interp_cache(env, "--json", prefix=prefix))
        assert report["unreadable"] == [{"path": str(top / "latents"), "error": "Permission denied"}]
        (top / "latents").chmod(0o700)
        top.chmod(0)
        lines = _interp_cache(env, prefix=prefix).splitlines()
        assert lines[-1] == f"cannot be read, not counted: {top} (Permission denied)"
        assert "nothing of interp's is in it" not in lines
        report = json.loads(_interp_cache(env, "--json", prefix=prefix))
        assert (report["bytes"], report["files"]) == (0, 0) and all(part["bytes"] == 0 for part in report["parts"])
        top.chmod(0o700)
        (top / "align" / "inner").mkdir(parents=True)  # a folder deeper in a part is named itself, not the part
        (top / "align" / "inner").chmod(0)
        report = json.loads(_interp_cache(env, "--json", prefix=prefix))
        assert report["unreadable"] == [{"path": str(top / "align" / "inner"), "error": "Permission denied"}]
    finally:
        top.chmod(0o700)
        (top / "latents").chmod(0o700)
        if (top / "align" / "inner").exists():
            (top / "align" / "inner").chmod(0o700)


def test_interp_cache_follows_no_symlink_in_the_dir_to_count_or_to_clear(tmp_path):
    """A part moved to another disk by a link (`latents -> /big/latents`) was shown as the link's own few bytes, as if
    empty; it is named as a link, not counted. No link is followed by the command told: what a link inside points at
    (anyone's folder) stays, and so do the entries of a moved part (the user's to remove there)."""
    import json
    import os
    import subprocess

    top = tmp_path / "cache"
    big = tmp_path / "big" / "latents"
    LatentCache(big).put("k", np.zeros((18, 512), np.float32))
    top.mkdir()
    (top / "latents").symlink_to(big, target_is_directory=True)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_bytes(b"0" * 100_000)
    (top / "tuned").mkdir()
    (top / "tuned" / "elsewhere").symlink_to(precious, target_is_directory=True)
    env = dict(os.environ, INTERP_CACHE_DIR=str(top))
    lines = _interp_cache(env).splitlines()
    assert lines[1].split(",")[0].split() == ["latents/", "a", "link", "to", str(big)]
    report = json.loads(_interp_cache(env, "--json"))
    parts = {part["name"]: part for part in report["parts"]}
    assert parts["latents"]["link"] == str(big) and parts["tuned"]["link"] is None
    assert report["bytes"] < 1000  # neither the moved codes nor the linked folder's 100 kB
    subprocess.run(lines[-1].split(": ", 1)[1], shell=True, check=True)
    assert not top.exists() and (precious / "thesis.tex").stat().st_size == 100_000 and (big / "k.npy").exists()


def test_a_cache_dir_removed_over_and_over_while_a_tuned_morph_runs_changes_nothing_it_writes(tmp_path):
    """`interp cache` told users to clear it only "while no interp runs". Each cache reads what it finds and makes
    again what is gone (an open or mapped entry is still read once removed) and writes best effort, so a `rm -rf`
    looped through a whole `--tune` morph (latents, tuned weights, records and locks removed under it) leaves its exit
    and its GIF as they are without it; at most a write that lost its folder warns. The command says so."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "examples"

    def morph(name: str, cache: Path) -> tuple[subprocess.CompletedProcess, bytes]:
        done = subprocess.run([sys.executable, "-m", "interp_cli", str(examples / "demo_a.png"),
                               str(examples / "demo_b.png"), "--weights", "demo", "--tune", "20", "--steps", "4",
                               "--quiet", "-o", str(tmp_path / name)],
                              env=dict(os.environ, INTERP_CACHE_DIR=str(cache)), capture_output=True, text=True,
                              timeout=300)
        return done, (tmp_path / name).read_bytes() if done.returncode == 0 else b""

    calm, expected = morph("calm.gif", tmp_path / "calm")
    assert calm.returncode == 0 and calm.stderr == "", calm.stderr
    raced = tmp_path / "raced"
    looping = subprocess.Popen(["bash", "-c", 'while :; do rm -rf -- "$0" 2>/dev/null; done', str(raced)],
                               start_new_session=True)
    try:
        done, written = morph("raced.gif", raced)
    finally:
        os.killpg(looping.pid, signal.SIGKILL)
        looping.wait()
    assert done.returncode == 0 and written == expected, done.stderr
    assert all(" cache not written (" in line for line in done.stderr.splitlines()), done.stderr
    LatentCache(raced / "latents").put("k", np.zeros(SHAPE, np.float32))
    told = _interp_cache(dict(os.environ, INTERP_CACHE_DIR=str(raced))).splitlines()[-1]
    assert told.startswith("to clear it (safe while interp runs too): rm -rf -- ")


def test_interp_cache_tells_a_clearing_line_that_works_where_a_folder_of_yours_cannot_be_read(tmp_path):
    """A part this user cannot read got the `rm -rf` line, which failed on it ("Permission denied", exit 1): rm must
    list a folder to empty it. The folder is made readable first in the same line, deeper ones too."""
    import os
    import subprocess

    from tests.file_modes import file_modes_binding

    top = tmp_path / "cache"
    LatentCache(top / "latents").put("k", np.zeros(SHAPE, np.float32))
    (top / "tuned" / "deep").mkdir(parents=True)
    (top / "tuned" / "deep" / "t.pt").write_bytes(b"0" * 1000)
    prefix = file_modes_binding()
    try:
        (top / "tuned" / "deep").chmod(0)
        (top / "latents").chmod(0)
        lines = _interp_cache(dict(os.environ, INTERP_CACHE_DIR=str(top)), prefix=prefix).splitlines()
        assert f"cannot be read, not counted: {top / 'latents'} (Permission denied)" in lines
        done = subprocess.run([*prefix, "bash", "-c", lines[-1].split(": ", 1)[1]], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert not top.exists()
    finally:
        for folder in (top / "latents", top / "tuned" / "deep"):
            if folder.exists():
                folder.chmod(0o700)


@pytest.mark.parametrize("locked", ["part", "deeper", "dir"])
def test_interp_cache_tells_a_clearing_line_that_works_where_a_folder_of_yours_cannot_be_written(tmp_path, locked):
    """A folder this user can read but not write (`chmod 555`: a part, one inside it, or the cache dir itself) or
    not search (`chmod 600`) got the bare `rm -rf` line, which listed it and then failed on each entry ("Permission
    denied", exit 1). The line now makes it writable first; run as printed, it leaves no cache behind."""
    import os
    import subprocess

    from tests.file_modes import file_modes_binding

    top = tmp_path / "cache"
    LatentCache(top / "latents").put("k", np.zeros(SHAPE, np.float32))
    (top / "tuned" / "deep").mkdir(parents=True)
    (top / "tuned" / "deep" / "t.pt").write_bytes(b"0" * 1000)
    modes = {"part": {top / "latents": 0o555, top / "tuned": 0o600},
             "deeper": {top / "tuned" / "deep": 0o555},
             "dir": {top: 0o555}}[locked]
    prefix = file_modes_binding()
    try:
        for folder, mode in modes.items():
            folder.chmod(mode)
        lines = _interp_cache(dict(os.environ, INTERP_CACHE_DIR=str(top)), prefix=prefix).splitlines()
        assert not any("you cannot clear it" in line for line in lines), lines
        done = subprocess.run([*prefix, "bash", "-c", lines[-1].split(": ", 1)[1]], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert not top.exists()
    finally:
        for folder in modes:
            if folder.exists():
                folder.chmod(0o700)


@pytest.mark.parametrize("holding", ["files and a folder", "folders only"])
def test_interp_cache_says_a_folder_of_yours_it_can_list_but_not_search_is_not_counted(tmp_path, holding):
    """A folder of yours with mode 600 lists its files' names, but their sizes cannot be looked at: `interp cache`
    counted them as "0 bytes" and said nothing, where an unreadable folder is said. Now it is said the same way, once
    (not per file, nor again for the folders inside it), and the clearing line still clears it as printed. Holding
    folders only, it was said as each folder inside (their own modes fine), never as itself: its searchability is
    now looked at before the walk goes in."""
    import json
    import os
    import subprocess

    from tests.file_modes import file_modes_binding

    top = tmp_path / "cache"
    LatentCache(top / "latents").put("k", np.zeros(SHAPE, np.float32))
    tuned = top / "tuned"
    for inner in ("deep", "deep2") if holding == "folders only" else ("deep",):
        (tuned / inner).mkdir(parents=True)
        (tuned / inner / "t.pt").write_bytes(b"0" * 1000)
    if holding == "files and a folder":
        (tuned / "a.pt").write_bytes(b"0" * 1000)
        (tuned / "b.pt").write_bytes(b"0" * 1000)
    env = dict(os.environ, INTERP_CACHE_DIR=str(top))
    prefix = file_modes_binding()
    try:
        tuned.chmod(0o600)
        lines = _interp_cache(env, prefix=prefix).splitlines()
        assert [line for line in lines if line.startswith("cannot be read")] == [
            f"cannot be read, not counted: {tuned} (Permission denied)"], lines
        report = json.loads(_interp_cache(env, "--json", prefix=prefix))
        assert report["unreadable"] == [{"path": str(tuned), "error": "Permission denied"}]
        done = subprocess.run([*prefix, "bash", "-c", lines[-1].split(": ", 1)[1]], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert not top.exists()
    finally:
        if tuned.exists():
            tuned.chmod(0o700)


def test_interp_cache_leaves_out_of_its_clearing_line_a_part_holding_another_users_unreadable_folder(tmp_path):
    """A folder of another user's that this one cannot read cannot be emptied by anything this user runs: the part
    holding it is left out of the line told (which then clears the rest, exit 0), and its line says so."""
    import os
    import subprocess

    from tests.file_modes import file_modes_binding

    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    top = tmp_path / "cache"
    LatentCache(top / "latents").put("k", np.zeros(SHAPE, np.float32))
    theirs = top / "tuned" / "theirs"
    theirs.mkdir(parents=True)
    (theirs / "t.pt").write_bytes(b"0" * 1000)
    prefix = file_modes_binding()
    try:
        os.chown(theirs, 65534, 65534)
        theirs.chmod(0)
        lines = _interp_cache(dict(os.environ, INTERP_CACHE_DIR=str(top)), prefix=prefix).splitlines()
        assert (f"cannot be read, not counted: {theirs} (Permission denied); you cannot clear it, so the line below "
                "leaves its part alone") in lines
        done = subprocess.run([*prefix, "bash", "-c", lines[-1].split(": ", 1)[1]], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert sorted(os.listdir(top)) == ["tuned"]
    finally:
        theirs.chmod(0o700)
    assert (theirs / "t.pt").stat().st_size == 1000



def test_a_miss_whose_write_never_came_is_not_named_in_a_later_tuned_warning(tmp_path):
    """A Python caller's Session whose encode_inputs failed between a miss and its write (`check_faces` refusing the
    photos before --refine, as a morph of one face twice is refused; a stop) kept the latent cache "still to be
    written" for good: a later morph of that Session that only read the latent cache, then could not write its tuned
    weights (a full disk both share), was told "latent and tuned-weights caches not written". Only the tuned-weights
    cache had anything to write."""
    import errno
    from pathlib import Path

    from interp_cli.errors import UsageError
    from interp_cli.pipeline import EncodeSettings, Session

    examples = Path(__file__).resolve().parents[1] / "examples"
    faces = [examples / "demo_a.png", examples / "demo_b.png"]
    said = []
    session = Session("demo", "cpu", log=said.append, progress=False, cache_dir=tmp_path)
    session.encode_inputs(faces)  # the plain codes, cached

    def refuse(found):
        raise UsageError("the same face twice")

    with pytest.raises(UsageError):  # the refined codes missed; refining never came
        session.encode_inputs(faces, EncodeSettings(refine=2), check_faces=refuse)
    calls = session.encoder_calls
    session.encode_inputs(faces)  # a --tune morph's codes: read from the cache, nothing to write
    assert session.encoder_calls == calls and session.cache.hits == 2
    session.tuned_cache.in_use()
    tuned = tmp_path / "tuned"
    full = OSError(errno.ENOSPC, "No space left on device", str(tuned / "entry.pt"))
    session.tuned_cache.failures.not_written("tuned-weights cache", full, tuned)
    assert len(said) == 1 and said[0].startswith(f"warning: tuned-weights cache not written ({tuned}: "), said
    # A miss still to be written when the tuned weights fail is named, as before.
    session.cache.get("0" * 64, (session.model.n_latent, session.model.style_dim))
    said.clear()
    session.tuned_cache.failures.off.clear()
    session.tuned_cache.failures.not_written("tuned-weights cache", full, tuned)
    assert len(said) == 1 and said[0].startswith("warning: tuned-weights and latent caches not written"), said
