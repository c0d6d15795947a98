"""The one way tests and benchmarks find a browser and read what a page shows (tests/test_page.py,
benchmarks/bench_page.py): Debian's or any Chromium on PATH, driven by Playwright."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
from PIL import Image

# Every host name fails to resolve: a page that needed the network could not get it.
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND"]

# The displayed <img> drawn into a canvas at its natural size and handed back as a PNG (lossless, and far
# smaller to pass over than a pixel array), with the frame number the page says it shows.
_SHOWN = """async () => {
    const img = document.getElementById("frame");
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    canvas.getContext("2d").drawImage(img, 0, 0);
    return [canvas.toDataURL("image/png"), document.getElementById("count").textContent];
}"""


def chromium() -> str | None:
    """A Chromium executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def shown_frame(page) -> tuple[int, np.ndarray]:
    """(the frame number an interp page says it shows, that frame's pixels as the browser decoded them)."""
    uri, count = page.evaluate(_SHOWN)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))
    return int(count.split("/")[0]), pixels
