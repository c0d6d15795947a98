"""interp_cli.sheet: the contact sheet's layout (inputs letterboxed, evenly spaced frames, captions)."""

from __future__ import annotations

import numpy as np
import pytest

from interp_cli.errors import UsageError
from interp_cli.sheet import SHEET_TILE_MAX, contact_sheet, input_thumbnail, sheet_tile


def test_contact_sheet_layout(tmp_path):
    frames = [np.full((20, 30, 3), 10 * i, np.uint8) for i in range(10)]
    photo = np.zeros((40, 40, 3), np.uint8)
    sheet = contact_sheet(frames, [photo, photo], columns=4)
    gap = 2
    assert sheet.dtype == np.uint8
    assert sheet.shape == (20 + 2 * gap, 6 * 30 + 7 * gap + 4 * gap, 3)
    # Inputs letterboxed into 30x20 tiles: the square photo becomes 20x20, centred, white bars.
    first_tile = sheet[gap : gap + 20, gap : gap + 30]
    assert (first_tile[:, 5:25] == 0).all() and (first_tile[:, :5] == 255).all()
    # Four evenly spaced frames, first and last included: 0, 3, 6, 9.
    x0 = gap + 2 * (30 + gap) + 4 * gap
    shown = [int(sheet[gap + 5, x0 + k * (30 + gap) + 5, 0]) for k in range(4)]
    assert shown == [0, 30, 60, 90]
    # The morph's frames are set apart from the inputs by a wider gap, white up to the first frame.
    assert (sheet[gap : gap + 20, x0 - 5 * gap : x0] == 255).all() and (sheet[gap : gap + 20, x0] == 0).all()
    assert contact_sheet(frames).shape[1] == 10 * 30 + 11 * gap  # default: every frame given, no inputs
    assert contact_sheet(frames, columns=99).shape[1] == 10 * 30 + 11 * gap


def test_contact_sheet_labels_go_below_the_tiles():
    frames = [np.full((64, 64, 3), 128, np.uint8) for _ in range(3)]
    plain = contact_sheet(frames)
    labelled = contact_sheet(frames, label=True)
    assert labelled.shape[0] > plain.shape[0]
    assert np.array_equal(labelled[: plain.shape[0] - 2], plain[:-2])  # tiles untouched
    assert (labelled[plain.shape[0] :] < 128).any()  # some dark caption pixels


def test_spaced_picks_evenly_among_the_frames_given_ends_included():
    from interp_cli.sheet import spaced

    assert spaced(4, range(10)) == [0, 3, 6, 9]
    assert spaced(8, range(9)) == [0, 1, 2, 3, 5, 6, 7, 8]  # an odd count: one gap is wider, the ends stay
    assert spaced(8, [0, 11, 12, 23]) == [0, 11, 12, 23]  # fewer than asked: all of them
    assert spaced(1, range(5)) == [0]
    assert spaced(2, [3, 7, 9]) == [3, 9]


def test_a_morph_with_a_sheet_imports_no_numpy_ma(tmp_path):
    """Picking the sheet's frames (`spaced`, run on every morph) used np.unique, whose first call imports numpy.ma:
    6-26 ms of a cold 64 px morph's ~0.6 s, for nothing else of it. A fresh process, as a user's command runs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    # numpy before 2.0 imports numpy.ma with numpy itself (the floor's 1.23 does): nothing to save there.
    eager = subprocess.run([sys.executable, "-c", "import sys, numpy; print('numpy.ma' in sys.modules)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    if eager == "True":
        pytest.skip("this numpy imports numpy.ma with numpy itself")
    code = ("import sys\nfrom interp_cli.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('numpy.ma' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code, str(root / "examples" / "demo_a.png"),
                           str(root / "examples" / "demo_b.png"), "--weights", "demo", "--steps", "3", "--no-cache",
                           "-q", "-o", str(tmp_path / "m.gif"), "--sheet", str(tmp_path / "s.png")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"
    assert (tmp_path / "m.gif").exists() and (tmp_path / "s.png").exists()


@pytest.mark.parametrize("shape, rows, cols", [
    ((20, 60), range(5, 15), range(0, 30)),  # wide: 30x10, white bars above and below
    ((60, 20), range(0, 20), range(11, 18)),  # tall: 7x20, white bars left and right
    ((1, 300), range(9, 10), range(0, 30)),  # a strip one pixel high still shows, as one row
    ((300, 1), range(0, 20), range(14, 15)),  # and one a pixel wide, as one column
])
def test_an_input_of_another_shape_is_centred_in_its_tile_between_white_bars(shape, rows, cols):
    frames = [np.full((20, 30, 3), 128, np.uint8)]
    sheet = contact_sheet(frames, [np.zeros((*shape, 3), np.uint8)])
    tile = sheet[2:22, 2:32, 0]
    dark = np.zeros(tile.shape, bool)
    dark[rows.start : rows.stop, cols.start : cols.stop] = True
    assert (tile[dark] < 128).all() and (tile[~dark] == 255).all()


def test_a_sheet_of_one_column_shows_the_first_frame_and_none_is_refused():
    frames = [np.full((20, 30, 3), 10 * i, np.uint8) for i in range(5)]
    one = contact_sheet(frames, columns=1)
    assert one.shape == (24, 34, 3) and (one[2:22, 2:32] == 0).all()
    with pytest.raises(UsageError, match="contact sheet columns must be at least 1, got 0"):
        contact_sheet(frames, columns=0)


def test_a_sheet_of_no_frames_is_refused_in_words():
    """A Python caller's empty list (a render that gave nothing) is said as such, not numpy's IndexError."""
    with pytest.raises(ValueError, match="^contact_sheet needs at least one frame$"):
        contact_sheet([], [np.zeros((8, 8, 3), np.uint8)])


def test_a_frame_of_another_size_than_the_first_is_refused_naming_it():
    """The tiles take the first frame's size; a later frame of another size is the one named."""
    frames = [np.full((20, 30, 3), 10 * i, np.uint8) for i in range(4)] + [np.zeros((10, 12, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"^frame 4 is 12x10, expected 30x20$"):
        contact_sheet(frames)
    assert contact_sheet(frames, columns=1).shape == (24, 34, 3)  # only frame 0 shown: the others never drawn


def test_each_caption_names_its_tile_centred_input_1_2_then_the_frame_numbers_shown():
    """The captions read "input 1", "input 2" (counted from 1, as the command line's photos), then the numbers of
    the frames picked ("frame 0", "frame 3", ...), each centred under its tile within a pixel: its ink is that
    word drawn alone in the module's font. Pillow before 10.1 (setup.cfg's floor) has no sized default font, and
    its bitmap one ignores the anchor: each caption began at its tile's middle and ran into the next tile."""
    from PIL import Image, ImageDraw

    from interp_cli.sheet import _font

    frames = [np.full((64, 64, 3), 128, np.uint8) for _ in range(10)]
    photo = np.zeros((64, 64, 3), np.uint8)
    sheet = contact_sheet(frames, [photo, photo], columns=4, label=True)
    gap, font_px = 2, 10
    band = sheet[gap + 64 :, :, 0] < 128  # the captions' ink
    assert band.shape[0] == gap + font_px + 2 * gap
    lefts = [gap, 2 * gap + 64] + [3 * gap + 2 * 64 + 4 * gap + k * (64 + gap) for k in range(4)]

    def ink(mask: np.ndarray) -> np.ndarray:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    def alone(text: str) -> np.ndarray:
        canvas = Image.new("RGB", (96, 32), (255, 255, 255))
        ImageDraw.Draw(canvas).text((8, 8), text, fill=(0, 0, 0), font=_font(font_px))
        return ink(np.asarray(canvas)[..., 0] < 128)

    words = ["input 1", "input 2", "frame 0", "frame 3", "frame 6", "frame 9"]
    outside = np.ones(band.shape[1], bool)
    for left, text in zip(lefts, words):
        under = band[:, left : left + 64]
        cols = np.flatnonzero(under.any(0))
        assert abs(cols[0] - (63 - cols[-1])) <= 1, (text, cols[0], cols[-1])
        assert np.array_equal(ink(under), alone(text)), text
        outside[left : left + 64] = False
    assert not band[:, outside].any()  # no caption runs past its tile
    assert not np.array_equal(alone("input 0"), alone("input 1"))


def test_a_frame_is_kept_for_the_sheet_shrunk_only_past_the_tile_limit():
    small = np.zeros((SHEET_TILE_MAX, SHEET_TILE_MAX // 2, 3), np.uint8)
    assert sheet_tile(small) is small  # at the limit: kept as it is, not copied
    wide = np.zeros((SHEET_TILE_MAX // 2 + 1, 2 * SHEET_TILE_MAX + 2, 3), np.uint8)
    assert sheet_tile(wide).shape == (SHEET_TILE_MAX // 4, SHEET_TILE_MAX, 3)  # the aspect ratio kept (Lanczos)


def test_a_photo_inputs_tile_is_its_crop_else_the_photo_stretched_else_whole_when_pasting():
    from types import SimpleNamespace

    from PIL import Image

    photo = np.zeros((60, 40, 3), np.uint8)
    assert input_thumbnail(None, (30, 20), photo).shape == (20, 30, 3)  # not aligned: stretched to the tile
    crop = SimpleNamespace(image=Image.new("L", (8, 8), 7))  # an AlignedFace's crop, here a grey one
    tile = input_thumbnail(crop, (30, 20), None)
    assert tile.shape == (20, 30, 3) and (tile == 7).all()
    assert input_thumbnail(None, (30, 20), photo, whole=True).shape == (20, 13, 3)  # whole: aspect kept
