"""The Python API beside the command line: `Session.morph_frames` yields the frames `interp -o frames/` writes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interp_cli import pipeline
from interp_cli.align import alignment_available
from interp_cli.cli import cli
from interp_cli.errors import InterpError, InterpWarning, UsageError
from interp_cli.pipeline import Session
from tests.cli_runner import cli_runner

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO_A, DEMO_B = str(EXAMPLES / "demo_a.png"), str(EXAMPLES / "demo_b.png")


@pytest.fixture(scope="module")
def demo():
    return Session("demo", "cpu", progress=False, log=lambda message: None)


def cli_frames(tmp_path, *args) -> list[np.ndarray]:
    out = tmp_path / "frames"
    result = cli_runner().invoke(cli, [str(a) for a in (*args, "--weights", "demo", "--device", "cpu",
                                                        "-o", f"{out}/", "-q")])
    assert result.exit_code == 0, result.stderr
    return [np.asarray(Image.open(path)) for path in sorted(out.iterdir())]


@pytest.mark.parametrize("options,flags", [
    ({"steps": 6}, ["--steps", 6]),
    ({"steps": 4, "size": 96, "ease": "smooth", "loop": True, "layers": "coarse"},
     ["--steps", 4, "--size", 96, "--ease", "smooth", "--loop", "--layers", "coarse"]),
    ({"steps": 3, "tune": 5}, ["--steps", 3, "--tune", 5]),
])
def test_morph_frames_are_the_frames_the_command_writes(demo, tmp_path, options, flags):
    frames = list(demo.morph_frames([DEMO_A, DEMO_B], **options))
    written = cli_frames(tmp_path, DEMO_A, DEMO_B, *flags)
    assert len(frames) == len(written) > 2
    for ours, theirs in zip(frames, written):
        assert ours.dtype == np.uint8 and ours.shape == theirs.shape and ours.shape[2] == 3
        assert np.array_equal(ours, theirs)
    assert not np.array_equal(frames[0], frames[1])  # in-betweens, not one frame per input


def test_a_python_morph_with_only_its_defaults_writes_what_the_bare_command_writes(tmp_path):
    """`morph(inputs, output)` keyword defaults are the command's flag defaults: no tuning, no refining, the same
    frames. A default that differed (a `tune=1`) tuned every Python caller's morph it was never asked to."""
    said = pipeline.morph([DEMO_A, DEMO_B], f"{tmp_path}/py/", weights="demo", device="cpu", steps=3)
    assert said["tune"] is None and all(row["untuned_psnr"] is None for row in said["reconstruction"])
    py = [np.asarray(Image.open(path)) for path in sorted((tmp_path / "py").iterdir())]
    command = cli_frames(tmp_path, DEMO_A, DEMO_B, "--steps", 3)
    assert len(py) == len(command) == 3 and all(np.array_equal(a, b) for a, b in zip(py, command))

def test_a_tuned_morph_never_draws_another_morph_on_the_same_session(demo):
    # A tuned morph's generator was the Session's state while its frames were being drawn: a morph
    # made meanwhile (a suspended iterator, another thread) drew with it and reported "tune": None.
    plain = list(demo.morph_frames([DEMO_A, DEMO_B], steps=3))
    tuned = demo.morph_frames([DEMO_A, DEMO_B], steps=3, tune=5, cache=False)
    first = next(tuned)  # suspended mid-morph, its tuned copy alive
    meanwhile = list(demo.morph_frames([DEMO_A, DEMO_B], steps=3))
    assert all(np.array_equal(a, b) for a, b in zip(plain, meanwhile))
    rest = [first, *tuned]
    assert len(rest) == 3 and not np.array_equal(rest[0], plain[0])  # its own frames are tuned


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
def test_morph_frames_paste_into_the_photo_like_the_command(demo, tmp_path):
    photos = [str(EXAMPLES / "obama.jpg"), str(EXAMPLES / "biden.jpg")]
    frames = list(demo.morph_frames(photos, steps=3, paste=True, size=240))
    written = cli_frames(tmp_path, *photos, "--steps", 3, "--paste", "--size", 240)
    assert [f.shape for f in frames] == [f.shape for f in written] and frames[0].shape[1] == 240
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(frames, written)) <= 1


def test_morph_frames_refuses_what_morph_refuses(demo):
    with pytest.raises(UsageError, match="steps must be at least 2"):
        next(demo.morph_frames([DEMO_A, DEMO_B], steps=1))
    with pytest.raises(UsageError, match="follows itself"):
        next(demo.morph_frames([DEMO_A, DEMO_A]))
    with pytest.raises(TypeError):
        demo.morph_frames([DEMO_A, DEMO_B], fps=30)  # a writer's option, not a frame's


def test_morph_refuses_a_typed_name_with_no_file_type_as_the_command_does(demo, tmp_path):
    from interp_cli.pipeline import morph

    with pytest.raises(UsageError, match=r"m2: no file type \(.*\.mp4"):
        morph([DEMO_A, DEMO_B], str(tmp_path / "m2"), steps=2, session=demo, log=lambda m: None, progress=False)
    assert list(tmp_path.iterdir()) == []  # no frames folder guessed
    # a folder said as one: a trailing "/" or a Path (which cannot end in "/")
    morph([DEMO_A, DEMO_B], f"{tmp_path / 'f1'}/", steps=2, session=demo, log=lambda m: None, progress=False)
    morph([DEMO_A, DEMO_B], tmp_path / "f2", steps=2, session=demo, log=lambda m: None, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f1", "f2"]
    assert len(list((tmp_path / "f2").glob("frame_*.png"))) == 2


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
def test_a_contact_sheet_shows_the_crops_encoding_made_without_finding_the_faces_again(demo, tmp_path, monkeypatch):
    from interp_cli import align
    from interp_cli.pipeline import morph

    faces = Path(__file__).parent / "data" / "faces"
    found = []
    real = align.align_face
    monkeypatch.setattr(align, "align_face", lambda *a, **kw: found.append(kw.get("name")) or real(*a, **kw))
    morph([faces / "obama.jpg", faces / "biden.jpg"], tmp_path / "m.gif", steps=2, align=True, sheet=tmp_path / "s.png",
          save_aligned=tmp_path / "crops", cache=False, session=demo, log=lambda m: None, progress=False)
    # Once each, by the path given: the sheet used to align both photos again.
    assert found == [str(faces / "obama.jpg"), str(faces / "biden.jpg")]
    assert Image.open(tmp_path / "s.png").size[0] > 0


def test_help_on_the_pipeline_lists_every_verb_and_the_session():
    import pydoc

    from interp_cli import pipeline

    shown = pydoc.render_doc(pipeline, renderer=pydoc.plaintext)
    for name in ("Session", "EncodeSettings", "morph", "morph_frames", "encode", "render", "align", "mix", "batch"):
        assert f"\n    {name}(" in shown or f"class {name}" in shown, name


def test_a_morph_on_a_shared_session_says_its_warnings_to_its_own_log(demo, tmp_path):
    from interp_cli.pipeline import morph

    checker = np.indices((64, 64)).sum(axis=0) // 8 % 2 * 255
    Image.fromarray(np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)).save(tmp_path / "checker.png")
    said = []
    morph([DEMO_A, tmp_path / "checker.png"], tmp_path / "m.html", steps=2, session=demo, log=said.append,
          progress=False)
    # Said to this morph's log, not the session's own; the photo named as given.
    assert any(line.startswith(f"warning: {tmp_path / 'checker.png'}: ") for line in said), said


SHARED_KEYS = ("inputs", "weights", "device", "precision", "timings")


def test_every_verb_on_a_model_prints_the_shared_json_keys_alike(tmp_path):
    """morph, a batch row, encode, render and mix print `inputs`, `weights`, `device`, `precision` and
    `timings` with one meaning and one shape (`_shared_summary`). Before, `weights` was {"id", "path",
    "sha256"} in morph and batch but {"id"} in encode and render and absent from mix; `device` was missing
    from render and mix, `precision` from render and mix (which take --precision), `inputs` from all
    three, and `timings` from all three."""
    import json

    def run(*args) -> list[dict]:
        result = cli_runner().invoke(cli, [str(a) for a in (*args, "--weights", "demo", "--device", "cpu",
                                                            "--json")])
        assert result.exit_code == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    code = tmp_path / "a.npy"
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{DEMO_A},{DEMO_B},row.gif\n")
    bf16 = ["--precision", "bf16"]
    runs = {
        "encode": (run("encode", DEMO_A, "-o", code)[0], [DEMO_A], "fp32"),  # no --precision: auto, fp32 on a CPU
        "render": (run("render", code, "-o", tmp_path / "a.png", *bf16)[0], [str(code)], "bf16"),
        "mix": (run("mix", DEMO_A, DEMO_B, "-o", tmp_path / "m.png", *bf16)[0], [DEMO_A, DEMO_B], "bf16"),
        "morph": (run(DEMO_A, DEMO_B, "--steps", 2, "-o", tmp_path / "m.gif", *bf16)[0], [DEMO_A, DEMO_B], "bf16"),
        "batch": (run("batch", manifest, "--outdir", tmp_path / "out", "--steps", 2, *bf16)[0], [DEMO_A, DEMO_B],
                  "bf16"),  # its row's line; the closing summary is the batch's own
    }
    weights = runs["morph"][0]["weights"]
    assert set(weights) == {"id", "path", "sha256"} and weights["id"] == "demo"
    assert Path(weights["path"]).is_file() and len(weights["sha256"]) == 64  # a preset's: known, never null
    for verb, (summary, inputs, precision) in runs.items():
        assert set(SHARED_KEYS) <= set(summary), verb
        assert summary["inputs"] == inputs, verb
        assert summary["weights"] == weights, verb
        assert summary["device"] == "cpu", verb
        assert summary["precision"] == precision, verb
        timings = summary["timings"]
        assert {"load", "total"} <= set(timings), verb
        assert all(isinstance(seconds, float) and seconds >= 0 for seconds in timings.values()), verb


def test_no_verb_hashes_an_unknown_weights_file_only_to_print_its_digest(tmp_path):
    """render (which caches nothing), and encode and mix under --no-cache, print `weights` in a morph's
    shape with `sha256` null for a file never hashed, as a --no-cache morph does: a 1.2 GB checkpoint is
    not read through for a JSON key."""
    import json
    import shutil

    from interp_cli.sha256_record import remembered_sha256

    fresh = tmp_path / "fresh.pt"  # a new path: its hash was never recorded
    shutil.copyfile(Path(__file__).resolve().parents[1] / "interp_cli" / "data" / "demo.pt", fresh)
    code = tmp_path / "a.npy"
    for args in (["encode", DEMO_A, "-o", code, "--no-cache"], ["render", code, "-o", tmp_path / "a.png"],
                 ["mix", DEMO_A, DEMO_B, "-o", tmp_path / "m.png", "--no-cache"]):
        result = cli_runner().invoke(cli, [str(a) for a in (*args, "--weights", fresh, "--device", "cpu", "--json")])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["weights"] == {"id": str(fresh), "path": str(fresh), "sha256": None}, args[0]
    assert remembered_sha256(fresh) is None


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
def test_errors_name_an_input_by_the_path_typed_not_its_base_name(tmp_path, monkeypatch):
    # "no face found in face.png" could not tell mine/face.png from yours/face.png; nor could the --face check.
    monkeypatch.chdir(tmp_path)
    faces = Path(__file__).resolve().parent / "data" / "faces"
    for folder, source in (("mine", faces / "obama.jpg"), ("yours", EXAMPLES / "demo_a.png")):
        Path(folder).mkdir()
        Image.open(source).convert("RGB").save(f"{folder}/face.png")
    Path("group").mkdir()
    Image.open(faces / "two_people.jpg").save("group/two_people.jpg")

    def error(*args) -> str:
        result = cli_runner().invoke(cli, [str(a) for a in args])
        assert result.exit_code != 0 and "Traceback" not in result.stderr
        return result.stderr

    assert error("align", "yours/face.png", "-o", "x.png").startswith("interp: error: no face found in yours/face.png")
    assert error("mine/face.png", "yours/face.png", "--weights", "demo", "--align", "--steps", 2,
                 "-o", "m.gif").startswith("interp: error: no face found in yours/face.png")
    assert error("align", "group/two_people.jpg", "--face", 2, "-o", "x.png") == \
        ("interp: error: group/two_people.jpg: --face 2 but only 2 faces found (numbered from 0, left to right: "
         "--face 0 to --face 1)\n")
    assert error("encode", "mine/face.png", "--weights", "demo", "--no-align", "--face", 1, "-o", "x.npy") \
        .startswith("interp: error: mine/face.png: --face picks among the faces")
    np.save("mine/code.npy", np.zeros((3, 3), np.float32))
    assert error("render", "mine/code.npy", "--weights", "demo", "-o", "x.png") == \
        "interp: error: mine/code.npy: code has shape [3, 3], this model needs [10, 128]\n"
    assert error("encode", "mine/code.npy", "--weights", "demo", "-o", "x.npy").startswith(
        "interp: error: mine/code.npy: already a code file")
    assert not Path("x.png").exists() and not Path("m.gif").exists() and not Path("x.npy").exists()


def test_mix_takes_two_or_three_inputs_each_named_by_an_option(tmp_path, monkeypatch):
    # One input blamed --fine ("--fine b: name one of the inputs (a, or 1 to 1)"); a fourth, or a third that
    # no option names, was read for nothing without a word; the numbers --coarse 2 takes were in no --help.
    monkeypatch.chdir(tmp_path)

    def mix(*args):
        return cli_runner().invoke(cli, ["mix", *map(str, args), "--weights", "demo", "-o", "m.png"])

    for inputs in ([DEMO_A], [DEMO_A, DEMO_B, DEMO_A, DEMO_B]):
        result = mix(*inputs)
        assert (result.exit_code, result.stderr) == (
            2, f"interp: error: mix takes two or three inputs (interp mix A B [C]), got {len(inputs)}\n")
    result = mix(DEMO_A, DEMO_B, DEMO_B)
    assert (result.exit_code, result.stderr) == (2, f"interp: error: {DEMO_B}: input c is named by none of --coarse, "
                                                    "--middle and --fine; name it (e.g. --middle c) or leave it out\n")
    assert not Path("m.png").exists()
    assert mix(DEMO_A, DEMO_B, DEMO_B, "--middle", "c", "-q").exit_code == 0  # the advice works
    assert mix(DEMO_A, DEMO_B, "-q").exit_code == 0  # ... both halves of it
    # A first or second input left unnamed: leaving it out would shift the letters or leave one input, so
    # only naming it is offered.
    result = mix(DEMO_A, DEMO_B, "--coarse", "b", "--fine", "b")
    assert (result.exit_code, result.stderr) == (2, f"interp: error: {DEMO_A}: input a is named by none of "
                                                    "--coarse, --middle and --fine; name it (e.g. --middle a)\n")
    assert mix(DEMO_A, DEMO_B, "--coarse", "b", "--fine", "b", "--middle", "a", "-q").exit_code == 0
    help_text = " ".join(cli_runner().invoke(cli, ["mix", "--help"]).stdout.split())
    assert "a, b, c or 1, 2, 3" in help_text and "(or 1, 2 or 3)" in help_text
    assert mix(DEMO_A, DEMO_B, "--coarse", 2, "--fine", 1, "-q").exit_code == 0


def test_a_mix_of_one_image_named_twice_is_refused_as_a_morph_of_it_is(tmp_path, monkeypatch):
    """`interp mix a.png a.png` wrote a's own face with exit 0, where a morph of one image refuses (a still)."""
    from interp_cli.pipeline import mix

    monkeypatch.chdir(tmp_path)
    Path("copy.png").write_bytes(Path(DEMO_A).read_bytes())
    for inputs, same in (([DEMO_A, DEMO_A], f"{DEMO_A} is named twice"),
                         ([DEMO_A, "copy.png"], f"{DEMO_A} and copy.png are the same image")):
        result = cli_runner().invoke(cli, ["mix", *inputs, "--weights", "demo", "-o", "m.png"])
        assert (result.exit_code, result.stderr) == (
            2, f"interp: error: {same}, so the mix would be that one face; name two different images\n")
        with pytest.raises(UsageError, match="so the mix would be that one face") as err:
            mix(inputs, "m.png", weights="demo")
        assert str(err.value.path) == inputs[1]
    assert not Path("m.png").exists()
    # Two of three inputs alike still mix two faces: allowed.
    assert cli_runner().invoke(cli, ["mix", DEMO_A, DEMO_B, "copy.png", "--middle", "b", "--fine", "c",
                                     "--weights", "demo", "-o", "m.png", "-q"]).exit_code == 0


def test_morphs_signature_shows_only_what_a_python_caller_may_pass(demo, tmp_path):
    """`_crops` (batch's planned --save-aligned crops) was a keyword of morph, shown by help(interp_cli.morph)."""
    import inspect
    import pydoc

    import interp_cli
    from interp_cli.pipeline import batch, morph

    assert not [name for name in inspect.signature(morph).parameters if name.startswith("_")]
    assert "_crops" not in pydoc.render_doc(interp_cli.morph)
    with pytest.raises(TypeError, match="unexpected keyword argument '_crops'"):
        morph([DEMO_A, DEMO_B], tmp_path / "m.gif", session=demo, _crops=[None, None])
    (tmp_path / "m.csv").write_text(f"{DEMO_A},{DEMO_B},x.gif\n")
    with pytest.raises(TypeError, match="unexpected keyword argument '_crops'"):
        batch(tmp_path / "m.csv", tmp_path / "out", weights="demo", _crops=[None, None])
    assert not (tmp_path / "m.gif").exists() and not (tmp_path / "out").exists()


def test_a_rows_planned_crops_apply_to_that_morph_only(demo, tmp_path):
    from interp_cli.pipeline import morph, planned_crops

    (tmp_path / "plan").mkdir()
    with planned_crops([tmp_path / "plan" / "first.png", tmp_path / "plan" / "second.png"]):
        morph([DEMO_A, DEMO_B], tmp_path / "row.gif", session=demo, steps=2, save_aligned=tmp_path / "plan",
              align=False, progress=False)
    morph([DEMO_A, DEMO_B], tmp_path / "own.gif", session=demo, steps=2, save_aligned=tmp_path / "own",
          align=False, progress=False)
    assert sorted(p.name for p in (tmp_path / "plan").iterdir()) == ["first.png", "second.png"]
    assert sorted(p.name for p in (tmp_path / "own").iterdir()) == ["demo_a_aligned.png", "demo_b_aligned.png"]


def run_cli(*words):
    return cli_runner().invoke(cli, [str(w) for w in words])


def _refused(call) -> InterpError:
    """The InterpError `call` raises, said to a Python caller: keywords it can pass, never a command's flag."""
    with pytest.raises(InterpError) as caught:
        call()
    assert "--" not in str(caught.value), str(caught.value)
    return caught.value


def test_a_python_caller_is_told_the_keywords_it_can_pass_not_the_commands_flags(demo, tmp_path):
    """Messages named the command's options ("cannot be combined with --no-align", "pass `--weights demo`"),
    which a Python caller cannot type. The command's words are pinned by its own tests (test_cli, test_paste)."""
    from interp_cli.limits import MAX_FRAMES
    from interp_cli.pipeline import EncodeSettings, mix, morph

    out = tmp_path / "m.gif"
    assert str(_refused(lambda: morph([DEMO_A, DEMO_B], out, paste=True, align=False, session=demo))) == (
        "paste=True puts the face back where alignment found it in the photo: it cannot be combined with align=False")
    assert str(_refused(lambda: morph([DEMO_A, DEMO_B], out, fps=500, session=demo))).startswith(
        "fps must be between")
    still = _refused(lambda: morph([DEMO_A, DEMO_A], out, session=demo))
    assert str(still).endswith("(hold=N pauses on each face)") and still.path == DEMO_A
    assert str(_refused(lambda: morph([DEMO_A, DEMO_B], out, noise="loud", session=demo))).startswith(
        'noise="loud": choose one of')
    assert str(_refused(lambda: morph([DEMO_A, DEMO_B], out, steps=MAX_FRAMES, hold=1, session=demo))).startswith(
        f"steps={MAX_FRAMES}, hold=1 would make")
    unnamed = _refused(lambda: mix([DEMO_A, DEMO_B, DEMO_B], tmp_path / "x.png", weights="demo"))
    assert 'e.g. middle="c"' in str(unnamed) and unnamed.path == DEMO_B
    assert str(_refused(lambda: demo.encode_photo(DEMO_A, EncodeSettings(align=False, face=1)))).endswith(
        "alignment is off (align=False is given); drop face, or pass align=True")
    sheet = tmp_path / "s.png"
    assert str(_refused(lambda: morph([DEMO_A, DEMO_B], sheet, sheet=sheet, session=demo))) == (
        f'sheet="{sheet}": is also the output output="{sheet}"; give each output its own name')
    offline = str(_refused(lambda: Session("nobody/nothing/x.pt", "cpu")))  # offline: never on this machine
    assert 'pass `weights="/path/to/x.pt"`' in offline
    assert not out.exists() and not (tmp_path / "x.png").exists()


def test_a_python_caller_is_told_the_functions_not_the_interp_command(tmp_path):
    """mix() said "(interp mix A B [C])" and render() "(from `interp encode`)": commands a Python caller who
    called the functions has not got in hand. The command line's words stay (test_mix_takes_two_or_three_inputs...)."""
    from interp_cli.pipeline import mix, render

    one = _refused(lambda: mix([DEMO_A], tmp_path / "x.png", weights="demo"))
    assert str(one) == "mix takes two or three inputs, got 1"
    photo = _refused(lambda: render(DEMO_A, tmp_path / "x.png", weights="demo"))
    assert str(photo) == f"{DEMO_A}: render takes a .npy code file (from encode())"
    result = cli_runner().invoke(cli, ["render", DEMO_A, "--weights", "demo", "-o", str(tmp_path / "x.png")])
    assert (result.exit_code, result.stderr) == (
        2, f"interp: error: {DEMO_A}: render takes a .npy code file (from `interp encode`)\n")
    assert not (tmp_path / "x.png").exists()


def test_a_python_caller_without_the_weights_is_offered_the_demo_model_in_its_own_words(tmp_path, monkeypatch):
    """Offline with no FFHQ weights, a Session (and so morph, encode, mix, batch) said only where to get them:
    the demo model, which the command line offers as `--weights demo`, was left out for a Python caller. Now
    offered as the keyword, which works as given; render still leaves it out (codes belong to one model), and
    the command line keeps its flag (test_advice's test_unavailable_weights_advice_fits_the_command...)."""
    from interp_cli.pipeline import morph, render

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    out = tmp_path / "m.gif"
    for call in (lambda: Session("ffhq", "cpu"), lambda: morph([DEMO_A, DEMO_B], out, weights="ffhq", steps=2)):
        offline = str(_refused(call))
        assert offline.startswith("ffhq weights unavailable") and not out.exists()
        advice, = re.findall(r"To try interp with no download, pass `([^`]*)`", offline)
        assert advice == 'weights="demo"'
    morph([DEMO_A, DEMO_B], out, steps=2, **eval(f"dict({advice})"))  # the advice, as given
    assert out.stat().st_size > 0
    np.save(tmp_path / "codes.npy", np.zeros((18, 512), np.float32))
    no_demo = str(_refused(lambda: render(tmp_path / "codes.npy", tmp_path / "r.png", weights="ffhq")))
    assert 'pass `weights="/path/to/e4e_ffhq_encode.pt"`' in no_demo and "demo" not in no_demo
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize("codes, said", [
    (lambda: [np.zeros((18, 512), np.float32)], "codes[0]: got [18, 512]; this model draws W+ codes of shape "
                                                "[10, 128], one per frame"),
    (lambda: (c for c in [np.zeros((10, 128), np.float32), np.zeros((1, 10, 128), np.float32)]),
     "codes[1]: got [1, 10, 128]; this model draws W+ codes of shape [10, 128], one per frame"),
    (lambda: ["a.npy"], "codes[0]: got str; this model draws W+ codes of shape [10, 128], one per frame"),
], ids=["another-models", "a-batch-in-a-generator", "a-path"])
def test_session_frames_refuses_a_code_of_another_shape_by_its_place(demo, codes, said):
    """`Session.frames` (the README's `session.frames([codes[0]])`) given an FFHQ code, or a [1, n, d] batch, raised
    torch's ValueError "expected W+ codes of shape [B, 10, 128], got [1, 18, 512]", no InterpError and a shape the
    caller never passed; a path failed inside numpy. Now a UsageError naming the code's place among `codes`."""
    frames = demo.frames(codes(), batch_size=1)
    if "[1]" in said:
        assert next(frames).shape == (64, 64, 3)  # the good one before it is drawn
    assert str(_refused(lambda: next(frames))) == said


def test_a_morph_with_a_session_names_other_weights_as_the_keyword_is_written(demo, tmp_path):
    refused = _refused(lambda: pipeline.morph([DEMO_A, DEMO_B], tmp_path / "m.gif", session=demo, weights="ffhq"))
    assert str(refused).startswith('weights="ffhq" names other weights than the session\'s (demo)')


def test_render_without_the_default_weights_names_the_weights_its_code_was_made_by(tmp_path, monkeypatch):
    """The README's pair `interp encode a.jpg -o a.npy` / `interp render a.npy -o a.png`, offline with `--weights
    demo` on encode only: render's error said to fetch the 1.2 GB FFHQ file, which would then refuse the code
    (made by other weights). The code records its maker; the error now names it, and that advice works."""
    from interp_cli.pipeline import encode, render

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("INTERP_WEIGHTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run_cli("encode", DEMO_A, "--weights", "demo", "-o", "a.npy", "-q").exit_code == 0
    failed = run_cli("render", "a.npy", "-o", "a.png")
    assert failed.exit_code == 1 and failed.stderr.startswith("interp: error: ffhq weights unavailable")
    assert len(failed.stderr.splitlines()) == 1
    assert failed.stderr.rstrip().endswith("a.npy was made by the demo weights: to render it, pass `--weights demo`")
    advice, = re.findall(r"to render it, pass `([^`]*)`", failed.stderr)
    assert run_cli("render", "a.npy", "-o", "a.png", *advice.split(), "-q").exit_code == 0  # the advice, as given
    assert Image.open("a.png").size == (64, 64)
    said = str(_refused(lambda: render("a.npy", "b.png")))
    assert said.endswith('a.npy was made by the demo weights: to render it, pass `weights="demo"`')
    assert not Path("b.png").exists()
    # A code made by a local file names the file, whose folder the code does not record.
    encode(DEMO_A, "own.npy", weights=str(Path(pipeline.__file__).parent / "data" / "demo.pt"))
    own = run_cli("render", "own.npy", "-o", "own.png").stderr
    assert own.rstrip().endswith("own.npy was made by the weights file demo.pt: to render it, pass "
                                 "`--weights /path/to/demo.pt`")


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
def test_a_python_caller_can_tell_which_input_failed_and_how(demo, tmp_path):
    """`path` names the input at fault; a bad input file is an InputError (a UsageError), a photo with no
    face a NoFaceError, so a service can answer a bad upload apart from a bad call."""
    from interp_cli.errors import NoFaceError, UsageError
    from interp_cli.pipeline import morph

    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), "grey").save(blank)
    photo = Path(__file__).parent / "data" / "faces" / "obama.jpg"
    no_face = _refused(lambda: morph([photo, blank], tmp_path / "m.gif", align=True, session=demo))
    assert isinstance(no_face, NoFaceError) and no_face.path == str(blank)
    assert str(no_face).endswith("(pass align=False for images that are already aligned crops)")
    from interp_cli.errors import InputError

    (tmp_path / "notes.png").write_text("not an image")
    bad = _refused(lambda: morph([DEMO_A, tmp_path / "notes.png"], tmp_path / "m.gif", session=demo))
    assert isinstance(bad, InputError) and isinstance(bad, UsageError) and bad.path == str(tmp_path / "notes.png")
    missing = _refused(lambda: morph([tmp_path / "gone.png", DEMO_B], tmp_path / "m.gif", session=demo))
    assert isinstance(missing, InputError) and missing.path == str(tmp_path / "gone.png")
    wrong = _refused(lambda: morph([DEMO_A, DEMO_B], tmp_path / "m.gif", steps=1, session=demo))
    assert type(wrong) is UsageError and wrong.path is None  # the call, not a file


def test_a_plain_morph_prints_nothing_and_warns_through_pythons_warnings(tmp_path, capfd, caplog):
    """morph() printed its progress bars and warnings on stderr, where a notebook, a service's log or a
    script's output got them whether or not it wanted them."""
    import logging

    from interp_cli.pipeline import morph

    capfd.readouterr()
    summary = morph([DEMO_A, DEMO_B], tmp_path / "m.gif", weights="demo", device="cpu", steps=3)
    assert summary["frames"] == 3 and capfd.readouterr() == ("", "")
    from interp_cli.errors import InterpWarning
    with pytest.warns(InterpWarning) as caught:  # a warning is a Python warning the caller can filter
        morph([DEMO_A, DEMO_B], tmp_path / "fast.gif", weights="demo", device="cpu", steps=3, fps=60)
    assert capfd.readouterr() == ("", "")
    [warning] = [w for w in caught if issubclass(w.category, InterpWarning)]
    assert str(warning.message).startswith(f"{tmp_path / 'fast.gif'}: a GIF plays at most 50 fps")
    assert str(warning.message).endswith("fps=60 is written at 50")
    assert warning.filename == __file__  # the caller's line, not interp's
    # A note is logged at INFO on the "interp_cli" logger: silent unless the caller's logging shows INFO.
    codes = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for code in codes:
        np.save(code, np.full((10, 128), len(code.stem), np.float32) * (code.stem == "b"))
    with caplog.at_level(logging.INFO, logger="interp_cli"):
        morph(codes, tmp_path / "n.gif", weights="demo", device="cpu", steps=2, tune=2)
    assert capfd.readouterr() == ("", "")
    assert [r.getMessage() for r in caplog.records if r.name == "interp_cli"] == [
        "note: tune: every input is a .npy code, with no photo to tune to; rendering untuned"]
    morph([DEMO_A, DEMO_B], tmp_path / "bars.gif", weights="demo", device="cpu", steps=3, progress=True)
    assert "rendering: 3/3 frames" in capfd.readouterr().err  # bars when asked for


def _process_state() -> dict:
    """What a library call could change for the whole process that embeds it (see the test below)."""
    import gc
    import logging
    import os
    import random
    import signal
    import sys
    import threading
    import warnings

    import torch
    import tqdm
    from PIL import Image as PILImage

    umask = os.umask(0o22)
    os.umask(umask)
    loggers = {name: (log.level, list(log.handlers), log.propagate, log.disabled)
               for name, log in [("", logging.getLogger()), ("interp_cli", logging.getLogger("interp_cli"))]}
    return {
        "signals": {s: signal.getsignal(s) for s in signal.valid_signals()
                    if s not in (signal.SIGKILL, signal.SIGSTOP)},
        "threads": (torch.get_num_threads(), torch.get_num_interop_threads()),
        "running": sorted(t.name for t in threading.enumerate()),
        "environ": dict(os.environ), "cwd": os.getcwd(), "umask": umask,
        "warnings": (list(warnings.filters), warnings.showwarning), "logging": loggers,
        "torch flags": (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
                        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
                        torch.backends.mkldnn.enabled, torch.get_float32_matmul_precision(),
                        torch.are_deterministic_algorithms_enabled(), torch.is_grad_enabled(),
                        torch.is_anomaly_enabled(), torch.get_default_dtype()),
        "rng": (torch.random.get_rng_state().numpy().tobytes(), repr(np.random.get_state()), random.getstate()),
        "numpy": (np.geterr(), np.get_printoptions()),
        "python": (sys.getrecursionlimit(), sys.getswitchinterval(), sys.stdout, sys.stderr, sys.stdin, list(sys.path)),
        "hooks": (sys.excepthook, threading.excepthook, sys.unraisablehook, sys.displayhook),
        "gc": (gc.isenabled(), gc.get_threshold(), gc.get_debug()),
        # Frozen objects leave the count as they die: a freeze (the command's own, malloc.frozen_imports) would grow it.
        "frozen": gc.get_freeze_count(),
        "tqdm": tqdm.tqdm.monitor_interval, "pillow": PILImage.MAX_IMAGE_PIXELS,
    }


def test_the_python_api_leaves_the_callers_process_as_it_found_it(tmp_path, monkeypatch):
    """A library shares its caller's process: every verb, a Session and a batch, with the costlier paths
    (refine, tune, a page, progress bars on a terminal), leave its signal handlers, threads, environment,
    warning filters, logging, torch flags and RNG states as they were. (tqdm's class-wide monitor_interval
    was left at 0 by the first terminal bar.)"""
    import io
    import sys

    from interp_cli.pipeline import batch, encode, mix, morph, render

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())  # bars drawn as on a terminal (tqdm's path)
    before = _process_state()
    morph([DEMO_A, DEMO_B], tmp_path / "m.gif", weights="demo", device="cpu", steps=3, refine=2, tune=2,
          cache=False, progress=True)
    morph([DEMO_A, DEMO_B], tmp_path / "m.html", weights="demo", device="cpu", steps=3)
    session = Session("demo", "cpu")
    assert len(list(session.morph_frames([DEMO_A, DEMO_B], steps=3))) == 3
    encode(DEMO_A, tmp_path / "a.npy", weights="demo", device="cpu")
    render(tmp_path / "a.npy", tmp_path / "a.png", weights="demo", device="cpu")
    mix([DEMO_A, DEMO_B], tmp_path / "x.png", weights="demo", device="cpu")
    (tmp_path / "pairs.csv").write_text(f"{DEMO_A},{DEMO_B},row.gif\n")
    assert batch(tmp_path / "pairs.csv", tmp_path / "out", weights="demo", device="cpu", steps=2)["made"] == 1
    after = _process_state()
    assert "rendering" in sys.stderr.getvalue()  # the bars were drawn
    assert after.pop("frozen") <= before.pop("frozen")
    assert {key: after[key] for key in before if after[key] != before[key]} == {}


def test_the_command_run_in_process_leaves_the_process_as_it_found_it(tmp_path, monkeypatch):
    """`cli.main([...])` (click's CliRunner too) in a script or service that goes on: its first run left SIGTERM and
    SIGHUP handled by interp and OMP_WAIT_POLICY=PASSIVE in os.environ, which every later child inherited. The
    command's own process makes those settings (`cli.run`); run in a caller's process it leaves it as the library
    does, failures and --debug included."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    before = _process_state()
    for words in ([DEMO_A, DEMO_B, "--steps", 3, "-o", tmp_path / "m.gif"],
                  ["encode", DEMO_A, "-o", tmp_path / "a.npy", "--debug"],
                  [DEMO_A, tmp_path / "missing.png", "-o", tmp_path / "n.gif"]):
        result = cli_runner().invoke(cli, [str(w) for w in (*words, "--weights", "demo", "--device", "cpu", "-q")])
        assert result.exit_code == (2 if "missing" in str(words[1]) else 0), result.stderr
    after = _process_state()
    assert after.pop("frozen") <= before.pop("frozen")
    assert {key: after[key] for key in before if after[key] != before[key]} == {}


def test_one_session_serves_morphs_in_threads_as_it_serves_them_one_by_one(demo):
    """A service's workers share one loaded model: tuned and plain morphs at once, each its own frames."""
    import threading

    def frames(tune: int) -> list[np.ndarray]:
        return list(demo.morph_frames([DEMO_A, DEMO_B], steps=4, tune=tune, cache=False))

    alone = {tune: frames(tune) for tune in (0, 2)}
    together: dict[int, list] = {}
    workers = [threading.Thread(target=lambda i=i: together.__setitem__(i, frames(2 * (i % 2)))) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(together) == [0, 1, 2, 3]
    for i, drawn in together.items():
        assert len(drawn) == 4 and all(np.array_equal(a, b) for a, b in zip(drawn, alone[2 * (i % 2)])), i


def test_a_morph_on_a_session_refuses_a_device_or_precision_it_would_not_use(demo, tmp_path, monkeypatch):
    """`morph(session=s, precision="bf16")` rendered in the session's fp32 and said nothing (the summary's
    "precision": "fp32"); a session's model is what renders, so asking for another is refused, as weights are."""
    import torch

    from interp_cli.pipeline import morph

    # A machine with a CUDA GPU, as far as picking a device goes (nothing here touches one).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for asked, shown in ((dict(precision="bf16"), 'precision="bf16" is not the session\'s (fp32)'),
                         (dict(device="cuda"), 'device="cuda" is not the session\'s (cpu)')):
        with pytest.raises(UsageError, match=f"^{re.escape(shown)}; a morph with a session renders with its model"):
            morph([DEMO_A, DEMO_B], tmp_path / "m.gif", steps=2, session=demo, **asked)
    assert not (tmp_path / "m.gif").exists()
    summary = morph([DEMO_A, DEMO_B], tmp_path / "m.gif", steps=2, session=demo, device="cpu", precision="fp32")
    assert (summary["device"], summary["precision"]) == ("cpu", "fp32")  # the session's own: accepted


def test_a_contact_sheet_of_a_held_morph_shows_the_morph_not_the_holds_copies(demo, tmp_path):
    """--hold repeats each face: sampled from every frame, a 22-frame `--steps 2 --hold 10` sheet was four
    copies of A then four of B; its evenly spaced frames are now picked among the frames that are not copies."""
    from interp_cli.pipeline import morph

    summary = morph([DEMO_A, DEMO_B], tmp_path / "m.gif", steps=2, hold=10, sheet=tmp_path / "s.png",
                    session=demo, log=lambda m: None, progress=False)
    assert summary["frames"] == 22 and summary["sheet_size"]["frames"] == 2  # A and B, once each
    summary = morph([DEMO_A, DEMO_B], tmp_path / "m.gif", steps=5, hold=3, pingpong=True, sheet=tmp_path / "s.png",
                    session=demo, log=lambda m: None, progress=False)
    frames = list(demo.morph_frames([DEMO_A, DEMO_B], steps=5))  # A, 3 in-betweens, B
    sheet = np.asarray(Image.open(tmp_path / "s.png").convert("RGB"))
    gap, size = 2, 64
    left = gap + 2 * (size + gap) + 4 * gap  # after the two inputs and the group's gap
    tiles = [sheet[gap:gap + size, left + k * (size + gap):left + k * (size + gap) + size] for k in range(8)]
    assert summary["frames"] == 14 and summary["sheet_size"]["frames"] == 8  # 8 frames 0-7 of the 8 not held
    # Forward A, 3 in-betweens, B, then back: every tile differs from the one before (no hold's copy).
    # Each of the first five tiles is its frame: within a level or two (a frame drawn in another batch of the
    # renderer can differ by one level in a pixel, as under torch 2.1 here), and nearer to it than to any other.
    for tile, want in zip(tiles, range(5)):
        off = [np.abs(tile.astype(int) - frame.astype(int)).max() for frame in frames]
        assert off[want] <= 2 and all(off[want] < off[k] for k in range(5) if k != want), (want, off)
    assert all(not np.array_equal(a, b) for a, b in zip(tiles, tiles[1:]))


@pytest.mark.parametrize("call, said", [
    (lambda out: pipeline.morph(None, out / "m.gif", weights="demo"), 'inputs=None: pass a list of paths'),
    (lambda out: pipeline.morph([DEMO_A, 2], out / "m.gif", weights="demo"), "inputs[1]: 2 is not a path"),
    (lambda out: pipeline.morph([DEMO_A, DEMO_B], None, weights="demo"), "output=None: give a path"),
    (lambda out: pipeline.morph([DEMO_A, DEMO_B], out / "m.gif", weights="demo", sheet=3), "sheet=3: give a path"),
    (lambda out: pipeline.morph([DEMO_A, DEMO_B], out / "m.gif", weights="demo", save_aligned=1),
     "save_aligned=1: give a path"),
    (lambda out: pipeline.morph([DEMO_A, DEMO_B], out / "m.gif", weights="demo", face=1.5),
     "face=1.5: give a face number"),
    (lambda out: pipeline.morph([DEMO_A, DEMO_B], out / "m.gif", session="demo"), 'session="demo": give a Session'),
    (lambda out: pipeline.encode([DEMO_A], out / "a.npy", weights="demo"), "image=['"),
    (lambda out: pipeline.render(0, out / "a.png", weights="demo"), "codes=0: give a path"),
    (lambda out: pipeline.mix([DEMO_A, DEMO_B], 7, weights="demo"), "output=7: give a path"),
    (lambda out: pipeline.align(DEMO_A, 5), "output=5: give a path"),
    (lambda out: pipeline.batch(3, out, weights="demo"), "manifest=3: give a path"),
    (lambda out: Session("demo", "cpu", cache_dir=3), "cache_dir=3: give a path"),
    (lambda out: Session("demo", "cpu", precision=16), "precision=16: give auto, fp32, bf16 or fp16 (a str)"),
    (lambda out: pipeline.morph([DEMO_A], out / "m.gif", weights="demo"), "need at least two images to morph"),
    (lambda out: next(Session("demo", "cpu").morph_frames([DEMO_A])), "need at least two images to morph"),
])
def test_a_wrong_kind_of_argument_is_a_usage_error_naming_its_keyword(tmp_path, call, said):
    """A number, None or a list where a path belongs reached os.fspath deep inside: a TypeError ("expected str,
    bytes or os.PathLike object, not int") that named no argument, or an AttributeError for a session that was
    no Session; face=1.5 ("'float' object is not iterable"). Each is a UsageError naming the keyword, as
    steps="3" and weights=3 already were, and nothing is written."""
    with pytest.raises(UsageError) as caught:
        call(tmp_path)
    assert str(caught.value).startswith(said) and "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def _mirrored(frames: list[np.ndarray]) -> list[tuple[int, int]]:
    """(frame, its most levels off) for each frame of a pingpong that is not the frame it mirrors: a pingpong of
    n frames comes back through frame n - i at frame i (frame 0 is the first input, n / 2 the turn)."""
    n = len(frames)
    off = [(i, int(np.abs(frames[i].astype(int) - frames[n - i].astype(int)).max())) for i in range(1, n)]
    return [(i, levels) for i, levels in off if levels]


def test_a_pingpong_comes_back_through_its_own_frames_byte_for_byte(tmp_path):
    """--pingpong drew its way back again, from codes within float32 rounding of the way out's and in other
    batches: with these options six frames were a level off the frames they mirror (under torch 2.13 and 2.1),
    and the render took twice as long. The way back replays the way out's frames now, in every output kind; the
    page stores each only once. An MP4 is lossy, and a GIF's frame is drawn with a palette of the rectangle that
    changed since the frame before, which the way back comes to from the other side: their frames mirror within
    what the codec makes of the frames (a GIF's up to 25 levels off here, before this change as after)."""
    from tests.test_page import page_frames
    from tests.test_write import _decode_mp4, _gif_frames

    common = [DEMO_A, DEMO_B, "--weights", "demo", "--device", "cpu", "--steps", 16, "--pingpong",
              "--batch-size", 3, "-q"]
    for output in ("frames/", "m.html", "m.mp4", "m.gif"):
        result = cli_runner().invoke(cli, [str(a) for a in (*common, "-o", f"{tmp_path}/{output}")])
        assert result.exit_code == 0, result.stderr
    frames = [np.asarray(Image.open(path)) for path in sorted((tmp_path / "frames").iterdir())]
    assert len(frames) == 30 and _mirrored(frames) == []
    assert not np.array_equal(frames[14], frames[15])  # not a still: the turn, B, comes after an in-between
    shown = page_frames(tmp_path / "m.html")
    assert len(shown) == 30 and _mirrored(shown) == []
    for played in (_decode_mp4(tmp_path / "m.mp4")[1], _gif_frames(tmp_path / "m.gif")[1]):
        coded = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(played, frames))
        assert len(played) == 30 and all(levels <= coded for _, levels in _mirrored(played))


def test_held_copies_are_their_frame_byte_for_byte(demo, tmp_path):
    """--hold's copies were drawn again, each in whatever batch it fell in; they are the frame they hold now,
    as are a two-input --loop's way back (the same path as a pingpong's), and the Python API's frames alike."""
    held = cli_frames(tmp_path, DEMO_A, DEMO_B, "--steps", 3, "--hold", 4, "--batch-size", 3)
    assert len(held) == 3 + 2 * 4
    assert all(np.array_equal(frame, held[0]) for frame in held[1:5])
    assert all(np.array_equal(frame, held[6]) for frame in held[7:])
    looped = list(demo.morph_frames([DEMO_A, DEMO_B], steps=16, loop=True, batch_size=3))
    assert len(looped) == 30 and _mirrored(looped) == []


def test_a_code_inputs_tile_shows_it_as_the_tuned_morph_draws_it(demo, tmp_path):
    """A `.npy` input's tile (and its crop on a page) was drawn by the loaded generator while a --tune morph's
    frames come from its tuned copy: the sheet showed another face than the morph ends on."""
    from interp_cli.pipeline import encode, morph

    code = tmp_path / "b.npy"
    encode(DEMO_B, code, weights="demo", log=lambda m: None)
    summary = morph([DEMO_A, code], tmp_path / "frames", steps=3, tune=5, sheet=tmp_path / "s.png", session=demo,
                    log=lambda m: None)
    assert summary["tune"]["steps"] == 5
    last = np.asarray(Image.open(tmp_path / "frames" / "frame_0002.png"))  # the code's own frame, tuned
    untuned = next(demo.frames([np.load(code, allow_pickle=False)], batch_size=1))
    sheet = np.asarray(Image.open(tmp_path / "s.png").convert("RGB"))
    gap, size = 2, 64
    tile = sheet[gap:gap + size, gap + size + gap:gap + 2 * size + gap]  # the second input's
    assert np.abs(tile.astype(int) - last.astype(int)).max() <= 2  # a level or two: drawn in another batch
    assert np.abs(untuned.astype(int) - last.astype(int)).max() > 8  # what it showed: not the morph's face


def test_a_rerun_says_its_codes_came_from_the_cache_and_no_cache_encodes_again(tmp_path, monkeypatch):
    """A second run's encoding took no time and said only "encoding: 2/2 images in 0.0s", where a tuning taken
    from the cache says so. The rerun now says how many codes it reused, and how to encode again, which works."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    code = tmp_path / "a.npy"
    np.save(code, np.zeros((10, 128), np.float32))

    def said(*extra):
        done = cli_runner().invoke(cli, [DEMO_A, DEMO_B, str(code), "--weights", "demo", "--steps", "2",
                                         "-o", str(tmp_path / "m.gif"), *extra])
        assert done.exit_code == 0, done.stderr
        return [line for line in done.stderr.splitlines() if "cache" in line]

    assert said() == []  # the first run encodes both photos; a .npy code is never encoded
    again = "encoding: 2 of 2 codes reused from the cache (--no-cache encodes again)"
    assert said() == [again]
    assert said("--no-cache") == []
    other = cli_runner().invoke(cli, [DEMO_A, str(EXAMPLES / "obama.jpg"), "--weights", "demo", "--steps", "2",
                                      "-o", str(tmp_path / "n.gif")])
    assert other.exit_code == 0, other.stderr
    assert "encoding: 1 of 2 codes reused from the cache (--no-cache encodes again)" in other.stderr.splitlines()
    quiet = cli_runner().invoke(cli, [DEMO_A, DEMO_B, "--weights", "demo", "--steps", "2", "-o",
                                      str(tmp_path / "q.gif"), "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    # encode and mix say it alike.
    for words, said in [(["encode", DEMO_A, "-o", str(tmp_path / "a.npy")], "1 of 1 code"),
                        (["mix", DEMO_A, str(EXAMPLES / "obama.jpg"), "-o", str(tmp_path / "m.png")], "2 of 2 codes"),
                        (["mix", DEMO_B, str(code), "--no-cache", "-o", str(tmp_path / "m.png")], None)]:
        done = cli_runner().invoke(cli, [*words, "--weights", "demo"])
        assert done.exit_code == 0, done.stderr
        lines = [line for line in done.stderr.splitlines() if "cache" in line]
        assert lines == ([f"encoding: {said} reused from the cache (--no-cache encodes again)"] if said else [])
    # A batch's rows share one model, and photos recur across rows: no row says it (a line per row would).
    (tmp_path / "pairs.csv").write_text(f"{DEMO_A},{DEMO_B},r1.gif\n{DEMO_B},{DEMO_A},r2.gif\n")
    rows = cli_runner().invoke(cli, ["batch", str(tmp_path / "pairs.csv"), "--outdir", str(tmp_path / "rows"),
                                     "--weights", "demo", "--steps", "2"])
    assert rows.exit_code == 0 and "[2/2] row 2: wrote" in rows.stderr and "cache" not in rows.stderr, rows.stderr


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
def test_a_session_saves_the_aligned_crop_a_python_caller_asks_for(tmp_path, demo):
    """`EncodeSettings(save_aligned=folder)` outside a morph (no outputs to move it into place with): the crop
    the encoder saw is written at once as NAME_aligned.png, its folder made, and it is the aligned face the
    code was made from (it encodes to the same code)."""
    from interp_cli.pipeline import EncodeSettings

    photo = Path(__file__).parent / "data" / "faces" / "obama.jpg"
    crops = tmp_path / "crops" / "deeper"
    code = demo.encode_path(photo, EncodeSettings(align=True, save_aligned=crops))
    assert [p.name for p in crops.iterdir()] == ["obama_aligned.png"]
    crop = Image.open(crops / "obama_aligned.png")
    assert crop.size == (256, 256) and crop.mode == "RGB"
    np.testing.assert_allclose(demo.encode_path(crops / "obama_aligned.png", EncodeSettings(align=False)), code,
                               atol=1e-2)


def test_a_row_naming_one_photo_again_and_again_is_refused_before_any_photo_is_decoded(tmp_path, monkeypatch):
    """A batch row (or a Python caller) naming one photo 2,000 times: every input was decoded (0.3-0.5 ms each; a
    minute for the fuzzer's 200,000) before the names alone said the morph would be a still."""
    from interp_cli import images

    decoded = []
    real = images.check_image
    monkeypatch.setattr(images, "check_image", lambda path: decoded.append(path) or real(path))
    (tmp_path / "rows.csv").write_text(",".join(["a.png"] * 2000) + ",out.gif\n")
    Image.open(DEMO_A).save(tmp_path / "a.png")
    result = cli_runner().invoke(cli, ["batch", str(tmp_path / "rows.csv"), "--weights", "demo",
                                       "--outdir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "a.png follows itself, so the morph between them would be a still" in result.stderr
    with pytest.raises(UsageError, match="follows itself"):
        next(pipeline.morph_frames(Session("demo"), [tmp_path / "a.png"] * 2000, steps=2))
    assert decoded == []


def _morph_frames(session: Session, **options) -> list[np.ndarray]:
    return list(session.morph_frames([DEMO_A, DEMO_B], steps=3, cache=False, **options))


CALLER_OPTIONS = [{}, {"refine": 2, "tune": 2}, {"noise": "random", "seed": 3}]


@pytest.mark.parametrize("default", ["float64", "float16"])
def test_a_caller_with_another_default_dtype_gets_the_frames_a_fresh_process_gets(demo, default):
    """A scientific caller's `torch.set_default_dtype(torch.float64)` made the loaded networks float64, and every
    morph failed inside torch ("expected scalar type Float but found Double"); random noise and --refine's and
    --tune's draws were made in it too. The frames are those of a float32 process, bit for bit."""
    import torch

    expected = [_morph_frames(demo, **options) for options in CALLER_OPTIONS]
    torch.set_default_dtype(getattr(torch, default))
    try:
        session = Session("demo", "cpu")
        drawn = [_morph_frames(session, **options) for options in CALLER_OPTIONS]
        assert torch.get_default_dtype() == getattr(torch, default)  # the caller's, left as it was
    finally:
        torch.set_default_dtype(torch.float32)
    for options, frames, wanted in zip(CALLER_OPTIONS, drawn, expected):
        assert len(frames) == len(wanted) == 3 and all(np.array_equal(a, b) for a, b in zip(frames, wanted)), options


def test_a_caller_with_another_default_dtype_renders_with_truncation_from_a_generator_only_file(demo, tmp_path):
    """A generator-only checkpoint (rosinality's `g_ema`, no `latent_avg`) truncates towards a mean of mapped random
    draws: those draws were made in the caller's default dtype, so a float64 caller's render failed inside torch
    (a mutant that dropped their float32 passed every test). The image is a float32 process's, bit for bit."""
    import torch

    weights = tmp_path / "generator.pt"
    torch.save({"g_ema": demo.model.generator.state_dict()}, weights)
    code = tmp_path / "code.npy"
    np.save(code, np.zeros((demo.model.n_latent, demo.model.generator.style_dim), np.float32))
    pipeline.render(code, tmp_path / "expected.npy", weights=str(weights), device="cpu", truncation=0.5)
    torch.set_default_dtype(torch.float64)
    try:
        pipeline.render(code, tmp_path / "drawn.npy", weights=str(weights), device="cpu", truncation=0.5)
    finally:
        torch.set_default_dtype(torch.float32)
    assert np.array_equal(np.load(tmp_path / "drawn.npy"), np.load(tmp_path / "expected.npy"))


def test_a_caller_inside_torch_inference_mode_gets_the_frames_it_gets_outside(demo, tmp_path):
    """`with torch.inference_mode(): morph(...)`, the usual wrapper around inference code: a model loaded there was
    made of inference tensors, and every render failed inside torch ("Inference tensors do not track version
    counter"); a Session loaded outside failed to refine or tune ("element 0 of tensors does not require grad").
    Both give the frames they give outside, a tuned generator read back from the cache too."""
    import torch

    expected = [_morph_frames(demo, **options) for options in CALLER_OPTIONS]
    outside = Session("demo", "cpu")
    with torch.inference_mode():
        drawn = [_morph_frames(outside, **options) for options in CALLER_OPTIONS]
        for options, frames, wanted in zip(CALLER_OPTIONS, drawn, expected):
            assert all(np.array_equal(a, b) for a, b in zip(frames, wanted)), ("outside", options)
        inside = Session("demo", "cpu", cache_dir=tmp_path / "cache")
        for _ in range(2):  # the second draws with the tuned weights the first one cached
            for options, wanted in zip(CALLER_OPTIONS, expected):
                frames = list(inside.morph_frames([DEMO_A, DEMO_B], steps=3, **options))
                assert all(np.array_equal(a, b) for a, b in zip(frames, wanted)), ("inside", options)
        assert inside.tuned_cache.hits == 1
        summary = pipeline.morph([DEMO_A, DEMO_B], tmp_path / "m", weights="demo", device="cpu", steps=3, refine=2,
                                 tune=2, cache=False)  # a morph of its own: loads, drops its encoder, tunes
    assert summary["frames"] == 3
    written = [np.asarray(Image.open(path)) for path in sorted((tmp_path / "m").iterdir())]
    assert all(np.array_equal(a, b) for a, b in zip(written, expected[1]))


@pytest.mark.skipif(not alignment_available(), reason="the align extra is not installed")
def test_a_morph_that_aligns_leaves_the_callers_library_path_as_it_was(tmp_path):
    """OpenCV's first import, inside a morph of photos, prepended its wheel's lib64 to LD_LIBRARY_PATH and left it
    in the caller's os.environ, ending in an empty entry where none was set: the current directory, searched for
    shared libraries by every later child of the caller's process. A fresh process, since this one has cv2."""
    import os
    import subprocess
    import sys

    code = ("import os, sys, warnings; warnings.simplefilter('ignore'); from interp_cli.pipeline import morph; "
            f"morph([{str(EXAMPLES / 'obama.jpg')!r}, {str(EXAMPLES / 'biden.jpg')!r}], {str(tmp_path / 'm.gif')!r}, "
            "weights='demo', device='cpu', steps=2, align=True, cache=False); "
            "assert 'cv2' in sys.modules; print(repr(os.environ.get('LD_LIBRARY_PATH')))")
    for before in (None, "/opt/caller/lib"):
        env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent)}
        env.pop("LD_LIBRARY_PATH", None)
        if before is not None:
            env["LD_LIBRARY_PATH"] = before
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == repr(before)


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
@pytest.mark.parametrize("cache", [True, False])
def test_a_photo_given_twice_is_aligned_and_encoded_once(tmp_path, monkeypatch, cache):
    """`interp a.jpg b.jpg a.jpg` (there and back) searched a.jpg for its face twice, the detector and landmarks
    run again for the same crop (11 % of a demo morph's CPU), and without the cache encoded it twice too. Now
    once each; the morph ends on the frame it began with, bit for bit, as before. Another face of one photo
    (`--face 0,,1`) is still another search and another code."""
    from interp_cli import align

    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    photos = Path(__file__).parent / "data" / "faces"
    a, b, two = (str(photos / name) for name in ("obama.jpg", "biden.jpg", "two_people.jpg"))
    searched = []
    align_face = align.align_face

    def counted(photo, **kwargs):
        searched.append(kwargs["name"])
        return align_face(photo, **kwargs)

    monkeypatch.setattr(align, "align_face", counted)
    with pytest.warns(InterpWarning) as caught:  # the demo model draws real photos poorly: each input says so
        summary = pipeline.morph([a, b, a], tmp_path / "m", weights="demo", steps=3, align=True, cache=cache)
    assert searched == [a, b] and summary["encoder_calls"] == 2
    assert [str(w.message).split(": ")[0] for w in caught] == [a, b, a]  # said for each input, as before
    frames = sorted((tmp_path / "m").iterdir())
    assert len(frames) == summary["frames"] == 5 and frames[0].read_bytes() == frames[-1].read_bytes()
    searched.clear()
    with pytest.warns(InterpWarning):
        summary = pipeline.morph([two, b, two], tmp_path / "n", weights="demo", steps=3, align=True, cache=cache,
                                 face=(0, None, 1))
    assert searched == [two, b, two] and summary["encoder_calls"] == (2 if cache else 3)


def test_a_resized_pingpongs_way_back_is_resized_once_a_pasted_ones_pasted_again(demo, tmp_path, monkeypatch):
    """A --pingpong's way back (and a two-input --loop's) read each frame back as drawn and resized it again for
    --size: a second Lanczos per frame for the frame already shown. Now the resized frame is kept for the way
    back; a pasted one is still pasted again (as cheap as keeping a frame of the photo's size). Same frames."""
    from interp_cli.paste import Paster

    resized, pasted = [], []
    resize, paste = pipeline._resized, Paster.paste
    monkeypatch.setattr(pipeline, "_resized", lambda frame, size: resized.append(1) or resize(frame, size))
    monkeypatch.setattr(Paster, "paste", lambda self, face: pasted.append(1) or paste(self, face))
    frames = cli_frames(tmp_path, DEMO_A, DEMO_B, "--steps", 6, "--pingpong", "--size", 96, "--batch-size", 4)
    assert len(frames) == 10 and len(resized) == 6 and _mirrored(frames) == []
    looped = list(demo.morph_frames([DEMO_A, DEMO_B], steps=6, loop=True, size=80))
    assert len(looped) == 10 and len(resized) == 12 and _mirrored(looped) == [] and looped[0].shape == (80, 80, 3)
    if alignment_available():
        faces = Path(__file__).parent / "data" / "faces"
        shown = list(demo.morph_frames([faces / "obama.jpg", faces / "biden.jpg"], steps=4, pingpong=True,
                                       paste=True, size=300))
        assert len(shown) == len(pasted) == 6 and len(resized) == 12 and _mirrored(shown) == []


def test_morph_frames_and_morph_with_only_their_defaults_give_the_bare_commands_frames(demo, tmp_path):
    """`Session.morph_frames(inputs)` and `morph(inputs, output)` with no frame option: the frames the bare command
    writes (its 60 steps, no loop, no pingpong or hold). The keyword defaults are the pipeline's own, apart from the
    command's flags, so a default that drifted (59 steps, a loop) changed only what a Python caller got."""
    command = cli_frames(tmp_path, DEMO_A, DEMO_B)
    frames = list(demo.morph_frames([DEMO_A, DEMO_B]))
    pipeline.morph([DEMO_A, DEMO_B], f"{tmp_path}/py/", weights="demo", device="cpu")
    written = [np.asarray(Image.open(path)) for path in sorted((tmp_path / "py").iterdir())]
    assert len(command) == len(frames) == len(written) == 60
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(command, frames, written))


def test_a_session_made_with_its_defaults_draws_no_bars_even_on_a_terminal(monkeypatch):
    """`Session(weights)` promises nothing printed unless asked: bars only with `progress=True`. A notebook's stderr
    can be a terminal; a default that drew there put an encoding bar under every `morph_frames` call."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert len(list(Session("demo", "cpu").morph_frames([DEMO_A, DEMO_B], steps=3))) == 3
    assert sys.stderr.getvalue() == ""
    assert len(list(Session("demo", "cpu", progress=True).morph_frames([DEMO_A, DEMO_B], steps=3))) == 3
    assert "encoding:" in sys.stderr.getvalue()  # the terminal is one a bar is drawn on, when asked


def test_a_notebooks_second_session_takes_the_codes_its_first_cached_as_the_command_does(tmp_path):
    """`morph_frames` caches codes by default, as the command does without --no-cache: a notebook restarted (a new
    Session on the same cache) draws its morph again without encoding, and `cache=False` encodes every time."""
    def encoder_calls(**options) -> int:
        session = Session("demo", "cpu", cache_dir=tmp_path / "cache")
        assert len(list(session.morph_frames([DEMO_A, DEMO_B], steps=2, **options))) == 2
        return session.encoder_calls

    assert [encoder_calls(), encoder_calls(), encoder_calls(cache=False)] == [2, 0, 2]
    assert len(list((tmp_path / "cache" / "latents").glob("*.npy"))) == 2


@pytest.mark.skipif(not alignment_available(), reason="needs the align extra")
@pytest.mark.parametrize("face,other", [(0, 1), (1, 0)])
def test_the_several_faces_note_offers_the_face_not_used(tmp_path, face, other):
    """A photo of two people: the note names the face used and offers the other one, whichever was picked; after
    `--face 1`, offering `--face 1` again would be a suggestion that changes nothing."""
    two = Path(__file__).resolve().parent / "data" / "faces" / "two_people.jpg"
    done = cli_runner().invoke(cli, ["encode", str(two), "--weights", "demo", "--align", "--face", str(face),
                                     "-o", str(tmp_path / "a.npy")])
    assert done.exit_code == 0, done.stderr
    assert (f"{two}: 2 faces found, using face {face} (numbered left to right from 0; choose with --face {other})"
            in done.stderr.splitlines()), done.stderr


def test_render_of_a_code_that_records_no_maker_without_the_weights_says_only_what_is_missing(tmp_path, monkeypatch):
    """A code saved by the caller's own numpy (no record of the weights that made it), rendered offline without the
    default weights: the one-line refusal of the missing weights, with no word about a maker it cannot know."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("INTERP_WEIGHTS", raising=False)
    monkeypatch.chdir(tmp_path)
    np.save("plain.npy", np.zeros((18, 512), np.float32))
    failed = run_cli("render", "plain.npy", "-o", "plain.png")
    assert failed.exit_code == 1 and failed.stderr.startswith("interp: error: ffhq weights unavailable")
    assert len(failed.stderr.splitlines()) == 1 and "made by" not in failed.stderr, failed.stderr
    assert not Path("plain.png").exists()
