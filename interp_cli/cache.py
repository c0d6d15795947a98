"""Latent cache: encoded (and refined) codes on disk, keyed by what determines them.

The key is a hash of the input image's bytes, the weights' sha256 and every setting that changes
the code (alignment, face index, refinement steps and loss), so a batch job that morphs the same
photo many times encodes it once. Entries are small `.npy` files written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

CACHE_DIR_ENV = "INTERP_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$INTERP_CACHE_DIR`, else `$XDG_CACHE_HOME/interp`, else `~/.cache/interp`."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "interp"


def cache_key(**settings) -> str:
    """A stable hash of the settings that determine a code (JSON with sorted keys)."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


class LatentCache:
    """`get(key)` / `put(key, code)` over `<dir>/latents/<key>.npy`; a broken entry counts as a miss."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir() / "latents"
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            code = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return code

    def put(self, key: str, code: np.ndarray) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.asarray(code, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, self._path(key))
        except OSError:
            # A cache that cannot be written (read-only home, full disk) must not fail the morph.
            pass
