"""The GIF writer (`write.open_writer` picks it for a .gif) and the GIF blocks it writes.

Written frame by frame, truly streaming: each frame gets its own 256-colour palette
(median cut, computed on a box-downsampled copy of at most ~32k pixels for speed, then the
full frame mapped to it without dithering, because error diffusion makes smooth skin
"boil" from frame to frame). Pillow's C encoder LZW-compresses the frame; its image block is
spliced into our file with a local colour table, so the writer holds one frame at a time (and the
one before it). A frame stores only the rectangle where it differs from the one before (the rest
stays on screen), and inside it draws the pixels that did not change transparent (255 colours and a
transparent one); a frame equal to the one before is one transparent pixel. Re-quantising pixels
that did not change, each time with another palette, made them flicker (a `--paste` GIF's photo
around the face: 13-18 % of its unchanged pixels moved on screen every frame, now none) and stored
them again each frame (that GIF of the repo's two faces: 4.66 MB, now 0.77 MB).
It loops forever (NETSCAPE2.0 loop count 0). GIF delays are whole centiseconds, so they are
error-diffused to keep the total duration right (30 fps -> 3,3,4,3,3,4 cs...); delays under
2 cs are raised to 2 cs because browsers slow those down to 10 cs (so fps is capped at 50).
`quality` does not apply to GIF or PNG.
"""

from __future__ import annotations

import io
import math
import struct
from typing import TYPE_CHECKING, Optional

from .errors import InterpError
from .limits import GIF_MIN_DELAY_CS
from .files import PathLike, new_temp
from .frame_writer import FrameWriter, check_fps, frame_rate
from .stops import deferred

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


_GIF_PALETTE_SAMPLE = 32768  # pixels used to choose a frame's palette


class GifWriter(FrameWriter):
    """Animated GIF written block by block: one frame in memory, local palette per frame."""

    kind = "gif"

    def __init__(self, path: PathLike, *, fps: float = 30, size=None):
        self.fps = check_fps(fps)
        self.rate = frame_rate(fps)  # exact: the delays add up to frames / rate, an NTSC rate's too
        self._fh = None
        self._previous: Optional[np.ndarray] = None  # the frame before, to store only what changed
        self._centiseconds = 0  # delay emitted so far, for error diffusion
        super().__init__(path, size=size)
        with self._aborted_on_failure(), deferred():  # the temp made and in hand in one go (FrameWriter)
            self._tmp = new_temp(self.path)
            self._fh = open(self._tmp, "wb")  # closed in _finish / _discard

    def _header(self) -> bytes:
        width, height = self.size  # at most 65,535 each: FrameWriter.write refuses larger frames
        # No global colour table (0x70: 8-bit colour resolution); every frame brings its own.
        screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x70, 0, 0)
        loop_forever = b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"
        return screen + loop_forever

    def _next_delay(self) -> int:
        target = round((self.frames_written + 1) * 100 / self.rate)
        delay = max(GIF_MIN_DELAY_CS, target - self._centiseconds)
        self._centiseconds += delay
        return delay

    def _write(self, frame: np.ndarray) -> None:
        if self.frames_written == 0:
            self._fh.write(self._header())
            box, keep = (0, frame.shape[0], 0, frame.shape[1]), None
        else:
            box, keep = _changed_box(self._previous, frame)
        top, bottom, left, right = box
        block, transparent = _gif_image_block(frame[top:bottom, left:right], left=left, top=top, keep=keep)
        # Graphic control extension: disposal 1 (leave in place), the delay, and the colour drawn transparent
        # (the pixels that did not change: what is on screen there stays).
        flags = 0x04 if transparent is None else 0x05
        control = b"\x21\xf9\x04" + struct.pack("<BHBB", flags, self._next_delay(), transparent or 0, 0)
        self._fh.write(control + block)
        self._previous = frame.copy()  # the caller may reuse its array for the next frame

    def _finish(self) -> None:
        self._fh.write(b"\x3b")  # trailer
        self._fh.close()  # commit() fsyncs it

    def _discard(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _changed_box(previous: np.ndarray, frame: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """((top, bottom, left, right), keep): the smallest rectangle holding every pixel where `frame` differs
    from `previous` (bottom and right exclusive), and inside it, True where a pixel did not change. A frame
    equal to `previous` gives its top left pixel, kept."""
    import numpy as np

    differs = previous != frame
    # The channels OR'd one by one: numpy's any() over a last axis of 3 took 8x as long (50 ms at 1024 px).
    changed = differs[..., 0] | differs[..., 1] | differs[..., 2]
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return (0, 1, 0, 1), np.ones((1, 1), bool)
    columns = np.flatnonzero(changed[rows[0]:rows[-1] + 1].any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    return (top, bottom, left, right), ~changed[top:bottom, left:right]


def _gif_image_block(frame: np.ndarray, *, left: int, top: int,
                     keep: Optional[np.ndarray]) -> tuple[bytes, Optional[int]]:
    """(`frame` as a GIF image block at (left, top) of the screen: descriptor, local colour table, LZW
    data; the colour index drawn transparent, or None). `keep`: [h, w] bool, True for pixels to leave as
    they are on screen: 255 colours and one transparent then."""
    import numpy as np
    from PIL import Image

    img = Image.fromarray(frame, "RGB")
    if keep is not None and keep.all():  # nothing to draw
        # Colour 0 white: a colour table that reads as the grey ramp 0, 1, 2... made Pillow 9.3 take the
        # frame for a greyscale one and fail to read it ("image has no palette").
        blank = Image.new("P", img.size, 0)
        blank.putpalette([255, 255, 255])
        return _extract_image_block(_single_gif(blank, transparency=0), left, top)
    kept = keep is not None and keep.any()
    sample = img
    pixels = img.width * img.height
    if pixels > _GIF_PALETTE_SAMPLE:
        scale = math.sqrt(_GIF_PALETTE_SAMPLE / pixels)
        sample = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.Resampling.BOX)
    # The kept pixels take part in the palette's sample: leaving them out (a strided sample of the others)
    # made median cut 1.5x slower, having no box average to smooth the colours it sorts.
    palette = sample.quantize(255 if kept else 256, method=Image.Quantize.MEDIANCUT)
    indexed = img.quantize(palette=palette, dither=Image.Dither.NONE)
    if kept:
        indices = np.array(indexed)
        # An index no pixel uses: the 256th with a 255-colour palette in recent Pillow (max() costs 0.01 ms at
        # 1024 px); Pillow 9.3 also maps to the palette's padding, so there it is counted for (16 ms). None
        # left for "transparent": every pixel is drawn.
        free = (np.array([255]) if indices.max() < 255
                else np.flatnonzero(np.bincount(indices.ravel(), minlength=256) == 0))
        if free.size:
            indices[keep] = free[0]
            colours = palette.getpalette()
            indexed = Image.fromarray(indices, "P")
            indexed.putpalette(colours + [0] * (768 - len(colours)))
            return _extract_image_block(_single_gif(indexed, transparency=int(free[0])), left, top)
    return _extract_image_block(_single_gif(indexed), left, top)


def _single_gif(indexed: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    indexed.save(buf, format="GIF", interlace=False, **options)
    return buf.getvalue()


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        n = data[pos]
        pos += 1
        if n == 0:
            return pos
        pos += n


def _extract_image_block(gif: bytes, left: int, top: int) -> tuple[bytes, Optional[int]]:
    """From a single-frame GIF, its first image block, with the colour table made local, placed at (left, top),
    and the colour index its graphic control extension draws transparent (None if none): Pillow may have
    renumbered the colours it was given."""
    width_height_packed = struct.unpack_from("<HHB", gif, 6)
    screen_packed = width_height_packed[2]
    pos = 13
    global_table = b""
    transparent = None
    if screen_packed & 0x80:
        n = 3 << ((screen_packed & 7) + 1)
        global_table = gif[pos : pos + n]
        pos += n
    while pos < len(gif):
        intro = gif[pos]
        if intro == 0x21:  # extension: label byte, then sub-blocks
            if gif[pos + 1] == 0xF9 and gif[pos + 3] & 0x01:  # graphic control, with a transparent colour
                transparent = gif[pos + 6]
            pos = _skip_sub_blocks(gif, pos + 2)
        elif intro == 0x2C:
            _, _, w, h, packed = struct.unpack_from("<HHHHB", gif, pos + 1)
            pos += 10
            if packed & 0x80:
                bits = packed & 7
                table = gif[pos : pos + (3 << (bits + 1))]
                pos += len(table)
            else:
                bits, table = screen_packed & 7, global_table
            data_start = pos
            pos = _skip_sub_blocks(gif, pos + 1)  # +1: LZW minimum code size
            descriptor = struct.pack("<BHHHHB", 0x2C, left, top, w, h, 0x80 | (packed & 0x40) | bits)
            return descriptor + table + gif[data_start:pos], transparent
        else:
            break
    raise InterpError("internal error: Pillow produced a GIF without an image block")
