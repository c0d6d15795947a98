"""Values at the edges of what an option or a Python argument can mean: nan and inf, seeds beyond what torch
takes, frame counts no one means, codes beyond float32, wrong types from Python. Each is refused as a usage
error (one line, exit 2; UsageError from Python), before the model loads where the value alone decides."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from interp_cli import blend, options, write
from interp_cli.align import alignment_available
from interp_cli.cli import cli
from interp_cli.errors import UsageError
from interp_cli.pipeline import EncodeSettings, Session, align, morph, render
from interp_cli.weights import resolve_weights
from tests.cli_runner import cli_runner

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO_A, DEMO_B = str(EXAMPLES / "demo_a.png"), str(EXAMPLES / "demo_b.png")
FACES = Path(__file__).parent / "data" / "faces"


def run(*args):
    return cli_runner().invoke(cli, [str(a) for a in args])


def usage_error(result) -> str:
    """The one line a usage error prints (exit 2, no traceback)."""
    err = result.stderr.strip()
    assert result.exit_code == 2, (result.exit_code, err)
    assert "\n" not in err and "Traceback" not in err and err.startswith("interp: error: "), err
    return err


def quiet() -> dict:
    return {"log": lambda message: None, "progress": False}


@pytest.fixture(scope="module")
def demo():
    return Session("demo", "cpu", **quiet())


@pytest.fixture()
def manifest(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(f"{DEMO_A},{DEMO_B},m.gif\n")
    return path


# --- nan and inf ------------------------------------------------------------------------------------


@pytest.mark.parametrize("option,value", [("--truncation", "nan"), ("--fps", "nan"), ("--fps", "inf"),
                                          ("--truncation", "-inf")])
@pytest.mark.parametrize("output", ["t.gif", "frames/", "t.mp4", "t.html"])
def test_morph_refuses_nan_and_inf_at_parse_time(tmp_path, option, value, output):
    err = usage_error(run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 3, option, value,
                          "-o", tmp_path / output, "--json"))
    assert option in err
    assert not list(tmp_path.iterdir())  # nothing rendered or written


@pytest.mark.parametrize("option", ["--truncation", "--fps"])
def test_batch_refuses_nan(tmp_path, manifest, option):
    err = usage_error(run("batch", manifest, "--outdir", tmp_path / "out", "--weights", "demo", option, "nan"))
    assert option in err and "finite" in err
    assert not (tmp_path / "out").exists()


def test_render_refuses_nan_truncation(tmp_path, demo):
    codes = tmp_path / "a.npy"
    np.save(codes, demo.encode_path(DEMO_A))
    err = usage_error(run("render", codes, "--weights", "demo", "--truncation", "nan", "-o", tmp_path / "r.npy"))
    assert "--truncation" in err and "finite" in err
    assert not (tmp_path / "r.npy").exists()


@pytest.mark.parametrize("keyword", ["truncation", "fps"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_python_morph_refuses_nan_and_inf(tmp_path, keyword, value):
    with pytest.raises(UsageError, match=f"^{keyword} must be a finite number"):
        morph([DEMO_A, DEMO_B], tmp_path / "t.gif", weights="demo", steps=3, **{keyword: value}, **quiet())


def test_python_render_refuses_nan_truncation(tmp_path, demo):
    codes = tmp_path / "a.npy"
    np.save(codes, demo.encode_path(DEMO_A))
    with pytest.raises(UsageError, match="^truncation must be a finite number"):
        render(codes, tmp_path / "r.npy", weights="demo", truncation=math.nan, **quiet())


# --- a code beyond float32 ----------------------------------------------------------------------------


def test_a_float64_code_beyond_float32_is_refused_naming_the_file(tmp_path, demo):
    code = demo.encode_path(DEMO_A).astype(np.float64)
    code[0, 0] = 1e300  # finite as float64; inf once cast to float32
    np.save(tmp_path / "big.npy", code)
    result = run("render", tmp_path / "big.npy", "--weights", "demo", "-o", tmp_path / "r.npy")
    err = usage_error(result)
    assert "big.npy" in err and "float32" in err
    assert "RuntimeWarning" not in result.stderr
    assert not (tmp_path / "r.npy").exists()


# --- a code that is no W code: absurd magnitudes, not floats -------------------------------------------


@pytest.mark.parametrize("make, fragment", [
    (lambda good: np.full_like(good, 1e30), "code holds values as large as 1e+30, far outside any W+ code"),
    # a real code scaled 1000x: over the bound of 1000
    (lambda good: good * 1000, "code holds values as large as 2.77e+03, far outside"),
    (lambda good: good > 0, "code holds bool values, not floats"),
    (lambda good: good.astype(np.int32), "code holds int32 values, not floats"),
], ids=["1e30", "scaled-1000x", "bool", "int32"])
def test_a_code_that_is_no_w_code_is_refused_naming_the_file(tmp_path, demo, make, fragment):
    """The auditor's cases: each rendered noise (or a flat colour) with exit 0."""
    np.save(tmp_path / "odd.npy", make(demo.encode_path(DEMO_A)))
    err = usage_error(run("render", tmp_path / "odd.npy", "--weights", "demo", "-o", tmp_path / "r.png"))
    assert err.startswith(f"interp: error: {tmp_path / 'odd.npy'}: {fragment}")  # the path as typed
    assert not (tmp_path / "r.png").exists()


def test_real_codes_and_bold_edits_of_them_still_render(tmp_path, demo):
    good = demo.encode_path(DEMO_A)
    for name, code in (("a.npy", good), ("bold.npy", good * 30), ("half.npy", good.astype(np.float16))):
        np.save(tmp_path / name, code)
        result = run("render", tmp_path / name, "--weights", "demo", "-o", tmp_path / (name + ".png"))
        assert result.exit_code == 0, result.stderr


# --- seeds --------------------------------------------------------------------------------------------


def test_the_seed_range_is_what_torch_takes():
    torch.Generator().manual_seed(options.SEED_MIN)
    torch.Generator().manual_seed(options.SEED_MAX)
    for beyond in (options.SEED_MIN - 1, options.SEED_MAX + 1):
        with pytest.raises((ValueError, RuntimeError)):
            torch.Generator().manual_seed(beyond)


@pytest.mark.parametrize("seed", ["99999999999999999999", "-9223372036854775809"])
@pytest.mark.parametrize("command", [
    lambda tmp: [DEMO_A, DEMO_B, "--noise", "random", "-o", tmp / "s.gif"],
    lambda tmp: [DEMO_A, DEMO_B, "--refine", 2, "-o", tmp / "s.gif"],
    lambda tmp: [DEMO_A, DEMO_B, "--tune", 2, "-o", tmp / "s.gif"],
    lambda tmp: ["encode", DEMO_A, "--refine", 2, "-o", tmp / "a.npy"],
    lambda tmp: ["mix", DEMO_A, DEMO_B, "--noise", "random", "-o", tmp / "m.png"],
], ids=["morph", "refine", "tune", "encode", "mix"])
def test_a_seed_beyond_64_bits_is_a_usage_error_with_the_range(tmp_path, command, seed):
    err = usage_error(run(*command(tmp_path), "--weights", "demo", "--seed", seed))
    assert "--seed" in err and str(options.SEED_MAX) in err and str(options.SEED_MIN) in err
    assert not list(tmp_path.iterdir())


def test_render_refuses_a_seed_beyond_64_bits(tmp_path, demo):
    codes = tmp_path / "a.npy"
    np.save(codes, demo.encode_path(DEMO_A))
    err = usage_error(run("render", codes, "--weights", "demo", "--noise", "random", "--seed", 2 ** 64,
                          "-o", tmp_path / "r.png"))
    assert str(options.SEED_MAX) in err


@pytest.mark.parametrize("call", [
    lambda tmp, s: morph([DEMO_A, DEMO_B], tmp / "s.gif", noise="random", seed=2 ** 64, session=s, **quiet()),
    lambda tmp, s: morph([DEMO_A, DEMO_B], tmp / "s.gif", noise="random", seed=-(2 ** 63) - 1, session=s, **quiet()),
    lambda tmp, s: next(s.morph_frames([DEMO_A, DEMO_B], steps=3, noise="random", seed=2 ** 64)),
    lambda tmp, s: s.encode_photo(DEMO_A, EncodeSettings(refine=2, seed=2 ** 64, cache=False)),
], ids=["morph", "negative", "morph_frames", "encode_settings"])
def test_python_callers_get_the_seed_range_too(tmp_path, demo, call):
    with pytest.raises(UsageError, match="^seed must be between"):
        call(tmp_path, demo)


# --- frame counts ---------------------------------------------------------------------------------------


def test_the_frame_bound_is_one_number():
    assert options.MAX_FRAMES == blend.MAX_FRAMES == 1_000_000
    assert "1,000,000" in run("morph", "--help").stdout


@pytest.mark.parametrize("args,shown", [
    (["--steps", "99999999999999999999999"], "1000000"),
    (["--hold", "1000000000000"], "1000000"),
    (["--steps", "600000", "--hold", "300000"], "1,000,000"),
])
def test_a_morph_of_more_than_a_million_frames_is_refused_at_once(tmp_path, args, shown):
    err = usage_error(run(DEMO_A, DEMO_B, "--weights", "demo", *args, "-o", tmp_path / "s.gif"))
    assert shown in err
    assert not list(tmp_path.iterdir())


def test_three_inputs_count_every_transition(tmp_path):
    err = usage_error(run(DEMO_A, DEMO_B, DEMO_A, "--weights", "demo", "--steps", 600_000, "-o", tmp_path / "s.gif"))
    assert "1,199,999 frames" in err and "1,000,000" in err


@pytest.mark.parametrize("keywords", [{"steps": 10 ** 12}, {"steps": 10 ** 23}, {"hold": 10 ** 12}])
def test_python_morph_refuses_more_than_a_million_frames(tmp_path, keywords):
    with pytest.raises(UsageError, match="at most 1,000,000"):
        morph([DEMO_A, DEMO_B], tmp_path / "s.gif", weights="demo", **keywords, **quiet())
    with pytest.raises(UsageError, match="at most 1,000,000"):
        blend.frame_count(2, keywords.get("steps", 2), hold=keywords.get("hold", 0))


# --- Python types -------------------------------------------------------------------------------------


def test_session_takes_a_path_object():
    path = resolve_weights("demo").path
    session = Session(Path(path), "cpu", **quiet())
    assert Path(session.weights.path) == Path(path)


@pytest.mark.parametrize("keywords,match", [
    ({"weights": 5}, "weights=5"),
    ({"weights": "demo", "device": 42}, "device=42"),
])
def test_session_refuses_what_is_not_a_name(keywords, match):
    with pytest.raises(UsageError, match=match):
        Session(**keywords, **quiet())


@pytest.mark.parametrize("call", [
    lambda tmp, s: morph(DEMO_A, tmp / "o.gif", session=s, **quiet()),
    lambda tmp, s: morph(Path(DEMO_A), tmp / "o.gif", session=s, **quiet()),
    lambda tmp, s: s.encode_inputs(DEMO_A),
    lambda tmp, s: next(s.morph_frames(DEMO_A)),
], ids=["morph", "morph_path", "encode_inputs", "morph_frames"])
def test_one_path_where_a_list_of_inputs_belongs_is_refused(tmp_path, demo, call):
    with pytest.raises(UsageError, match="where a list of inputs is expected"):
        call(tmp_path, demo)


def test_encode_inputs_refuses_settings_of_another_length(demo):
    with pytest.raises(UsageError, match="1 settings for 2 inputs"):
        demo.encode_inputs([DEMO_A, DEMO_B], [EncodeSettings()])


@pytest.mark.parametrize("keywords,match", [
    ({"fps": "30"}, "^fps must be a number"),  # named as the keyword a Python caller passes, not --fps
    ({"fps": None}, "^fps must be a number"),
    ({"truncation": None}, "^truncation must be a number"),
    ({"tune": 1.5}, "^tune must be a whole number"),
    ({"refine": 2.5}, "^refine must be a whole number"),
])
def test_morph_refuses_values_that_are_not_the_numbers_it_needs(tmp_path, demo, keywords, match):
    with pytest.raises(UsageError, match=match):
        morph([DEMO_A, DEMO_B], tmp_path / "o.gif", steps=3, session=demo, **keywords, **quiet())


def test_align_refuses_a_face_that_is_not_a_number(tmp_path):
    with pytest.raises(UsageError, match='^face="0": give a face number'):
        align(DEMO_A, tmp_path / "al.png", face="0", log=lambda message: None)


@pytest.mark.parametrize("keywords,match", [({"refine": -3}, "^refine must be between 0 and 10000"),
                                            ({"refine": 1.5}, "^refine must be a whole number"),
                                            ({"refine_loss": "l3"}, '^refine_loss="l3"')])
def test_encode_settings_are_checked(demo, keywords, match):
    with pytest.raises(UsageError, match=match):
        demo.encode_photo(DEMO_A, EncodeSettings(**keywords))


def test_likeness_refuses_lists_of_different_lengths(demo):
    code = demo.encode_path(DEMO_A)
    with pytest.raises(UsageError, match="one of each per input"):
        demo.likeness([DEMO_A, DEMO_B], code[None], [None])


def test_encoding_after_release_encoder_says_so():
    session = Session("demo", "cpu", **quiet())
    session.release_encoder()
    with pytest.raises(UsageError, match=r"release_encoder\(\).*new Session"):
        session.encode_photo(DEMO_A, EncodeSettings(cache=False))


def test_morph_refuses_a_session_with_other_weights(tmp_path, demo):
    with pytest.raises(UsageError, match="other weights than the session's"):
        morph([DEMO_A, DEMO_B], tmp_path / "o.gif", session=demo, weights="ffhq", **quiet())
    # The session's own weights, named again, are no conflict.
    summary = morph([DEMO_A, DEMO_B], tmp_path / "o.gif", session=demo, weights="demo", steps=3, **quiet())
    assert summary["frames"] == 3


# --- GIF fps ----------------------------------------------------------------------------------------------


def test_a_gif_above_50_fps_says_so_and_reports_the_rate_written(tmp_path):
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 5, "--fps", 240, "-o", tmp_path / "f.gif", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["fps"] == 50
    with Image.open(tmp_path / "f.gif") as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert durations == [20] * 5

    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 5, "--fps", 240, "-o", tmp_path / "g.gif")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "50 fps" in warnings[0] and "240" in warnings[0]
    assert warnings[0].startswith(f"warning: {tmp_path / 'g.gif'}: ")  # named as typed, as its other messages

    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 5, "--fps", 240, "-o", tmp_path / "q.gif", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    assert "at most 50" in " ".join(run("morph", "--help").stdout.split())


def test_the_gif_rate_is_one_number():
    assert options.GIF_MAX_FPS == write.GIF_MAX_FPS == 50


def test_a_gif_at_50_fps_or_below_is_not_warned_about(tmp_path):
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 3, "--fps", 50, "-o", tmp_path / "f.gif")
    assert result.exit_code == 0 and "warning" not in result.stderr


# --- --paste --size too small -------------------------------------------------------------------------------


@pytest.mark.skipif(not alignment_available(), reason="the align extra is not installed")
def test_paste_with_too_small_a_size_names_the_photo_and_the_size_that_works(tmp_path):
    photo = Image.open(FACES / "obama.jpg").convert("RGB")
    wide = Image.new("RGB", (photo.width * 6, photo.height), (120, 120, 120))
    wide.paste(photo, (0, 0))
    wide.save(tmp_path / "wide.jpg")
    result = run(tmp_path / "wide.jpg", FACES / "biden.jpg", "--weights", "demo", "--paste", "--size", 8,
                 "--steps", 3, "-o", tmp_path / "p.gif", "-q")
    err = usage_error(result)
    assert "--size 8" in err and "wide.jpg" in err and "px" in err
    assert not (tmp_path / "p.gif").exists()
    smallest = int(err.split("--size ")[-1].split()[0])
    result = run(tmp_path / "wide.jpg", FACES / "biden.jpg", "--weights", "demo", "--paste", "--size", smallest,
                 "--steps", 3, "-o", tmp_path / "p.gif", "-q")
    assert result.exit_code == 0, result.stderr
