"""interp_cli.names: how a file's name is shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args,shown", [
    (["a\x1b[2J.png", "b.png", "-o", "o.mp4"], "a\\x1b[2J.png: no such file"),  # interp's own message
    (["a.png", "b.png", "-o", "o\x1b[2J\n.xyz"], "o\\x1b[2J\\n.xyz: unsupported output type"),
    (["a.png", "b.png", "--output=o\x1b]0;pwned\x07.xyz"], "o\\x1b]0;pwned\\x07.xyz: unsupported output type"),
    (["a.png", "b.png", "--size", "7\x1b[31m"], "--size must be a whole number (got 7\\x1b[31m)"),  # click's
    (["batch", "pairs\n\x1b[2J.csv", "--outdir", "out"], "pairs\\n\\x1b[2J.csv: no such file"),
])
def test_a_typed_name_with_control_characters_is_shown_escaped_on_the_one_error_line(tmp_path, args, shown):
    """A batch row's cell went through line_text, a single command's typed name did not: its escape sequence reached
    the terminal raw (off one, click dropped it, so `a\\x1b[2J.png` read `a.png`) and its line break became a space.
    Now the line shows the escapes as typed in $'...', stays one line, and the exit code is still 2 (--json's
    "error" says the same)."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    for name in ("a.png", "b.png"):
        shutil.copy(ROOT / "examples" / f"demo_{name}", tmp_path / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    for json_flag in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "interp_cli", *args, *json_flag], cwd=tmp_path, env=env,
                              capture_output=True, timeout=120)
        stderr = done.stderr.decode()
        line, = stderr.splitlines()
        assert done.returncode == 2 and line.startswith(f"interp: error: {shown}"), stderr
        assert "\x1b" not in stderr and "\x07" not in stderr and stderr.endswith("\n")
        if json_flag:
            assert json.loads(done.stdout)["error"] == line.removeprefix("interp: error: ")
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png"]  # nothing written


def test_a_warning_about_a_typed_name_with_control_characters_shows_them_escaped(tmp_path):
    """A run that succeeds says its warnings on stderr: `warning: chk<ESC>[31m.png: the code reproduces this photo
    poorly ...` sent the escape sequence to the terminal (the rest of the log turned red). Now it reads
    `chk\\x1b[31m.png`, as the closing lines already named it."""
    import os
    import shutil
    import subprocess
    import sys

    from PIL import Image

    shutil.copy(ROOT / "examples" / "demo_a.png", tmp_path / "a.png")
    squares = np.indices((64, 64)).sum(0) // 8 % 2 * 255  # a checkerboard: the demo model cannot draw it
    Image.fromarray(squares.astype(np.uint8)).convert("RGB").save(tmp_path / "chk\x1b[31m.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "INTERP_CACHE_DIR": str(tmp_path / "c")}
    done = subprocess.run([sys.executable, "-m", "interp_cli", "a.png", "chk\x1b[31m.png", "--weights", "demo",
                           "--steps", "2", "--size", "64", "-o", "m.gif"], cwd=tmp_path, env=env, capture_output=True,
                          timeout=300)
    stderr = done.stderr.decode()
    assert done.returncode == 0 and "\x1b" not in stderr, stderr
    assert any(line.startswith("warning: chk\\x1b[31m.png: the code reproduces this photo poorly")
               for line in stderr.splitlines()), stderr


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
