"""`interp align` as a Python caller meets it (`interp_cli.align_verb.align`): the crop it writes, its summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interp_cli.errors import UsageError

pytest.importorskip("cv2", reason="the align extra is not installed")

FACES = Path(__file__).parent / "data" / "faces"


def test_align_writes_the_crop_the_morph_aligns_at_1024_px_and_its_quad_to_two_places(tmp_path):
    """Without `size`, the crop is FFHQ's 1024 px, pixel for pixel what alignment gives the morph for that face; the
    summary names the face picked (0: the leftmost of two) and its quad in source pixels, rounded to 0.01 px."""
    from interp_cli.align import align_face
    from interp_cli.align_verb import align
    from interp_cli.images import load_image

    photo = FACES / "two_people.jpg"
    out = tmp_path / "left.png"
    summary = align(photo, out, face=0, log=lambda line: None)
    expected = align_face(np.asarray(load_image(photo)), face=0, name=str(photo))
    written = np.asarray(Image.open(out).convert("RGB"))
    assert written.shape == (1024, 1024, 3)
    assert np.array_equal(written, np.asarray(expected.image.convert("RGB")))
    assert (summary["output"], summary["faces"], summary["face"]) == (str(out), 2, 0)
    quad = np.array(summary["quad"])
    assert quad.shape == (4, 2) and np.abs(quad - expected.quad).max() <= 0.005 + 1e-9
    assert np.array_equal(np.round(quad, 2), quad)  # what --json prints: no longer than 0.01 px


def test_a_face_number_below_zero_is_refused_and_nothing_is_written(tmp_path):
    from interp_cli.align_verb import align

    out = tmp_path / "a.png"
    with pytest.raises(UsageError, match=r"face must be at least 0 \(got -1\)"):
        align(FACES / "two_people.jpg", out, face=-1, log=lambda line: None)
    assert not out.exists()
