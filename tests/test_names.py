"""interp_cli.names: how a file's name is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp_cli.names import as_typed, line_text, utf8_names, utf8_text


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


@pytest.mark.parametrize("name,shown", [
    ("new\nline.png", "new\\nline.png"),  # a line break cannot split the line it is shown on
    ("tab\there\r.png", "tab\\there\\r.png"),
    ("\x1b[31mred.png", "\\x1b[31mred.png"),  # an escape sequence cannot colour (or clear) the terminal
    ("nul\x00us\x1fdel\x7f.png", "nul\\x00us\\x1fdel\\x7f.png"),  # the first, the last below space, DEL
    ("a b~caf\u00e9.png", "a b~caf\u00e9.png"),  # a space, the last printable ASCII and a letter stay as typed
    (Path("dir") / "new\nline.png", "dir/new\\nline.png"),
])
def test_a_names_control_characters_are_shown_as_escapes_on_a_line(name, shown):
    assert line_text(name) == shown


@pytest.mark.parametrize("text,typed", [
    ("in\udcff.png", "in\\xff.png"),  # the byte itself, as bash's $'in\xff.png' takes it back
    ("\udc80\udcc3-caf\u00e9", "\\x80\\xc3-caf\u00e9"),  # the lowest undecodable byte; valid text stays
    ("plain.png", "plain.png"),
])
def test_an_undecodable_byte_is_shown_as_a_shell_types_it(text, typed):
    assert as_typed(text) == typed


def test_a_summarys_names_keys_included_are_utf8_and_its_numbers_stay():
    summary = {"in\udcff.png": {"frames": 3, "fps": 12.5, "ok": True, "outputs": ["o\udcff.mp4", ("p.png",)]},
               "none": None}
    assert utf8_names(summary) == {"in\ufffd.png": {"frames": 3, "fps": 12.5, "ok": True,
                                                     "outputs": ["o\ufffd.mp4", ["p.png"]]}, "none": None}
