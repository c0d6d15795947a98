"""The contact sheet: one PNG that summarises a morph, the input photos then evenly spaced frames.

    sheet = contact_sheet(frames, inputs=[photo_a, photo_b], columns=8)   # [H, W, 3] uint8
    write_image("sheet.png", sheet)                                        # interp_cli.write
    sheet_tile(frame)                     # a morph's frame as kept for its sheet (longer side <= SHEET_TILE_MAX)
    input_thumbnail(where, size, photo)   # a photo input's tile: its aligned crop, or the photo itself

`interp a.png b.png -o sheet.png` writes only the sheet; `--sheet sheet.png` writes it beside a video.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import UsageError


def _fit(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Letterbox an [h, w, 3] uint8 image into a white width x height tile, keeping its aspect."""
    h, w = img.shape[:2]
    scale = min(width / w, height / h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = np.asarray(Image.fromarray(img, "RGB").resize(new, Image.Resampling.LANCZOS))
    tile = np.full((height, width, 3), 255, np.uint8)
    top, left = (height - new[1]) // 2, (width - new[0]) // 2
    tile[top : top + new[1], left : left + new[0]] = resized
    return tile


def _font(px: int):
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def spaced(count: int, among: Sequence[int]) -> list[int]:
    """`count` of the frame numbers in `among` (ascending), evenly spaced along it, its first and last included
    (all of them when there are no more). A morph's sheet picks among its frames that are not `--hold` copies:
    picked from every frame, `--steps 2 --hold 10` showed four copies of each face and nothing between."""
    among = list(among)
    # sorted(set()), not np.unique: that imports numpy.ma (6-26 ms) on every morph, which uses nothing else of it.
    places = sorted(set(np.rint(np.linspace(0, len(among) - 1, min(count, len(among)))).astype(int).tolist()))
    return [among[i] for i in places]


def contact_sheet(
    frames: list[np.ndarray],
    inputs: Optional[list[np.ndarray]] = None,
    *,
    columns: Optional[int] = None,
    label: bool = False,
) -> np.ndarray:
    """One summary image: the input photos, a gap, then evenly spaced frames, on white.

    frames: [H, W, 3] uint8, all the same size. `columns` frames are shown, evenly spaced,
    always including the first and last (default: every frame given, for callers that have
    already picked them; pass e.g. columns=8 to sample a whole animation).
    inputs: optional [h, w, 3] uint8 photos, letterboxed to H x W, shown first in order.
    label: caption each tile underneath ("input 1", "frame 0", ...).
    Returns [rows, cols, 3] uint8.
    """
    if not frames:
        raise ValueError("contact_sheet needs at least one frame")
    height, width = frames[0].shape[:2]
    count = len(frames) if columns is None else int(columns)
    if count < 1:
        raise UsageError(f"contact sheet columns must be at least 1, got {columns!r}")
    picks = spaced(count, range(len(frames)))
    tiles = [(_fit(np.asarray(img, np.uint8), width, height), f"input {i + 1}") for i, img in enumerate(inputs or [])]
    n_inputs = len(tiles)
    for i in picks:
        frame = np.asarray(frames[i])
        if frame.shape[:2] != (height, width):
            raise ValueError(f"frame {i} is {frame.shape[1]}x{frame.shape[0]}, expected {width}x{height}")
        tiles.append((frame, f"frame {i}"))

    gap = max(2, width // 64)
    group_gap = 4 * gap if n_inputs else 0  # set the inputs apart from the morph
    font_px = max(10, height // 14)
    caption = font_px + 2 * gap if label else 0
    sheet_w = len(tiles) * width + (len(tiles) + 1) * gap + group_gap
    sheet = np.full((height + 2 * gap + caption, sheet_w, 3), 255, np.uint8)
    lefts = []
    x = gap
    for k, (tile, _) in enumerate(tiles):
        if k == n_inputs and n_inputs:
            x += group_gap
        sheet[gap : gap + height, x : x + width] = tile
        lefts.append(x)
        x += width + gap
    if label:
        canvas = Image.fromarray(sheet)
        draw = ImageDraw.Draw(canvas)
        font = _font(font_px)
        for left, (_, text) in zip(lefts, tiles):
            if isinstance(font, ImageFont.FreeTypeFont):
                draw.text((left + width / 2, gap + height + gap), text, fill=(0, 0, 0), font=font, anchor="mt")
            else:  # the bitmap font (`_font`'s fallback) ignores an anchor: its captions began at the tile's middle
                x = left + (width - draw.textlength(text, font=font)) // 2
                draw.text((x, gap + height + gap), text, fill=(0, 0, 0), font=font)
        sheet = np.asarray(canvas).copy()
    return sheet


SHEET_TILE_MAX = 1024  # px, the longer side of a contact sheet tile: 8 pasted 12 MP frames would be 290 MB


def sheet_tile(frame: np.ndarray) -> np.ndarray:
    """A frame kept for the contact sheet, shrunk (Lanczos) when its longer side exceeds SHEET_TILE_MAX."""
    height, width = frame.shape[:2]
    if max(height, width) <= SHEET_TILE_MAX:
        return frame
    scale = SHEET_TILE_MAX / max(height, width)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(frame).resize(new, Image.Resampling.LANCZOS))


def input_thumbnail(where, size, photo: np.ndarray | None, *, whole: bool = False) -> np.ndarray:
    """What the contact sheet shows for a photo input: the whole `photo` (`kept_photos`) if `whole` (pasted frames
    are shown beside the whole photos), else the aligned crop encoding made (`where`, its `AlignedFace`; finding the
    face again cost a second detection per photo), else (not aligned) the photo as the encoder took it, stretched
    to the tile. A code's tile is its rendering, as the morph draws it."""
    if whole:
        image = Image.fromarray(photo)
        image.thumbnail(size, Image.Resampling.LANCZOS)  # keeps the aspect ratio; the sheet letterboxes it
        return np.asarray(image.convert("RGB"))
    if where is not None:
        return np.asarray(where.image.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))
