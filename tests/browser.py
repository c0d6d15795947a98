"""The one way tests and benchmarks find a browser and read what a page shows (tests/test_page.py,
benchmarks/bench_page.py) or how it draws an image or a video (tests/test_images.py, tests/test_write.py):
Debian's or any Chromium on PATH, driven by Playwright."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

# Every host name fails to resolve: a page that needed the network could not get it.
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND"]


def browser_env() -> dict[str, str]:
    """The environment Chromium and Firefox are launched with: their config (crash reports) and dconf's cache go into
    the test session's cache dir (removed with it), where they went into the user's ~/.config and ~/.cache."""
    import os

    home = os.path.join(os.environ["INTERP_CACHE_DIR"], "browser")
    config = os.path.join(home, "config")
    # Firefox makes the desktop's download folder at its start (~/Downloads unless user-dirs.dirs says otherwise).
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "user-dirs.dirs"), "w") as dirs:
        dirs.write(f'XDG_DOWNLOAD_DIR="{os.path.join(home, "downloads")}"\n')
    return dict(os.environ, XDG_CONFIG_HOME=config, XDG_CACHE_HOME=os.path.join(home, "cache"))

# The displayed frame (the player's canvas once it has drawn the frame its counter names, or the <img> of a page
# without JavaScript) copied at its natural size and handed back as a PNG (lossless, and far smaller to pass over
# than a pixel array), with the frame number the page says it shows.
_SHOWN = """async () => {
    const shown = document.getElementById("frame"), count = document.getElementById("count").textContent;
    if (shown.tagName === "IMG") await shown.decode();
    for (let waited = 0; shown.tagName === "CANVAS" && waited < 10000; waited += 10) {
        if (shown.getAttribute("data-drawn") === count.split(" /")[0]) break;
        await new Promise(later => setTimeout(later, 10));
    }
    const canvas = document.createElement("canvas");
    canvas.width = shown.naturalWidth || shown.width; canvas.height = shown.naturalHeight || shown.height;
    canvas.getContext("2d").drawImage(shown, 0, 0);
    return [canvas.toDataURL("image/png"), count];
}"""


def chromium() -> str | None:
    """A Chromium executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_processes(kind: str = "renderer", marker: str | None = None) -> set[int]:
    """The ids of Chromium's processes of one kind (`--type=renderer`, `--type=gpu-process`) running now; with
    `marker`, only those of the browser launched with that extra argument (a switch Chromium ignores), so another
    test's or another user's Chromium is not counted."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and f"--type={kind}".encode() in _cmdline(int(entry.name)):
            pid = int(entry.name)
            for _ in range(8):  # renderer -> zygote -> zygote -> browser
                if marker is None or marker.encode() in _cmdline(pid):
                    found.add(int(entry.name))
                    break
                pid = _parent(pid)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def peak_mb(pids: set[int]) -> float:
    """The largest peak resident memory (Linux's VmHWM) among these processes, in MB (MiB)."""
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak / 1024


def shown_frame(page) -> tuple[int, np.ndarray]:
    """(the frame number an interp page says it shows, that frame's pixels as the browser decoded them)."""
    uri, count = page.evaluate(_SHOWN)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))
    return int(count.split("/")[0]), pixels


# An image or a video's first frame, from a data: URL (a canvas that drew a file:// one could not be read back:
# another origin), drawn into a canvas at its natural size and handed back as a PNG.
_DRAWN = """async ([source, tag]) => {
    const element = document.createElement(tag);
    element.muted = true;
    element.preload = "auto";
    element.src = source;
    if (tag === "img") {
        await element.decode();
    } else {
        await new Promise((done, fail) => {
            element.onloadeddata = done;
            element.onerror = () => fail(new Error("cannot play: " + element.error.message));
        });
    }
    const canvas = document.createElement("canvas");
    canvas.width = element.naturalWidth || element.videoWidth;
    canvas.height = element.naturalHeight || element.videoHeight;
    const context = canvas.getContext("2d");
    // On a loaded machine "loadeddata" can come before the decoded frame does, and drawImage then draws
    // nothing (a transparent canvas, read back as black): draw again until the frame is there (opaque).
    for (let waited = 0; ; waited += 20) {
        context.drawImage(element, 0, 0);
        if (tag === "img" || context.getImageData(0, 0, 1, 1).data[3] === 255 || waited >= 10000) break;
        await new Promise(later => setTimeout(later, 20));
    }
    return canvas.toDataURL("image/png");
}"""


def drawn(browser, data: bytes, mime: str) -> np.ndarray:
    """The RGB pixels a browser draws for an image file's bytes (`mime` image/...) or a video's first frame
    (video/...), in a fresh page."""
    page = browser.new_page()
    try:
        source = f"data:{mime};base64," + base64.b64encode(data).decode()
        uri = page.evaluate(_DRAWN, [source, "video" if mime.startswith("video/") else "img"])
    finally:
        page.close()
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


# Every frame of an animated image as the browser composes it for display (WebCodecs' ImageDecoder: a frame
# that redraws part of the screen comes back whole), with its duration in ms. ImageDecoder needs a secure
# context, which a file:// page is and about:blank is not.
_FRAMES = """async (b64) => {
    const data = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const decoder = new ImageDecoder({data, type: "image/gif"});
    await decoder.tracks.ready;
    const out = [];
    for (let i = 0; i < decoder.tracks.selectedTrack.frameCount; i++) {
        const {image} = await decoder.decode({frameIndex: i});
        const canvas = document.createElement("canvas");
        canvas.width = image.displayWidth; canvas.height = image.displayHeight;
        canvas.getContext("2d").drawImage(image, 0, 0);
        out.push([canvas.toDataURL("image/png"), image.duration / 1000]);
        image.close();
    }
    return out;
}"""


def gif_frames(browser, data: bytes, folder) -> list[tuple[np.ndarray, float]]:
    """(RGB pixels shown, duration in ms) for each frame of a GIF's bytes, from a page written into `folder`."""
    blank = Path(folder) / "blank.html"
    blank.write_text("<!DOCTYPE html><title>gif</title>", encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(blank.as_uri())
        shown = page.evaluate(_FRAMES, base64.b64encode(data).decode())
    finally:
        page.close()
    return [(np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")), ms)
            for uri, ms in shown]
