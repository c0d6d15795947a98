"""Every message that suggests an option suggests one that works where it is given.

Each case runs a command that ends in advice, checks that each `--option` the message names is one
the command that printed it takes (from its own --help), then follows the advice and checks that the
new command line is accepted. Alignment cases need the `align` extra (OpenCV + dlib's landmark model).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interp_cli.align import alignment_available
from interp_cli.cli import cli
from tests.cli_runner import cli_runner
from tests.recipe import GOLDEN_DIR

ROOT = Path(__file__).resolve().parents[1]
DEMO_A, DEMO_B = str(ROOT / "examples" / "demo_a.png"), str(ROOT / "examples" / "demo_b.png")
PHOTO = str(ROOT / "examples" / "obama.jpg")
A, B = str(GOLDEN_DIR / "golden_input_A.png"), str(GOLDEN_DIR / "golden_input_B.png")
needs_align = pytest.mark.skipif(not alignment_available(), reason="needs the align extra")


def run(*args):
    return cli_runner().invoke(cli, [str(a) for a in args])


def suggested_options(message: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", message))


def options_of(command: str) -> set[str]:
    """The options `interp COMMAND` accepts, read from its --help (plus --debug, which every command takes)."""
    shown = run(*([command] if command else []), "--help")
    assert shown.exit_code == 0
    return suggested_options(shown.stdout) | {"--debug"}


def assert_takes(command: str, message: str, expected: set[str]) -> None:
    named = suggested_options(message)
    assert expected <= named, message
    assert named <= options_of(command), f"{message}\nnames options `interp {command}` does not take"


@pytest.fixture
def out(tmp_path):
    return tmp_path


@needs_align
def test_no_face_with_alignment_on_advises_no_align_and_that_works(out):
    failed = run(DEMO_A, DEMO_B, "--weights", "demo", "--align", "--steps", 2, "-o", out / "m.gif")
    assert failed.exit_code == 1
    assert_takes("morph", failed.stderr, {"--no-align"})
    assert run(DEMO_A, DEMO_B, "--weights", "demo", "--no-align", "--steps", 2, "-o", out / "m.gif").exit_code == 0


@needs_align
def test_no_face_with_paste_does_not_advise_no_align_with_it(out):
    failed = run(DEMO_A, DEMO_B, "--weights", "demo", "--paste", "--steps", 2, "-o", out / "m.gif")
    assert failed.exit_code == 1
    assert f"no face found in {DEMO_A}" in failed.stderr
    assert "--paste needs photos in which a face can be found" in failed.stderr
    assert "drop --paste and pass --no-align" in failed.stderr
    assert_takes("morph", failed.stderr, {"--paste", "--no-align"})
    # What the old message advised is refused; what the new one advises works.
    assert run(DEMO_A, DEMO_B, "--weights", "demo", "--paste", "--no-align", "-o", out / "m.gif").exit_code == 2
    assert run(DEMO_A, DEMO_B, "--weights", "demo", "--no-align", "--steps", 2, "-o", out / "m.gif").exit_code == 0


@needs_align
def test_align_with_no_face_does_not_advise_an_option_align_refuses(out):
    failed = run("align", DEMO_A, "-o", out / "a.png")
    assert failed.exit_code == 1
    assert "pass --no-align" not in failed.stderr
    assert run("align", DEMO_A, "--no-align", "-o", out / "a.png").exit_code == 2  # so it must not be advised
    # What it does say: morph and encode take an aligned crop as it is, with --no-align.
    assert "morph and encode take it with --no-align" in failed.stderr
    assert "--no-align" in options_of("encode") and "--no-align" in options_of("morph")
    assert run("encode", DEMO_A, "--weights", "demo", "--no-align", "-o", out / "a.npy", "-q").exit_code == 0


@needs_align
def test_a_python_align_with_no_face_is_told_the_python_keywords(out):
    """The same refusal for a Python caller names align() and align=False, words it can use, not the
    command's --no-align; nothing is written."""
    from interp_cli import pipeline
    from interp_cli.errors import InterpError

    with pytest.raises(InterpError) as refused:
        pipeline.align(DEMO_A, out / "a.png")
    assert str(refused.value) == (f"no face found in {DEMO_A} (align() needs a photo in which a face can be found; an "
                                  "image that is already an aligned crop needs no aligning: morph() and encode() take "
                                  "it with align=False)")
    assert "--" not in str(refused.value) and not (out / "a.png").exists()


def test_a_photo_through_the_demo_model_is_pointed_at_the_photo_model_not_refine(out, monkeypatch, tmp_path):
    result = run(PHOTO, DEMO_B, "--weights", "demo", "--steps", 2, "-o", out / "m.gif")
    assert result.exit_code == 0, result.stderr
    warning, = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith(f"warning: {PHOTO}: ") and warning.count("obama.jpg") == 1  # named as typed
    assert "the demo model only knows the cartoon faces" in warning
    assert "--refine" not in warning
    assert_takes("morph", warning, {"--weights"})
    # --weights ffhq is a real choice: offline here it is unavailable (exit 1), not refused as usage (exit 2),
    # and that message in turn names --weights demo, which works.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    offline = run(PHOTO, DEMO_B, "--weights", "ffhq", "--steps", 2, "-o", out / "f.gif")
    assert offline.exit_code == 1 and "unavailable" in offline.stderr
    assert "`--weights demo`" in offline.stderr
    assert_takes("morph", offline.stderr, {"--weights"})


def test_a_poor_code_from_another_model_suggests_tune_and_refine_which_morph_takes(tiny_ckpt, out):
    result = run(A, B, "--weights", tiny_ckpt, "--no-align", "--steps", 2, "-o", out / "m.gif")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings and all("try --tune, --refine 100" in w for w in warnings)
    for warning in warnings:
        assert_takes("morph", warning, {"--tune", "--refine"})
    encoded = run("encode", A, "--weights", tiny_ckpt, "--no-align", "-o", out / "a.npy")
    warning, = [line for line in encoded.stderr.splitlines() if line.startswith("warning:")]
    assert "try --refine 100" in warning
    assert_takes("encode", warning, {"--refine"})


def test_the_same_image_twice_is_refused_with_advice_that_works(tiny_ckpt, out):
    refused = run(A, A, "--weights", tiny_ckpt, "--no-align", "--steps", 2, "-o", out / "m.gif")
    assert refused.exit_code == 2
    assert_takes("morph", refused.stderr, {"--hold"})
    assert not (out / "m.gif").exists()
    held = run(A, B, "--weights", tiny_ckpt, "--no-align", "--steps", 2, "--hold", 2, "-o", out / "m.gif")
    assert held.exit_code == 0


def test_an_output_with_no_suffix_is_refused_with_the_folder_form_that_works(tiny_ckpt, out):
    refused = run(A, B, "--weights", tiny_ckpt, "--no-align", "--steps", 2, "-o", out / "m2")
    assert refused.exit_code == 2
    folder = f"{out / 'm2'}/"
    assert f"trailing slash: {folder})" in refused.stderr
    assert not (out / "m2").exists()
    assert run(A, B, "--weights", tiny_ckpt, "--no-align", "--steps", 2, "-o", folder, "-q").exit_code == 0
    assert sorted(p.name for p in (out / "m2").iterdir()) == ["frame_0000.png", "frame_0001.png"]


@pytest.mark.parametrize("command,args,expected", [
    ("morph", [A, B, "-o", "m.gif"], {"--batch-size", "--size"}),
    ("batch", ["pairs.csv", "--outdir", "out"], {"--batch-size", "--size"}),
    ("align", [A, "-o", "a.png"], {"--size"}),
    ("encode", [A, "-o", "a.npy"], set()),
    ("render", ["a.npy", "-o", "r.png"], set()),
    ("mix", [A, B, "-o", "x.png"], set()),
])
def test_out_of_memory_advice_names_only_options_of_the_command(command, args, expected, tiny_ckpt, tmp_path,
                                                                 monkeypatch):
    from interp_cli import align_verb, batch, pipeline

    def exhausted(*_, **__):
        raise MemoryError()

    # align and batch are called from their own modules: align needs no torch, batch only for a row to make.
    monkeypatch.setattr({"align": align_verb, "batch": batch}.get(command, pipeline), command, exhausted)
    if command == "batch":
        monkeypatch.setattr("interp_cli.batch_plan.plan_batch", lambda *_, **__: None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.npy").write_bytes(b"")
    (tmp_path / "pairs.csv").write_text(f"{A},{B},x.gif\n")
    words = [command, *args] if command != "morph" else args
    result = run(*words)
    assert result.exit_code == 1
    assert result.stderr.startswith("interp: error: out of memory")
    named = suggested_options(result.stderr)
    assert named == expected and named <= options_of(command)


@needs_align
def test_the_several_faces_note_suggests_a_face_option_that_works_when_followed(out):
    """--face N picks in every input, so beside a one-face photo the note offers the per-input form
    (`--face ,1`); following it picks that face, also with --paste, whose backdrop has one face."""
    faces = ROOT / "tests" / "data" / "faces"
    two, biden = faces / "two_people.jpg", faces / "biden.jpg"
    for inputs, extra, suggested in [((two, biden), (), "1,"), ((biden, two), ("--paste",), ",1")]:
        first = run(*inputs, "--weights", "demo", "--align", *extra, "--steps", 2, "-o", out / "m.gif")
        assert first.exit_code == 0, first.stderr
        note, = [line for line in first.stderr.splitlines() if "faces found" in line]
        assert note.startswith(f"{two}: 2 faces found, using face 0") and note.endswith(f"--face {suggested})")
        assert_takes("morph", note, {"--face"})
        followed = run(*inputs, "--weights", "demo", "--align", *extra, "--face", suggested, "--steps", 2,
                       "-o", out / "m.gif")
        assert followed.exit_code == 0, followed.stderr
        assert f"{two}: 2 faces found, using face 1" in followed.stderr
    # One number for every input: refused in the one-face photo, with the per-input form that works.
    refused = run(biden, two, "--weights", "demo", "--align", "--face", 1, "--steps", 2, "-o", out / "m.gif")
    assert refused.exit_code == 2 and refused.stderr.strip().endswith("meaning the largest: --face ,1")
    assert run(biden, two, "--weights", "demo", "--align", "--face", "0,1,0", "--steps", 2,
               "-o", out / "m.gif").stderr.startswith("interp: error: --face 0,1,0: 3 values for 2 inputs")


@needs_align
def test_a_face_beyond_the_photo_offers_the_per_input_form_only_where_one_number_went_to_every_input(out):
    """With --paste one --face N picks in the backdrop only, and a per-input --face is already per input:
    "--face ,5" (or "--face 5," for 0,5) would pick a face the other photo does not have either, so the
    refusal names the photo and its faces without it."""
    faces = ROOT / "tests" / "data" / "faces"
    two, biden = faces / "two_people.jpg", faces / "biden.jpg"
    for extra, photo, found, numbers in [
            (("--paste", "--face", 5), two, "2 faces", "(numbered from 0, left to right: --face 0 to --face 1)"),
            (("--face", "0,5"), biden, "1 face", "(numbered from 0, left to right: --face 0)")]:
        refused = run(two, biden, "--weights", "demo", "--align", *extra, "--steps", 2, "-o", out / "m.gif")
        assert refused.exit_code == 2
        assert refused.stderr.splitlines()[-1] == f"interp: error: {photo}: --face 5 but only {found} found {numbers}"
        assert not (out / "m.gif").exists()


@needs_align
def test_a_face_beyond_every_photo_is_said_so_and_the_per_input_form_picks_only_where_the_face_exists(out):
    """`--face 5` beyond a photo's faces offered "--face ,5" even where no other photo has a face 5 either, and
    following it was refused again; with three inputs "--face ,1,1" asked the one-face third photo for its face 1.
    Now the per-input form names only the photos that have the face, and where none has it, it is said so."""
    faces = ROOT / "tests" / "data" / "faces"
    two, biden = faces / "two_people.jpg", faces / "biden.jpg"
    refused = run(biden, two, "--weights", "demo", "--align", "--face", 5, "--steps", 2, "-o", out / "m.gif")
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.strip() == (f"interp: error: {biden}: --face 5 but only 1 face found (numbered from 0, left "
                                      "to right: --face 0); no input has a face 5")
    refused = run(biden, two, biden, "--weights", "demo", "--align", "--face", 1, "--steps", 2, "-o", out / "m.gif")
    assert refused.exit_code == 2 and refused.stderr.strip().endswith("meaning the largest: --face ,1,")
    followed = run(biden, two, biden, "--weights", "demo", "--align", "--face", ",1,", "--steps", 2,
                   "-o", out / "m.gif")
    assert followed.exit_code == 0, followed.stderr
    assert not list(out.glob(".*")), list(out.iterdir())


@pytest.mark.parametrize("words,offers_demo", [
    (["weights", "path", "ffhq"], False),
    (["weights", "verify", "ffhq"], False),
    (["weights", "download", "ffhq"], False),
    (["render", "CODES", "-o", "r.png"], False),  # codes belong to the model that made them: no demo for render
    (["encode", DEMO_A, "-o", "a.npy"], True),
    ([DEMO_A, DEMO_B, "-o", "m.gif"], True),
])
def test_unavailable_weights_advice_fits_the_command_that_gives_it(words, offers_demo, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    import numpy as np

    np.save(tmp_path / "codes.npy", np.zeros((18, 512), np.float32))
    words = [str(tmp_path / "codes.npy") if w == "CODES" else w for w in words]
    failed = run(*words)
    assert failed.exit_code == 1 and "ffhq weights unavailable" in failed.stderr
    assert ("`--weights demo`" in failed.stderr) == offers_demo
    assert "HF_HUB_OFFLINE=0 interp weights download ffhq" in failed.stderr
    command = " ".join(words[:2]) if words[0] == "weights" else words[0] if words[0] in ("render", "encode") else (
        "morph")
    named = suggested_options(failed.stderr)
    shown = run(*command.split(), "--help")
    assert named <= suggested_options(shown.stdout) | {"--debug"}, f"{failed.stderr}\nnames options `{command}` lacks"
    if command.startswith("weights"):
        assert "INTERP_WEIGHTS=/path/to/e4e_ffhq_encode.pt" in failed.stderr
        assert "`interp weights verify /path/to/e4e_ffhq_encode.pt`" in failed.stderr


@pytest.mark.parametrize("how", ["unavailable", "a damaged copy named by the variable"])
def test_a_python_caller_told_to_set_interp_weights_is_told_a_python_line_that_works(how, monkeypatch, tmp_path):
    """A Python caller whose weights were unavailable was told "(or set INTERP_WEIGHTS=/path/to/...)", and one whose
    $INTERP_WEIGHTS, checked by `weights.verify`, named a damaged copy of a preset "set INTERP_WEIGHTS=ffhq": a
    shell's words, which no line of Python is. Now the line is `os.environ["INTERP_WEIGHTS"] = "..."`: run as written
    (the copy's path in place of /path/to/) in the caller's own process, the next Session with weights left out
    loads that file, and the next morph uses the preset."""
    import os
    import shutil

    from interp_cli import InterpError, Session
    from interp_cli.weights import default_weights_spec, verify

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    demo = ROOT / "interp_cli" / "data" / "demo.pt"
    (tmp_path / "copy").mkdir()
    if how == "unavailable":
        spec, copy = "someone/models/demo.pt", tmp_path / "copy" / "demo.pt"
        shutil.copyfile(demo, copy)
    else:
        spec, copy = None, tmp_path / "copy" / "e4e_ffhq_encode.pt"
        copy.write_bytes(b"\0" * 100_000)  # named like the ffhq preset's file, cut short
        monkeypatch.setenv("INTERP_WEIGHTS", str(copy))
    with pytest.raises(InterpError) as refused:
        Session(spec, device="cpu") if how == "unavailable" else verify()  # as `interp weights verify` checks it
    told = str(refused.value)
    assert "set INTERP_WEIGHTS" not in told, told
    line, = re.findall(r'`(os\.environ\["INTERP_WEIGHTS"\] = "[^"`]*")`', told)
    exec(line.replace("/path/to/demo.pt", str(copy)), {"os": os})  # monkeypatch restores the variable afterwards
    if how == "unavailable":  # the next Session with weights left out loads the copy
        assert Session(device="cpu").weights.path.read_bytes() == demo.read_bytes()
    else:  # the variable named the damaged copy: the line puts the preset (fetched as told first) back
        assert line == 'os.environ["INTERP_WEIGHTS"] = "ffhq"' and default_weights_spec() == "ffhq"


def test_a_python_caller_checking_a_damaged_copy_of_the_demo_is_told_a_python_call_that_checks_the_shipped_one(
        tmp_path):
    """`interp_cli.weights.verify(copy)` of a damaged copy of the shipped demo model said "check the shipped file
    itself with `interp weights verify demo`", a shell command, to a Python caller. Now it says the call, which,
    run as written, checks the shipped file: OK."""
    import interp_cli
    from interp_cli import InterpError
    from interp_cli.weights import verify

    copy = tmp_path / "demo.pt"
    copy.write_bytes((ROOT / "interp_cli" / "data" / "demo.pt").read_bytes()[:100_000])
    with pytest.raises(InterpError) as refused:
        verify(str(copy))
    told = str(refused.value)
    assert "interp weights" not in told, told
    call, = re.findall(r"check the shipped file itself with `([^`]*)`", told)
    checked = eval(call, {"interp_cli": interp_cli})
    assert checked.preset.name == "demo" and checked.path != copy


def test_a_bare_tune_before_the_inputs_says_where_it_goes_and_that_works(tiny_ckpt, out):
    refused = run("--tune", A, B, "--weights", tiny_ckpt, "--no-align", "--steps", 2, "-o", out / "m.gif")
    assert refused.exit_code == 2
    line, = refused.stderr.splitlines()
    assert "--tune takes an optional step count; put a bare --tune after the inputs" in line
    assert "not a valid integer range" not in line
    assert run(A, B, "--tune", "--weights", tiny_ckpt, "--no-align", "--steps", 2, "-o", out / "m.gif",
               "-q").exit_code == 0


def test_a_bare_tune_before_a_batchs_manifest_says_where_it_goes_in_a_batch_and_that_works(tiny_ckpt, out):
    """`interp batch --tune pairs.csv ...` was told a morph's advice, "put a bare --tune after the inputs (interp A B
    --tune)": a batch has no inputs on its command line. It is now told the batch's own order, which runs."""
    manifest = out / "pairs.csv"
    manifest.write_text(f"{A},{B},m.gif\n")
    common = ["--weights", tiny_ckpt, "--no-align", "--steps", 2, "-q"]
    refused = run("batch", "--tune", manifest, "--outdir", out / "o", *common)
    assert refused.exit_code == 2
    line, = refused.stderr.splitlines()
    assert "put a bare --tune after the manifest (interp batch pairs.csv --outdir out/ --tune), or write the count " \
           "(--tune 50)" in line
    assert run("batch", manifest, "--outdir", out / "o", "--tune", *common).exit_code == 0
    assert (out / "o" / "m.gif").is_file()


@pytest.mark.parametrize("words, said", [
    (["--tune", "1.5"], "--tune must be a whole number (got 1.5)"),
    (["--tune", "-0.5"], "--tune must be a whole number (got -0.5)"),
    (["--tune=-2.5"], "--tune must be a whole number (got -2.5)"),
])
def test_a_decimal_tune_count_is_refused_as_a_count(words, said, out):
    """`--tune 1.5` was told "got '1.5': --tune takes an optional step count; put a bare --tune after the inputs",
    and `--tune -0.5` "No such option '-0'": both are counts, refused now as --refine 1.5 is."""
    refused = run(A, B, "-o", out / "m.gif", *words)
    assert (refused.exit_code, refused.stderr.splitlines()) == (2, [f"interp: error: {said}"])


def test_render_precision_help_does_not_speak_of_encoding():
    assert "encoding" not in " ".join(run("render", "--help").stdout.split())  # render encodes nothing
    assert "encoding is always fp32" in " ".join(run("morph", "--help").stdout.split())


@pytest.mark.parametrize("words", [
    [DEMO_A, DEMO_B, "-o", "OUT", "--weights", "Demo"],
    ["encode", DEMO_A, "-o", "OUT.npy", "--weights", "DEMO"],
    ["weights", "path", "Demo"],
])
def test_a_preset_in_capitals_is_named_in_the_letters_that_work(words, out, monkeypatch):
    """The README's prose says "the FFHQ model": `--weights FFHQ` or `Demo` was refused with a list of the
    presets and no word on case. The message now names the preset, and that word, put in place, works."""
    monkeypatch.chdir(out)
    words = [str(out / "m.gif") if w == "OUT" else w for w in words]
    refused = run(*words)
    assert refused.exit_code == 2
    typed = words[-1]
    assert refused.stderr == (f"interp: error: unknown weights '{typed}': not a file and not a preset (presets: demo, "
                              "ffhq); did you mean 'demo'?\n")
    followed = run(*[*words[:-1], "demo"])
    assert followed.exit_code == 0, followed.stderr
    monkeypatch.setenv("INTERP_WEIGHTS", "Demo")  # from the environment: the same word fits there
    from_env = run("weights", "path")
    assert from_env.exit_code == 2 and "(from $INTERP_WEIGHTS)" in from_env.stderr
    assert from_env.stderr.rstrip().endswith("did you mean 'demo'?")
    monkeypatch.setenv("INTERP_WEIGHTS", "demo")
    assert run("weights", "path").exit_code == 0


@pytest.mark.parametrize("command, option", [
    ("morph", "--weights"), ("morph", "--refine"), ("morph", "--size"), ("morph", "--sheet"), ("encode", "--refine"),
    ("batch", "--shard"),
])
def test_an_option_missing_its_value_is_said_so_not_read_as_the_next_option(command, option, out, monkeypatch):
    """`interp a b --refine -o x.mp4` said "'-o' is not a valid integer range"; `--weights -o x.mp4` took "-o"
    as the weights and then advised `-o x.mp4`, already typed. Click gives an option the next word whatever it
    is; that word being one of the command's options, the line now says the value is missing."""
    monkeypatch.chdir(out)
    (out / "pairs.csv").write_text(f"{DEMO_A},{DEMO_B},m.gif\n")
    given = {"morph": [DEMO_A, DEMO_B], "encode": ["encode", DEMO_A], "batch": ["batch", "pairs.csv"]}[command]
    after = "--outdir" if command == "batch" else "-o"
    target = "o/" if command == "batch" else "a.npy" if command == "encode" else "m.gif"
    refused = run(*given, option, after, target, "--weights", "demo")
    assert refused.exit_code == 2
    assert refused.stderr == (f"interp: error: option '{option}' requires an argument: the word after it, {after}, "
                              "is an option\n")
    assert sorted(p.name for p in out.iterdir()) == ["pairs.csv"]
    # A value in its place, the same line works (a negative --seed is a value, not an option).
    value = {"--weights": "demo", "--refine": "2", "--size": "32", "--sheet": "s.png", "--shard": "1/1"}[option]
    words = [*given, option, value, after, target, "--seed", "-5", "-q"]
    if option != "--weights":
        words += ["--weights", "demo"]
    if command != "encode":
        words += ["--steps", "2"]
    assert run(*words).exit_code == 0


def _without_dlib(folder: Path) -> dict:
    """The environment of a Python in which dlib does not import (as without the dlib-bin wheel): a `dlib`
    module ahead of the real one on PYTHONPATH that raises the ImportError a missing one raises."""
    import os

    (folder / "dlib.py").write_text("raise ImportError(\"No module named 'dlib'\", name='dlib')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]), "HF_HUB_OFFLINE": "1"}


@needs_align
def test_the_dlib_detector_asked_for_without_dlib_says_how_to_take_opencvs_and_that_works(tmp_path):
    """INTERP_FACE_DETECTOR=dlib where dlib does not import: the refusal said "(or use haar)", with no word of where
    or how (the command line has no option for it). It now says the setting that does, and that setting works."""
    import subprocess
    import sys

    env = _without_dlib(tmp_path)
    command = [sys.executable, "-m", "interp_cli", "align", PHOTO, "-o", str(tmp_path / "a.png")]
    failed = subprocess.run(command, env={**env, "INTERP_FACE_DETECTOR": "dlib"}, capture_output=True, text=True,
                            timeout=300)
    assert failed.returncode == 1 and not (tmp_path / "a.png").exists()
    line, = failed.stderr.splitlines()
    assert line.endswith("-m pip install dlib-bin; or use OpenCV's: set INTERP_FACE_DETECTOR=haar"), line
    variable, value = line.rpartition("set ")[2].split("=")
    followed = subprocess.run(command, env={**env, variable: value}, capture_output=True, text=True, timeout=300)
    assert followed.returncode == 0, followed.stderr
    assert (tmp_path / "a.png").is_file()


@needs_align
def test_the_dlib_detector_asked_for_without_dlib_tells_a_python_caller_a_line_of_python_that_works(monkeypatch):
    """The same refusal for a Python caller: from the variable, the line of Python that sets it (run here, it
    makes the next call work); from detect_faces(detector="dlib"), the keyword."""
    import os

    from PIL import Image

    from interp_cli import align
    from interp_cli.align import detect
    from interp_cli.errors import InterpError

    monkeypatch.setattr(detect, "detector_names", lambda: ["haar"])  # as without dlib-bin
    monkeypatch.setenv("INTERP_FACE_DETECTOR", "dlib")
    with Image.open(PHOTO) as photo:
        image = photo.convert("RGB")
    with pytest.raises(InterpError) as refused:
        align.detect_faces(image)
    said = str(refused.value)
    assert said.endswith("; or use OpenCV's: `os.environ[\"INTERP_FACE_DETECTOR\"] = \"haar\"`"), said
    exec(said.rsplit("`", 2)[1], {"os": os})
    assert os.environ["INTERP_FACE_DETECTOR"] == "haar" and len(align.detect_faces(image)) == 1
    with pytest.raises(InterpError) as refused:
        align.detect_faces(image, detector="dlib")
    assert str(refused.value).endswith("; or use OpenCV's: pass detector=\"haar\"")
    assert len(align.detect_faces(image, detector="haar")) == 1
    monkeypatch.setenv("INTERP_FACE_DETECTOR", "cnn")
    with pytest.raises(InterpError, match=r"^unknown face detector 'cnn' \(INTERP_FACE_DETECTOR\): use dlib or haar$"):
        align.detect_faces(image)
    with pytest.raises(InterpError, match=r"^unknown face detector 'cnn' \(detector\): use dlib or haar$"):
        align.detect_faces(image, detector="cnn")


@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_a_morphs_output_option_given_to_a_batch_says_where_a_batch_writes_and_that_works(flag, out):
    """`interp batch pairs.csv -o x` (a morph's habit) was "no such option '-o'" and nothing more: click had no
    guess. It now says where a batch's outputs are named and written, with --outdir, which then works."""
    manifest = out / "pairs.csv"
    manifest.write_text(f"{DEMO_A},{DEMO_B},m.gif\n")
    failed = run("batch", manifest, flag, out / "x", "--weights", "demo", "--steps", 2)
    assert failed.exit_code == 2 and not (out / "x").exists()
    assert failed.stderr.startswith(f"interp: error: no such option '{flag}': each row's output is named in the "
                                    "manifest's last column and written inside --outdir DIR"), failed.stderr
    assert_takes("batch", failed.stderr.split("': ", 1)[1], {"--outdir"})  # the advice, after the option refused
    done = run("batch", manifest, "--outdir", f"{out / 'x'}/", "--weights", "demo", "--steps", 2)
    assert done.exit_code == 0, done.stderr
    assert (out / "x" / "m.gif").is_file()


@pytest.mark.parametrize("command, typed, ours", [
    ("morph", ["--model", "demo"], ["--weights", "demo"]),
    ("morph", ["--frames", "3"], ["--steps", "3"]),
    ("morph", ["--num-frames", "3"], ["--steps", "3"]),
    ("encode", ["--checkpoint", "demo"], ["--weights", "demo"]),
])
def test_another_tools_name_for_an_option_is_answered_with_ours_and_that_works(command, typed, ours, out):
    """`--model demo` got click's guess by spelling, "did you mean '--help' or '--hold'?", and `--frames 10`
    "'--face', '--fps' or '--layers'": none of them what was meant. Each now names the option that is, which
    works; a command without it (align has no --weights) keeps click's guesses."""
    given = {"--weights": ["--weights", "demo"], "--steps": ["--steps", "3"]}
    given.pop(ours[0])  # the option under test comes from `typed`, then from the advice
    rest = {"morph": [DEMO_A, DEMO_B, "-o", out / "m.gif"], "encode": [DEMO_A, "-o", out / "a.npy"]}[command]
    rest += given["--weights"] if command == "morph" and "--weights" in given else []
    rest += given["--steps"] if command == "morph" and "--steps" in given else []
    failed = run(command, *rest, *typed)
    assert failed.exit_code == 2, failed.stderr
    advice = failed.stderr.split("': ", 1)[1]
    assert_takes(command, advice, {ours[0]})
    done = run(command, *rest, *ours)
    assert done.exit_code == 0, done.stderr
    refused = run("align", DEMO_A, "--model", "demo", "-o", out / "x.png")
    assert refused.exit_code == 2 and "--weights" not in refused.stderr
