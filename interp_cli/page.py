"""`-o morph.html`: one self-contained page to scrub a morph, written as the frames arrive.

    about = page_about(names, crops)     # what the page shows beside the slider
    with open_writer("m.html", fps=30, quality=8, about=about) as w:   # write.open_writer picks PageWriter
        for frame in frames:
            w.write(frame)
        w.report(reconstruction)         # the likeness numbers, measured on the frames just written

The page holds every frame as a base64 JPEG in a JavaScript array (filled by one <script> per few MB, so no
string the browser parses grows with the page; frame 0 is the <img>'s own src, which is what a page without
JavaScript shows; with JavaScript a canvas takes its place and each frame shown is decoded into it and freed,
so the tab does not keep every frame decoded), a slider over them (a sideways drag across the frame too; the
keyboard: left/right one frame, Home/End, space or k plays; up/down and the page keys stay the browser's),
one-frame back and on buttons (44 CSS px, for a finger: held, they repeat; they stop at the ends), a play/pause
button that loops at the morph's fps, the inputs' crops (what the encoder saw) with the likeness numbers of
the report, and a `#frame=N` fragment that opens the page at frame N and follows the slider. The frame order is the
video's (`--loop`, `--pingpong` and `--hold` are already in the frame plan), so frame N of the page
is frame N of `-o frames/`, and playing it loops the way a GIF does.

No network: no external script, style or font, and a Content-Security-Policy that allows only
inline code and data: images, so the page works from file:// and behind any proxy.

Streaming: the header (styles, the inputs) is written with the first frame, each frame's JPEG is
encoded, base64'd and appended to the temporary file at once (the writer keeps no frame), and the
page's script comes last, so memory does not grow with the frame count. A frame whose JPEG bytes
equal an earlier frame's (`--hold`, a `--pingpong` return) is stored as that frame's index only.
Atomicity is the FrameWriter's (interp_cli.write, interp_cli.files): a hidden temp, renamed at the end.

Format and quality were measured (benchmarks/README.md, "The HTML page"): JPEG, 4:2:0 chroma,
Huffman tables optimised; `--quality` 0..10 maps to JPEG quality 50 + 5 * quality (8 -> 90).
"""

from __future__ import annotations

import base64
import gc
import hashlib
import html
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from interp_cli import progress
from interp_cli.errors import option
from interp_cli.files import new_temp
from interp_cli.files import PathLike
from interp_cli.names import utf8_text
from interp_cli.stops import deferred
from interp_cli.frame_writer import FrameWriter, check_fps, frame_rate, quality_to_crf

# px: an input's crop is shown at 64 CSS px, so 192 is sharp on a 3x phone screen (most phones now; 128 was
# drawn 1.5x upscaled, visibly soft there); two or three crops of a few KB more, beside the frames' MBs
CROP_MAX = 192
DISPLAY_MIN = 512  # CSS px: small frames (the 64 px demo) are drawn at least this wide where the screen allows
# One <script> element of frames ends once it holds this many characters or entries: no string or literal the
# browser parses grows with the page (one array of every frame was undefined past V8's 536,870,888 characters,
# ~520 frames at 1024 px, and the page opened blank), and a chunk's parse stays well under a frame's time.
CHUNK_CHARS = 4_000_000
CHUNK_ENTRIES = 1000
# A page larger than this opens slowly, so the writer warns once it is done (it still works: the chunks keep
# every frame reachable at any size). Measured with headless Chromium 156 on 2 cores, 1024 px noise frames
# (one pixel changed per frame), load to the last frame shown: 115 MB 3.0 s, 230 MB 4.5 s, 346 MB 5.8 s, 599 MB 12.6 s;
# past ~200 MB the wait is several seconds and the tab holds the page's size again in memory.
SLOW_PAGE_BYTES = 200_000_000


def jpeg_quality(quality: float) -> int:
    """interp's --quality 0..10 (10 best) as a JPEG quality: 50 + 5 * quality (8 -> 90, 10 -> 100)."""
    quality_to_crf(quality)  # the same range check, and the same message, as for an MP4
    return int(round(50 + 5 * quality))


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """One uint8 [H, W, 3] image as JPEG bytes (4:2:0, optimised Huffman tables)."""
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="JPEG", quality=quality, subsampling="4:2:0", optimize=True)
    # Pillow 9.2 (our floor) leaves a reference cycle behind each save into a BytesIO (the caught "no fileno"
    # exception's traceback keeps the save's frame, and with it the JPEG, ~50 KB at 256 px); collecting the
    # youngest generation frees it now, so the page's memory stays flat with every Pillow (costs well under 1 us).
    gc.collect(0)
    return buf.getvalue()


def jpeg_header(data: bytes) -> bytes:
    """The leading bytes of a JPEG that every frame of one size and quality shares (SOI, JFIF, quantisation
    tables, frame header; not the Huffman tables, which `optimize` fits to each frame), cut to a multiple
    of 3 bytes so that its base64 followed by the base64 of a frame's rest is the frame's base64. Stored
    once per page: 177 bytes a frame with Pillow's 4:2:0 JPEGs, about 15 % of a 64 px frame's JPEG."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] in (0xE0, 0xDB, 0xC0):
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return data[:pos - pos % 3]


def page_about(names: Sequence[str], crops: Sequence[Optional[np.ndarray]],
               reconstruction: Optional[Sequence[dict]] = None, title: Optional[str] = None) -> dict:
    """What the page shows beside its slider, one entry per input: its name, its crop (uint8 [H, W, 3],
    or None) and, if already known, its likeness entry from the report (`{"psnr", "ssim", "poor"}`,
    metrics None for a code). A morph measures likeness on its own frames, so it passes the entries
    to `PageWriter.report` once the frames are written instead."""
    inputs = []
    for i, (name, crop) in enumerate(zip(names, crops)):
        # The page is UTF-8: a name with bytes that are not shows U+FFFD for them (names.utf8_text).
        item = {"name": utf8_text(Path(os.fspath(name)).name), "crop": crop}
        if reconstruction is not None:
            item["likeness"] = _likeness(reconstruction[i])
        inputs.append(item)
    return {"inputs": inputs, "title": utf8_text(title) if title else " \u2192 ".join(item["name"] for item in inputs)}


def _likeness(entry: dict) -> dict:
    return {"psnr": entry.get("psnr"), "ssim": entry.get("ssim"), "identity": entry.get("identity"),
            "poor": bool(entry.get("poor")), "untuned_psnr": entry.get("untuned_psnr")}


def _numbers(item: dict) -> str:
    """The likeness line under an input's crop, as HTML (numbers only, no outside text)."""
    if item["psnr"] is None:
        return "a code, no photo"
    ssim = round(item["ssim"], 2) + 0.0  # + 0.0: no "-0.00"
    numbers = f"{item['psnr']:.1f} dB \u00b7 SSIM {ssim:.2f}"
    if item.get("identity") is not None:
        numbers += f" \u00b7 identity {item['identity']:.2f}"
    if item.get("untuned_psnr") is not None:  # after --tune: the numbers are the tuned copy's, as the terminal says
        numbers += f" ({item['untuned_psnr']:.1f} dB untuned)"
    if item.get("poor"):
        numbers += ' <b class="poor">poor</b>'
    return numbers


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size / 1e6:.2g} MB"


class PageWriter(FrameWriter):
    """A self-contained HTML page: frames streamed into a JavaScript array, the player script last."""

    kind = "html"

    def __init__(self, path: PathLike, *, fps: float = 30, quality: float = 8, size=None,
                 about: Optional[dict] = None, log: Optional[Callable[[str], None]] = None):
        self.fps = check_fps(fps)
        self.rate = frame_rate(fps)  # the player's: an NTSC rate's frames at the MP4's times
        self.log = log or progress.message  # the slow-page warning: the caller's log, or a line on stderr
        self._chunk_chars = 0  # characters in the open <script> of frames (0: none open)
        self._chunk_entries = 0
        self._chars = 0  # characters written (the page is ASCII past its head, so about its bytes)
        self.quality = jpeg_quality(quality)
        self.about = about or {"inputs": [], "title": utf8_text(Path(os.fspath(path)).stem)}
        self._fh = None
        self._seen: dict[bytes, int] = {}  # digest of a frame's JPEG -> its first index (20 bytes a frame)
        self._header = b""
        self._report: list[str] = []
        super().__init__(path, size=size)
        with self._aborted_on_failure(), deferred():  # the temp made and in hand in one go (FrameWriter)
            self._tmp = new_temp(self.path)
            self._fh = open(self._tmp, "w", encoding="utf-8", newline="\n")  # closed in _finish / _discard

    def _write(self, frame: np.ndarray) -> None:
        data = encode_jpeg(frame, self.quality)
        digest = hashlib.sha1(data).digest()
        if self.frames_written == 0:
            self._header = jpeg_header(data)
            self._put(self._head(base64.b64encode(data).decode("ascii")))
            self._seen[digest] = 0
            self._entry("null")  # frame 0 is the <img>'s own src (what a page without JavaScript shows)
            return
        earlier = self._seen.get(digest)
        if earlier is not None:
            self._entry(str(earlier))
            return
        self._seen[digest] = self.frames_written
        if data.startswith(self._header):  # always, for frames of one size and quality
            self._entry('"' + base64.b64encode(data[len(self._header):]).decode("ascii") + '"')
        else:
            self._entry('"!' + base64.b64encode(data).decode("ascii") + '"')

    def _put(self, text: str) -> None:
        self._fh.write(text)
        self._chars += len(text)

    def _entry(self, value: str) -> None:
        """One frame's entry, in the open chunk of frames (a new <script> element when there is none)."""
        if self._chunk_entries == 0:
            self._put("<script>\nFRAMES.push(\n")
        self._put(value + ",\n")
        self._chunk_entries += 1
        self._chunk_chars += len(value)
        if self._chunk_chars >= CHUNK_CHARS or self._chunk_entries >= CHUNK_ENTRIES:
            self._end_chunk()

    def _end_chunk(self) -> None:
        if self._chunk_entries:
            self._put(");\n</script>\n")
        self._chunk_entries = self._chunk_chars = 0

    def report(self, reconstruction: Sequence[dict]) -> None:
        """The likeness entries of the report (one per input, as `page_about` takes them), known only once
        the frames are drawn: they are written after the frames and shown under the inputs' crops."""
        self._report = [_numbers(_likeness(entry)) for entry in reconstruction]

    def _finish(self) -> None:
        self._end_chunk()
        self._put("<script>\n")
        for index, numbers in enumerate(self._report):  # JSON strings of our own HTML: safe in a script
            value = json.dumps(numbers).replace("</", "<\\/")
            self._put(f'document.getElementById("like{index}").innerHTML = {value};\n')
        self._put(_PLAYER_SHIPPED)
        self._put("</script>\n</body>\n</html>\n")
        self._fh.close()  # commit() fsyncs it
        if self._chars > SLOW_PAGE_BYTES:
            self.log(f"warning: {self.name}: the page is {_mb(self._chars)}; browsers "
                     f"take long to open a page over {_mb(SLOW_PAGE_BYTES)} (fewer {option('steps')}, a smaller "
                     f"{option('size')} or a lower {option('quality')} make it smaller; an .mp4 is far smaller)")

    def _discard(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def _head(self, first: str) -> str:
        """Everything before the frames' chunks; `first` is the base64 of frame 0's whole JPEG."""
        width, height = self.size
        display = max(width, DISPLAY_MIN)
        cards = "".join(self._card(i, item) for i, item in enumerate(self.about["inputs"]))
        settings = json.dumps({"fps": float(self.rate), "width": width, "height": height})
        return _HEAD.format(
            title=html.escape(self.about["title"]), width=width, height=height,
            display=display, ratio=f"{width / height:.6f}", cards=cards,
            facts=html.escape(f"{width}\u00d7{height} \u00b7 {self.fps:g} fps"),
            settings=settings.replace("</", "<\\/"), header=base64.b64encode(self._header).decode("ascii"),
            first=first,
        )

    def _card(self, index: int, item: dict) -> str:
        name = html.escape(item["name"])
        letter = "abcdefghijklmnopqrstuvwxyz"[index] if index < 26 else str(index + 1)
        crop = item.get("crop")
        if crop is not None:
            image = Image.fromarray(np.ascontiguousarray(crop, dtype=np.uint8), "RGB")
            if max(image.size) > CROP_MAX:
                image.thumbnail((CROP_MAX, CROP_MAX), Image.Resampling.LANCZOS)
            uri = "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(np.asarray(image), self.quality)).decode()
            picture = f'<img src="{uri}" alt="{name}, as the encoder saw it">'
        else:
            picture = '<span class="nocrop">code</span>'
        numbers = _numbers(item["likeness"]) if "likeness" in item else ""  # else filled by report()
        return (f'<figure class="input">{picture}<figcaption><span class="name">{letter}. {name}</span>'
                f'<span class="like" id="like{index}">{numbers}</span></figcaption></figure>')


# The page before the frames. {settings} is JSON; every other field is escaped HTML. The page is dark in either
# colour scheme (a viewer's dark, around the frames), and says so (color-scheme): undeclared, the browser drew its
# own parts for a light page, a white scrollbar down the dark page wherever it scrolls. Text sizes are in rem, so a
# reader's larger default font (the browser's font size setting) enlarges them (px ignored it; 15px is .9375rem
# of the usual 16px), and every text keeps WCAG AAA contrast (7:1) on the page's background, small print too.
_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>
*{{box-sizing:border-box}}
html{{-webkit-text-size-adjust:100%;color-scheme:dark}}
body{{margin:0;padding:16px 12px 24px;background:#16181b;color:#e8e8e8;
 font:.9375rem/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}}
main{{max-width:max(320px,min({display}px,calc(72vh*{ratio})));margin:0 auto}}
h1{{font-size:1rem;font-weight:600;margin:0 0 10px;overflow-wrap:anywhere}}
h1 small{{font-weight:400;color:#a8acb1;margin-left:6px}}
:root{{--chrome:calc(98px + 1.4rem)}}
#frame{{display:block;height:auto;margin:0 auto;border-radius:6px;background:#000;touch-action:pan-y;
 width:min(100%,max(48px,calc((100vh - var(--chrome))*{ratio})));
 width:min(100%,max(48px,calc((100svh - var(--chrome))*{ratio})))}}
@media (max-height:520px){{
 :root{{--chrome:calc(74px + 1.4rem)}}
 body{{padding-top:8px}}
 h1{{margin-bottom:6px}}
 .bar{{margin-top:6px}}
}}
.bar{{display:flex;flex-wrap:wrap;align-items:center;gap:10px;margin:12px 0 4px}}
.bar button{{flex:none;width:44px;height:44px;border:0;border-radius:50%;cursor:pointer;padding:0;display:flex;
 align-items:center;justify-content:center;touch-action:manipulation;-webkit-user-select:none;user-select:none;
 -webkit-touch-callout:none}}
#play{{background:#e8e8e8;color:#16181b}}
.step button{{background:#2a2d31;color:#e8e8e8}}
.step button[aria-disabled=true]{{color:#6b6f75;cursor:default}}
.bar button:focus-visible,#slider:focus-visible{{outline:2px solid #6aa7ff;outline-offset:2px}}
#slider{{flex:1 1 12rem;min-width:0;height:44px;margin:0;accent-color:#6aa7ff;cursor:pointer}}
.step{{flex:none;display:flex;align-items:center;gap:4px;margin-left:auto}}
#count{{flex:none;min-width:5.5em;text-align:center;font-variant-numeric:tabular-nums;white-space:nowrap;color:#c8cacd}}
@media (forced-colors:active){{.bar button{{border:2px solid ButtonText}}}}
.inputs{{display:flex;flex-wrap:wrap;gap:10px 18px;margin-top:12px}}
.input{{display:flex;align-items:center;gap:10px;margin:0;min-width:0}}
.input img,.nocrop{{flex:none;width:64px;height:64px;border-radius:6px;object-fit:cover}}
.nocrop{{display:flex;align-items:center;justify-content:center;background:#2a2d31;color:#b4b8bd;font-size:.75rem}}
.input figcaption{{display:flex;flex-direction:column;min-width:0;font-size:.8125rem}}
.name{{overflow-wrap:anywhere}}
.like{{color:#a8acb1;font-variant-numeric:tabular-nums}}
.poor{{color:#ff8a80;font-weight:600}}
.help{{margin-top:14px;font-size:.75rem;color:#a8acb1}}
.nojs{{margin:8px 0 0;color:#ffcc80}}
@media print{{
 html{{color-scheme:light}}
 body{{background:#fff;color:#000;padding:0}}
 h1 small,#count,.like,.help{{color:#333}}
 .poor{{color:#a00}}
 .nocrop{{background:none;border:1px solid #333;color:#333}}
 #play,#slider,.step button,.help,.nojs{{display:none}}
 #frame,.input{{break-inside:avoid}}
}}
</style>
<noscript><style>.bar,.help{{display:none}}</style></noscript>
</head>
<body>
<main>
<h1>{title} <small>{facts}</small></h1>
<img id="frame" draggable="false" width="{width}" height="{height}" alt="frame 0" src="data:image/jpeg;base64,{first}">
<noscript><p class="nojs">Scrubbing through the frames needs JavaScript, which is off for this page: only the first
frame is shown. (Writing the morph with <code>-o frames/</code> or <code>-o morph.mp4</code> gives every frame
without it.)</p></noscript>
<div class="bar">
<button id="play" type="button" aria-label="Play"><svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
<path id="icon" d="M4 2.5v11l9.5-5.5z" fill="currentColor"/></svg></button>
<input id="slider" type="range" min="0" max="0" value="0" step="1" aria-label="Frame">
<div class="step">
<button id="back" type="button" aria-label="Previous frame" title="Previous frame (&larr;)"><svg viewBox="0 0 16 16"
 width="16" height="16" aria-hidden="true"><path d="M10.5 2.5 5 8l5.5 5.5" fill="none" stroke="currentColor"
 stroke-width="2"/></svg></button>
<output id="count" for="slider" aria-live="off">0</output>
<button id="on" type="button" aria-label="Next frame" title="Next frame (&rarr;)"><svg viewBox="0 0 16 16"
 width="16" height="16" aria-hidden="true"><path d="M5.5 2.5 11 8l-5.5 5.5" fill="none" stroke="currentColor"
 stroke-width="2"/></svg></button>
</div>
</div>
<div class="inputs">{cards}</div>
<p class="help">Drag the slider or across the frame, the &lsaquo; &rsaquo; buttons for one frame (held, they go
on), or the keys: &larr; &rarr; one frame back or on, Home
and End the first and last frame, Space or K play and pause (&uarr; &darr; move the slider once it has focus, and
scroll the page otherwise). The address keeps <code>#frame=N</code>.</p>
</main>
<script>
var MORPH = {settings};
var HEADER = "{header}";
var FRAMES = [];
</script>
"""

# The player: plain ES2017, no libraries. FRAMES[i] is the base64 of a JPEG without the HEADER every frame
# shares, or "!" and a whole JPEG's, or the index of an equal earlier frame; FRAMES[0] is null: frame 0 is
# the <img>'s src as written (so a page without JavaScript shows it). The frames are pushed by one <script>
# element per chunk (PageWriter._entry), so no string or literal the browser parses grows with the page.
_PLAYER = r"""(function () {
  "use strict";
  var n = FRAMES.length;
  var still = document.getElementById("frame");
  // The frames are drawn into one canvas, each decoded (createImageBitmap), drawn and freed: an <img> given each
  // frame's data: URL in turn left the decoded frames in Chromium's image caches, 4 MB each at 1024 px (240 such
  // frames, all shown: a 900 MB tab; 360 MB so; benchmarks/README.md, "The page's step buttons and its memory").
  var view = document.createElement("canvas");
  view.id = "frame";
  view.width = MORPH.width;
  view.height = MORPH.height;
  view.setAttribute("role", "img");
  view.setAttribute("aria-label", "frame 0");
  var context = view.getContext("2d");
  var wanted = 0;
  var drawing = false;
  var slider = document.getElementById("slider");
  var count = document.getElementById("count");
  var play = document.getElementById("play");
  var back = document.getElementById("back");
  var on = document.getElementById("on");
  var icon = document.getElementById("icon");  // drawn, not a font glyph: every phone has the same one
  var PLAY_ICON = "M4 2.5v11l9.5-5.5z";
  var PAUSE_ICON = "M3.5 2.5h3.2v11H3.5zM9.3 2.5h3.2v11H9.3z";
  var current = -1;
  var timer = null;
  var started = 0;
  var startFrame = 0;
  var FIRST = still.getAttribute("src").slice(23);  // after "data:image/jpeg;base64,"

  function bytes(i) {
    var f = FRAMES[i];
    if (typeof f === "number") f = FRAMES[f];
    var text = f === null ? FIRST : f.charAt(0) === "!" ? f.slice(1) : HEADER + f;
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
    var binary = atob(text);
    var out = new Uint8Array(binary.length);
    for (var k = 0; k < binary.length; k++) out[k] = binary.charCodeAt(k);
    return out;
  }

  // One frame decoded at a time; while it decodes, only the latest frame asked for waits (a fast drag skips
  // the frames it passed, as an <img> given a new src before the last one loaded does).
  function draw() {
    if (drawing) return;
    drawing = true;
    var i = wanted;
    createImageBitmap(new Blob([bytes(i)], {type: "image/jpeg"})).then(function (bitmap) {
      context.drawImage(bitmap, 0, 0);
      bitmap.close();
      view.setAttribute("data-drawn", String(i));  // which frame the canvas holds (the tests read it)
      drawn(i);
    }, function () {
      drawn(i);  // not a JPEG this browser decodes: the frame stays as it was, the next one is tried
    });
  }

  function drawn(i) {
    drawing = false;
    if (wanted !== i) draw();
  }

  function clamp(i) {
    return Math.max(0, Math.min(n - 1, i));
  }

  // The address follows at most 4 times a second, then catches up with the last frame: Firefox refuses
  // (throws) history updates beyond about 200 in 10 seconds, which one fast drag would reach.
  var addressTimer = null;
  var addressAt = 0;
  var addressFrame = 0;

  function keepInAddress(i) {
    addressFrame = i;
    if (addressTimer !== null) return;
    var wait = addressAt + 250 - Date.now();
    if (wait <= 0) writeAddress(); else addressTimer = setTimeout(writeAddress, wait);
  }

  function writeAddress() {
    addressTimer = null;
    addressAt = Date.now();
    var hash = "#frame=" + addressFrame;
    if (location.hash === hash) return;
    try {
      history.replaceState(null, "", hash);
    } catch (e) {
      try {
        location.replace(hash);  // a browser that refuses replaceState on file:// pages
      } catch (ignored) {
        // refused too: the frame is shown all the same, and the next move tries again
      }
    }
  }

  var live = false;

  // Whether the counter is read out (a polite live region): set before it changes, as a live region is read once
  // it has changed.
  function readOut(on) {
    if (on !== live) {
      live = on;
      count.setAttribute("aria-live", on ? "polite" : "off");
    }
  }

  function show(i, remember, stepped) {
    i = clamp(i);
    readOut(Boolean(stepped));
    if (i !== current) {
      current = i;
      wanted = i;
      draw();
      view.setAttribute("aria-label", "frame " + i + " of " + (n - 1));
      slider.value = String(i);
      if (timer === null) say();
      count.textContent = i + " / " + (n - 1);
      // At the ends a step button stops, as the arrow keys do (no wrap: a held button would run past the end and
      // on from the other). aria-disabled, not disabled: a focused button that is disabled loses the focus.
      back.setAttribute("aria-disabled", String(i === 0));
      on.setAttribute("aria-disabled", String(i === n - 1));
    }
    if (remember) keepInAddress(i);
  }

  // What a screen reader says of the slider: the frame once it is still (paused, or moved by a key or a drag),
  // "playing" while it plays; a new frame's words ~30 times a second could each be read out. The thumb and the
  // counter (not a live region) follow every frame.
  function say() {
    slider.setAttribute("aria-valuetext", timer === null ? "frame " + current + " of " + (n - 1) : "playing");
  }

  function fromAddress() {
    var match = /^#frame=(\d+)$/.exec(location.hash);
    return match ? clamp(parseInt(match[1], 10)) : null;
  }

  function tick(now) {
    if (timer === null) return;
    if (!started) started = now;
    show((startFrame + Math.floor((now - started) * MORPH.fps / 1000)) % n, false);
    timer = requestAnimationFrame(tick);
  }

  function pause() {
    if (timer === null) return;
    cancelAnimationFrame(timer);
    timer = null;
    icon.setAttribute("d", PLAY_ICON);
    play.setAttribute("aria-label", "Play");
    say();
    keepInAddress(current);
  }

  function start() {
    if (timer !== null || n < 2) return;
    startFrame = current;
    started = 0;
    icon.setAttribute("d", PAUSE_ICON);
    play.setAttribute("aria-label", "Pause");
    // Silent from the moment it plays, not from its first frame's tick: until then a step button's "polite" was
    // still set on a page that said it played.
    readOut(false);
    timer = requestAnimationFrame(tick);
    say();
  }

  // The frame's height leaves room for what is above it and for the controls, so both stay in view. The CSS
  // guesses one line of title; a long title wraps (cut to one line on short screens, its end and the facts were
  // lost at 200 % zoom), so the room is measured: it does not depend on the frame's size, so one pass settles.
  function fit() {
    var above = view.getBoundingClientRect().top + window.scrollY;
    var below = play.parentNode.getBoundingClientRect().bottom - view.getBoundingClientRect().bottom;
    document.documentElement.style.setProperty("--chrome", Math.ceil(above + below) + "px");
  }
  // The canvas takes the <img>'s place (its size, its styles by id) with the <img>'s frame 0 already drawn, so
  // nothing flashes; the <img> stays what a page without JavaScript shows.
  if (still.complete && still.naturalWidth) {
    context.drawImage(still, 0, 0);
    view.setAttribute("data-drawn", "0");
  }
  still.parentNode.replaceChild(view, still);
  fit();
  window.addEventListener("resize", fit);
  slider.max = String(n - 1);
  // The counter keeps the width of its longest text ("1199 / 1199": digits are tabular, 1ch each, and a space
  // or the slash is narrower), so the slider's track does not move as the numbers grow.
  count.style.minWidth = (2 * String(n - 1).length + 3) + "ch";
  slider.addEventListener("input", function () {
    pause();
    show(parseInt(slider.value, 10), true);
  });
  // A finger or a mouse dragged sideways across the frame scrubs as the slider does, its width spanning every
  // frame. Only sideways: the frame keeps vertical panning for the page (touch-action: pan-y). A sideways
  // swipe there was the browser's: Chromium on a phone went back in the history, off the page.
  var drag = null;
  view.addEventListener("pointerdown", function (event) {
    if (n < 2 || event.button !== 0) return;
    pause();  // a hand on the frame holds it, as on the slider
    drag = {id: event.pointerId, x: event.clientX, frame: current};
    view.setPointerCapture(event.pointerId);
  });
  view.addEventListener("pointermove", function (event) {
    if (drag === null || event.pointerId !== drag.id) return;
    var moved = Math.round((event.clientX - drag.x) / view.getBoundingClientRect().width * (n - 1));
    if (moved !== 0 || current !== drag.frame) show(drag.frame + moved, true);
  });
  function endDrag(event) {
    if (drag !== null && event.pointerId === drag.id) drag = null;
  }
  view.addEventListener("pointerup", endDrag);
  view.addEventListener("pointercancel", endDrag);
  if (n > 1) view.style.cursor = "ew-resize";
  play.addEventListener("click", function () {
    if (timer === null) start(); else pause();
  });
  // The step buttons, one frame back or on: on a phone the slider and the frame give a frame ~1.5 CSS px each
  // (240 frames), too fine for a finger, and there are no arrow keys. A click (a tap, Enter or Space) steps once;
  // held down they step again after 400 ms and then 12 times a second, as a held key does, and the click that
  // ends a hold is not one more step. The counter is read out (a polite live region) while these buttons step:
  // a screen reader on a button would say nothing of the frame; the slider, play and the keys turn it off again.
  var hold = null;
  var held = false;
  function step(by) {
    var to = clamp(current + by);
    if (to === current) return false;
    pause();
    show(to, true, true);
    return true;
  }
  function release() {
    if (hold !== null) clearTimeout(hold);
    hold = null;
  }
  [[back, -1], [on, 1]].forEach(function (pair) {
    var button = pair[0], by = pair[1];
    button.addEventListener("click", function (event) {
      var ended = held;
      held = false;
      if (!ended || event.detail === 0) step(by);  // detail 0: a keyboard's or a screen reader's click
    });
    button.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      release();
      held = false;
      hold = setTimeout(function again() {
        held = true;
        hold = step(by) ? setTimeout(again, 83) : null;
      }, 400);
    });
    button.addEventListener("pointerup", release);
    button.addEventListener("pointercancel", release);
    button.addEventListener("pointerleave", release);
    button.addEventListener("contextmenu", function (event) { event.preventDefault(); });  // a long press
  });
  // The page's keys: left/right, Home/End, space and k. Up/down and PageUp/PageDown are the browser's: they
  // scroll the page, or move the focused slider by itself (its input event shows the frame).
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var to = null;
    if (event.key === "ArrowLeft") to = current - 1;
    else if (event.key === "ArrowRight") to = current + 1;
    else if (event.key === "Home") to = 0;
    else if (event.key === "End") to = n - 1;
    else if (event.key === " " || event.key === "k" || event.key === "K") {
      // Space on a focused button is that button's own click (play toggles already, a step button steps); K has
      // no such meaning there, and a button keeps the focus after a click on it, so K toggles here too.
      if (event.key === " " && event.target.tagName === "BUTTON") return;
      event.preventDefault();  // no scroll by a page
      if (event.repeat) return;  // a held key toggles once, not on every auto-repeat
      if (timer === null) start(); else pause();
      return;
    }
    if (to === null) return;
    event.preventDefault();  // the slider would move a second time, the page would scroll
    pause();
    show(to, true);
  });
  window.addEventListener("hashchange", function () {
    var i = fromAddress();
    if (i !== null && i !== current) { pause(); show(i, false); }
  });
  var first = fromAddress();
  show(first === null ? 0 : first, first !== null && String(first) !== location.hash.slice(7));
})();
"""


def _shipped(script: str) -> str:
    """The player as written into every page: without indentation and whole-line comments (1 KB less)."""
    lines = (line.strip() for line in script.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


_PLAYER_SHIPPED = _shipped(_PLAYER)
