"""The error types and how a message names things for its reader (interp_cli.errors): options, values, the advice
when no face is found, warnings pointed at the caller's line (how a failure is told: test_failures)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from interp_cli.errors import UsageError, cli_words


def test_every_option_a_message_can_name_is_spelt_as_the_command_takes_it():
    """`errors.option` spells a keyword as its flag for the command (--batch-size, --no-align, -o): each of
    the command line's options, read from Click itself, comes out as a flag it accepts. A Python caller
    gets the keyword (`option("align", False)` is `align=False`)."""
    import click

    from interp_cli.cli import cli
    from interp_cli.errors import option

    commands = [cli.commands[name] for name in ("morph", "batch", "encode", "render", "align", "mix")]
    checked = set()
    for command in commands:
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in ("as_json", "quiet"):
                continue  # the output flags are never named in a message
            with cli_words():
                if param.is_flag and param.secondary_opts:  # --align/--no-align
                    assert (option(param.name, True), option(param.name, False)) == \
                        (param.opts[0], param.secondary_opts[0]), param.name
                elif param.is_flag and isinstance(param.flag_value, bool):  # --paste, --no-cache
                    assert option(param.name, param.flag_value) in param.opts, param.name
                else:
                    assert option(param.name) in param.opts, param.name
            checked.add(param.name)
    assert {"batch_size", "align", "cache", "output", "face", "save_aligned", "outdir", "shard"} <= checked
    assert (option("align", False), option("batch_size", 4), option("face", (None, 1))) == \
        ("align=False", "batch_size=4", "face=(None, 1)")


@pytest.mark.parametrize("value", ["off", 'say "hi"', "C:\\photos", "tab\there", "it's", "", "ü"])
def test_a_python_caller_is_shown_each_value_as_python_reads_it(value):
    """A Python caller's refusal shows the value as a keyword it can paste (`noise="off"`): a string holding a
    quote or a backslash is shown as Python's repr, which reads back as the same string; `"say "hi""` did not."""
    from interp_cli.errors import option

    shown = option("noise", value)
    assert shown.startswith("noise=") and ast.literal_eval(shown.removeprefix("noise=")) == value
    if value.isalpha():
        assert shown == f'noise="{value}"'


def test_a_warning_to_a_python_caller_points_at_the_callers_own_line():
    """A warning about a call (an InterpWarning) is located at the first frame outside interp, however deep inside
    interp it is issued: `warnings` shows the caller's file and line, and a filter by module matches the caller."""
    import warnings

    from interp_cli.errors import InterpWarning

    inner = {"__name__": "interp_cli.deep"}
    exec("from interp_cli.errors import warn_caller\n"
         "def deepest():\n    warn_caller('a GIF plays at 50 fps at most')\n"
         "def deep():\n    deepest()\n", inner)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1  # the next line's: the call
        inner["deep"]()
    (warning,) = caught
    assert warning.category is InterpWarning and str(warning.message) == "a GIF plays at 50 fps at most"
    assert (warning.filename, warning.lineno) == (__file__, line)


def test_what_to_try_when_no_face_is_found_names_only_options_the_reader_can_pass():
    """Each no-face advice, in the command's words and in a Python caller's, names options of the commands or
    keywords of the functions it sends the reader to (morph and encode), and no other reader's: `interp align`'s
    advice in Python words sent a shell user to align=False. Only the alignment and --paste morphs saw these lines."""
    import inspect
    import re

    import click

    from interp_cli import pipeline
    from interp_cli.cli import cli
    from interp_cli.errors import no_face_advice, no_face_advice_align, no_face_advice_paste

    flags = {opt for name in ("morph", "encode") for param in cli.commands[name].params
             if isinstance(param, click.Option) for opt in (*param.opts, *param.secondary_opts)}
    keywords = set(inspect.signature(pipeline.morph).parameters)  # encode's align= too: checked with morph's
    assert "align" in inspect.signature(pipeline.encode).parameters
    for advice in (no_face_advice, no_face_advice_paste, no_face_advice_align):
        with cli_words():
            said = advice()
        named = re.findall(r"--[a-z-]+", said)
        assert named and set(named) <= flags and "=" not in said and "()" not in said, said
        said = advice()
        named = re.findall(r"\b([a-z_]+)=", said)
        assert named and set(named) <= keywords and "--" not in said, said
    with cli_words():
        assert no_face_advice_align().startswith("interp align needs")
    assert no_face_advice_align().startswith("align() needs")


def test_face_without_alignment_says_which_setting_turned_alignment_off_in_the_readers_words():
    """--face picks among the faces alignment finds: with alignment off, the refusal says what turned it off (the
    caller's --no-align, or a model that takes crops as they are) and the two ways out, in the reader's words."""
    from interp_cli.errors import face_without_alignment

    with cli_words():
        assert face_without_alignment("a.png", explicit=True) == (
            "a.png: --face picks among the faces that alignment finds, and alignment is off (--no-align is given); "
            "drop --face, or pass --align")
    assert face_without_alignment(None, explicit=False) == (
        "face picks among the faces that alignment finds, and alignment is off (this model, like the demo preset, "
        "takes its inputs as they are); drop face, or pass align=True")
    assert face_without_alignment(None, explicit=True).endswith("(align=False is given); drop face, or pass align=True")


_AB = [str(Path(__file__).resolve().parents[1] / "examples" / name) for name in ("demo_a.png", "demo_b.png")]

_ARRAY_CALLS = {  # a numpy array where a path, a choice, a count or a list of paths belongs: each a caller's slip
    "render codes": lambda np, api, out: api.render(np.zeros((18, 512), "float32"), out / "a.png", weights="demo"),
    "morph output": lambda np, api, out: api.morph(_AB, np.zeros((64, 64)), weights="demo"),
    "morph ease": lambda np, api, out: api.morph(_AB, out / "m.gif", ease=np.zeros((64, 64))),
    "morph inputs": lambda np, api, out: api.morph(np.zeros((2, 64)), out / "m.gif", weights="demo"),
    "morph steps": lambda np, api, out: api.morph(_AB, out / "m.gif", steps=np.zeros((64, 64))),
    "morph face": lambda np, api, out: api.morph(_AB, out / "m.gif", face=[np.zeros((64, 64)), None]),
    "Session weights": lambda np, api, out: api.Session(np.zeros((64, 64))),
}


@pytest.mark.parametrize("call", sorted(_ARRAY_CALLS))
def test_a_numpy_array_where_a_python_caller_meant_a_value_is_refused_in_one_line_naming_it(call, tmp_path):
    """A numpy array passed for a path, a choice or a count (a code in memory given to render(), which takes the
    .npy's path) was refused with the array's repr, many lines of it (`codes=array([[0., 0., ...`), or not refused
    at all: numpy's "truth value ... is ambiguous" ValueError (ease=), os.fspath's TypeError (an array of inputs).
    Each is one UsageError line that says what was passed: its type and shape."""
    np = pytest.importorskip("numpy")
    from interp_cli import pipeline

    with pytest.raises(UsageError) as refused:
        _ARRAY_CALLS[call](np, pipeline, tmp_path)
    said = str(refused.value)
    assert "\n" not in said and len(said) < 200, said
    assert "numpy.ndarray of shape (" in said, said
    assert not any(tmp_path.iterdir()), "nothing is written"
    if call == "render codes":  # and the code in memory is drawn as the refusal says
        assert said.endswith("; a code in memory is drawn by Session(weights).frames([code]) (uint8 [H, W, 3] images)")
        frame = next(pipeline.Session("demo").frames([np.zeros((10, 128), "float32")]))
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


def test_a_value_is_shown_whole_when_its_repr_is_one_short_line_and_by_its_type_else():
    from interp_cli.errors import shown

    assert shown("x" * 300) == repr("x" * 300)  # what the caller typed, however long
    assert shown(12345678901234567890 ** 5) == repr(12345678901234567890 ** 5)
    assert shown([1, None]) == "[1, None]"
    assert shown(list(range(100))) == "<list of 100 items>"
    assert shown(iter(range(100))).startswith("<range_iterator")
    np = pytest.importorskip("numpy")
    assert shown(np.arange(3)) == "array([0, 1, 2])"
    assert shown(np.zeros((18, 512))) == "<numpy.ndarray of shape (18, 512)>"
