"""interp_cli.names: how a file's name is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp_cli.names import utf8_text


@pytest.mark.parametrize("name,shown", [
    (b"in\xff.png", "in\ufffd.png"),  # a bytes path from a Python caller: its bytes that are not UTF-8
    (b"caf\xc3\xa9.png", "caf\u00e9.png"),
    ("in\udcff.png", "in\ufffd.png"),  # the file system's undecodable byte, as Python hands it over
    (Path("dir") / "in\udcff.png", "dir/in\ufffd.png"),
    ("caf\udcc3\udca9.png", "caf\u00e9.png"),  # escaped bytes that make UTF-8 together: the name os.fsencode gives
    ("caf\u00e9.png", "caf\u00e9.png"),
])
def test_utf8_text_of_bytes_and_escaped_names(name, shown):
    assert utf8_text(name) == shown


@pytest.mark.parametrize("name,shown", [
    ("a\ud800.png", "a\ufffd.png"),  # a lone surrogate no file system made: it was a "?"
    ("\udcff\ud800\u00e9", "\ufffd\ufffd\u00e9"),  # and so was the undecodable byte beside it
])
def test_a_python_callers_lone_surrogate_is_u_fffd_as_an_undecodable_byte_is_not_a_question_mark(name, shown):
    assert utf8_text(name) == shown
    assert utf8_text(name).encode("utf-8")  # what a page or strict JSON takes
