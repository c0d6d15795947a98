"""Which input an option names and which face each input gives (interp_cli.inputs)."""

from __future__ import annotations

import pytest

from interp_cli.errors import UsageError
from interp_cli.inputs import faces_per_input, pick_input


def test_an_input_is_named_by_letter_or_one_based_number():
    assert [pick_input("--backdrop", v, 3) for v in ("a", "B", " c ", 1, "2", 3)] == [0, 1, 2, 0, 1, 2]
    for wrong in ("d", 4, 0, "-1", "ab", ""):
        with pytest.raises(UsageError, match=r"--backdrop .*: name one of the inputs \(a, b, c, or 1 to 3\)"):
            pick_input("--backdrop", wrong, 3)


def test_one_face_number_applies_to_every_input_or_only_to_the_backdrop():
    assert faces_per_input(None, 3) == [None, None, None]
    assert faces_per_input(1, 3) == [1, 1, 1]
    assert faces_per_input(1, 3, backdrop_index=2) == [None, None, 1]  # --paste: the others give their largest


def test_faces_per_input_take_one_place_each():
    assert faces_per_input((None, 1), 2) == [None, 1]
    assert faces_per_input((0, 1), 2, backdrop_index=0) == [0, 1]
    with pytest.raises(UsageError, match="--face ,1: 2 values for 3 inputs; .* e.g. --face ,1"):
        faces_per_input((None, 1), 3)
    for bad in ((-1, 0), (True, 0), (0.5, 0)):
        with pytest.raises(UsageError, match="is not a face number"):
            faces_per_input(bad, 2)
