"""The photos a `--paste` morph uses again after encoding, decoded once: the backdrop, which every frame is
pasted into, and with a contact sheet every photo (its tile shows the whole photo beside pasted frames).

    with KeptPhotos() as kept:
        settings = replace(settings, keep_photo=kept.keeper(i))   # alignment hands over the photo it read
        ...
        photo = kept.photo(i, path)                               # [H, W, 3] uint8, as load_image gives it

Each was decoded again where it was used: the decode (0.7 s for a 50 MP JPEG) and, for a photo with a colour
profile, its conversion to sRGB again. Kept in memory, the photo (150 MB at 50 MP) would sit through the other
inputs' encoding and any refining and tuning, where a 1024 px morph's peak is; it waits in an anonymous temp
file instead (`files.ArraySpill`), and reading it back is a copy. A temp folder with no room (or a file-size
limit) is no error: the photo is then decoded again, as before. Measurements in benchmarks/README.md
("Per-morph overhead left on a CPU: the backdrop and ffmpeg").
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from interp_cli.files import ArraySpill
from interp_cli.images import load_image


class KeptPhotos:
    """Photos by input index, as alignment read them (`load_image`'s upright sRGB, as an array)."""

    def __init__(self):
        self._spill = ArraySpill(prefix="interp-photo-")

    def keeper(self, index: int) -> Callable[[np.ndarray], None]:
        """What `EncodeSettings.keep_photo` calls with input `index`'s photo."""
        def keep(photo: np.ndarray) -> None:
            try:
                self._spill.put(index, photo)
            except OSError:
                pass  # no room to keep it: `photo` decodes it again
        return keep

    def photo(self, index: int, path: str | os.PathLike) -> np.ndarray:
        """Input `index`'s photo, [H, W, 3] uint8: the one kept, else `path` decoded (nothing was kept)."""
        if index in self._spill:
            try:
                return self._spill.get(index)
            except OSError:
                pass
        return np.asarray(load_image(path))

    def close(self) -> None:
        self._spill.close()

    def __enter__(self) -> KeptPhotos:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
