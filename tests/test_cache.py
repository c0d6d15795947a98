"""The latent cache: entries are checked before they are trusted, and writing it never fails a morph."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from interp_cli.cache import LatentCache, cache_key

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
    assert [p.name for p in cache.directory.iterdir()] == [f"{key}.npy"]  # no temp left


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
