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

from interp_cli import blend, limits, options
from interp_cli.align import alignment_available
from interp_cli.cli import cli
from interp_cli.errors import UsageError
from interp_cli.limits import TUNE_MAX_STEPS
from interp_cli.pipeline import EncodeSettings, Session, align, batch, encode, mix, morph, render
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


@pytest.mark.parametrize("peak, refused", [(1000.0, False), (-1000.0, False), (1000.5, True), (-1000.5, True)])
def test_a_code_at_the_bound_renders_and_one_just_beyond_it_is_refused(tmp_path, demo, peak, refused):
    """Refused beyond ±1000, as the message says: a code reaching 1000 itself is still a code a person may have
    made (a bold edit), so it renders; half a unit past it is refused, naming the file."""
    code = demo.encode_path(DEMO_A)
    code[0, 0] = peak
    np.save(tmp_path / "edge.npy", code)
    result = run("render", tmp_path / "edge.npy", "--weights", "demo", "-o", tmp_path / "r.png")
    if refused:
        assert usage_error(result).startswith(f"interp: error: {tmp_path / 'edge.npy'}: code holds values as large "
                                              f"as 1e+03, far outside any W+ code")
        assert "refused beyond ±1000, as they draw only noise" in result.stderr
        assert not (tmp_path / "r.png").exists()
    else:
        assert result.exit_code == 0, result.stderr
        assert (tmp_path / "r.png").exists()


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims width x height and holds no pixel: the size check reads the header alone."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


def test_a_photo_of_exactly_the_most_pixels_passes_the_size_check_and_one_pixel_more_is_refused(tmp_path):
    """160 megapixels is the bound (`limits.PHOTO_MAX_PIXELS`, every camera sold takes fewer): a photo of exactly
    that many is let through to be decoded, one of a pixel more is refused at once from its header, naming it."""
    from interp_cli.errors import InputError
    from interp_cli.images import check_image_header

    check_image_header(_png_header_only(tmp_path / "at.png", 16_000, 10_000))  # 160,000,000: no refusal
    with pytest.raises(InputError) as refused:
        check_image_header(_png_header_only(tmp_path / "over.png", 160_000_001, 1))
    assert str(refused.value).startswith(f"{tmp_path / 'over.png'}: image is 160000001x1 pixels, more than the "
                                         f"160 megapixel limit; shrink it first")


# --- seeds --------------------------------------------------------------------------------------------


def test_the_seed_range_is_what_torch_takes():
    torch.Generator().manual_seed(limits.SEED_MIN)
    torch.Generator().manual_seed(limits.SEED_MAX)
    for beyond in (limits.SEED_MIN - 1, limits.SEED_MAX + 1):
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
    assert "--seed" in err and str(limits.SEED_MAX) in err and str(limits.SEED_MIN) in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("verb", ["morph", "encode", "render", "mix", "batch"])
def test_the_seed_range_is_said_when_refused_not_in_every_help(verb):
    """Every verb's --help showed "[default: 0; -9223372036854775808<=x<=18446744073709551615]" beside --seed
    (in `interp encode --help` wrapped mid-number): a machine's limit, of no use before a seed is refused,
    which names it (above)."""
    shown = run(verb, "--help")
    assert shown.exit_code == 0
    line = " ".join(shown.stdout.split("--seed", 1)[1].split("\n  -", 1)[0].split())
    assert line.endswith("[default: 0]"), line
    assert str(limits.SEED_MAX)[:8] not in shown.stdout.replace("\n", "").replace(" ", "")


def test_render_refuses_a_seed_beyond_64_bits(tmp_path, demo):
    codes = tmp_path / "a.npy"
    np.save(codes, demo.encode_path(DEMO_A))
    err = usage_error(run("render", codes, "--weights", "demo", "--noise", "random", "--seed", 2 ** 64,
                          "-o", tmp_path / "r.png"))
    assert str(limits.SEED_MAX) in err


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
    (["--steps", "99999999999999999999999"], "at most 1,000,000"),
    (["--hold", "1000000000000"], "at most 1,000,000"),
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


# A Python caller's wrong kind of argument (a config file's or argparse's strings, a computed float, a None):
# each verb refuses it as a UsageError naming the keyword, before any model loads. Before, a str where a bool
# belongs was read as true whatever it said (align="no" aligned, loop="no" looped), a log= that cannot be
# called failed as Python's TypeError at the first line logged, refine=1.0 as a TypeError inside range().
def _call(verb, tmp, demo, manifest, keywords):
    tmp = Path(tmp)
    missing = {"weights": str(tmp / "missing.pt")}  # loading these fails: a check made after it never runs
    code = tmp / "code.npy"
    np.save(code, np.zeros((10, 128), np.float32))
    return {
        "morph": lambda: morph([DEMO_A, DEMO_B], tmp / "o.gif", **{"steps": 3, "session": demo, **quiet(),
                                                                   **keywords}),
        "morph_frames": lambda: next(demo.morph_frames([DEMO_A, DEMO_B], **{"steps": 3, **keywords})),
        "encode": lambda: encode(DEMO_A, tmp / "e.npy", **{**missing, **quiet(), **keywords}),
        "render": lambda: render(code, tmp / "r.png", **{**missing, **quiet(), **keywords}),
        "mix": lambda: mix([DEMO_A, DEMO_B], tmp / "x.png", **{**missing, **quiet(), **keywords}),
        "align": lambda: align(DEMO_A, tmp / "al.png", **{"log": quiet()["log"], **keywords}),
        "Session": lambda: Session(**{**missing, **quiet(), **keywords}),
        "EncodeSettings": lambda: EncodeSettings(**keywords),
        "batch": lambda: batch(manifest, tmp / "out", **{**missing, "steps": 3, **quiet(), **keywords}),
    }[verb]()


@pytest.mark.parametrize("verb,keywords,said", [
    # Bugs before: a str read as true, a bool's None or 1 taken as it came.
    ("morph", {"align": "no"}, 'align="no": give True or False, or None to leave it to the model'),
    ("morph", {"loop": "yes"}, 'loop="yes": give True or False'),
    ("morph", {"pingpong": "no"}, 'pingpong="no": give True or False'),
    ("morph", {"paste": "no"}, 'paste="no": give True or False'),
    ("morph", {"match_colour": "no"}, 'match_colour="no": give True or False'),
    ("morph", {"cache": "no"}, 'cache="no": give True or False'),
    ("morph", {"progress": "no"}, 'progress="no": give True or False'),
    ("morph", {"loop": None}, "loop=None: give True or False"),
    ("morph_frames", {"loop": "yes"}, 'loop="yes": give True or False'),
    ("encode", {"align": "false"}, 'align="false": give True or False, or None to leave it to the model'),
    ("encode", {"cache": "no"}, 'cache="no": give True or False'),
    ("mix", {"align": "no"}, 'align="no": give True or False, or None to leave it to the model'),
    ("render", {"progress": "no"}, 'progress="no": give True or False'),
    ("Session", {"progress": "yes"}, 'progress="yes": give True or False'),
    ("EncodeSettings", {"align": "no"}, 'align="no": give True or False, or None to leave it to the model'),
    ("batch", {"loop": "yes"}, 'loop="yes": give True or False'),
    ("batch", {"sheets": "no"}, 'sheets="no": give True or False'),
    ("batch", {"skip_existing": "no"}, 'skip_existing="no": give True or False'),
    # Bugs before: a log= that cannot be called was Python's TypeError at the first line logged.
    ("morph", {"log": 5}, "log=5: give a function of one argument (print, for one)"),
    ("encode", {"log": None}, "log=None: give a function of one argument (print, for one)"),
    ("render", {"log": "quiet"}, 'log="quiet": give a function of one argument (print, for one)'),
    ("mix", {"log": 5}, "log=5: give a function of one argument (print, for one)"),
    ("align", {"log": 5}, "log=5: give a function of one argument (print, for one)"),
    ("Session", {"log": 5}, "log=5: give a function of one argument (print, for one)"),
    ("batch", {"log": 5}, "log=5: give a function of one argument (print, for one)"),
    ("batch", {"on_row": 5}, "on_row=5: give a function of one argument (print, for one) or None"),
    # Bugs before: a float where an int belongs was a TypeError (refine) or taken (size, quality, batch_size),
    # as steps=3.0, hold=1.0 and seed=1.0 were refused.
    ("morph", {"refine": 1.0}, "refine must be an int (got 1.0, a float)"),
    ("encode", {"refine": 1.0}, "refine must be an int (got 1.0, a float)"),
    ("morph", {"size": 64.0}, "size must be an int (got 64.0, a float)"),
    ("morph", {"quality": 8.0}, "quality must be an int (got 8.0, a float)"),
    ("morph", {"batch_size": 2.0}, "batch_size must be an int (got 2.0, a float)"),
    ("morph", {"tune": 1.0}, "tune must be an int (got 1.0, a float)"),
    ("align", {"size": 64.0}, "size must be an int (got 64.0, a float)"),
    # Bugs before: named no keyword ("unknown easing None"), or was checked only once the model had loaded.
    ("morph", {"ease": None}, "ease=None: choose one of linear, smooth, cosine, cubic"),
    ("render", {"noise": 5}, "noise=5: choose one of const, random, none"),
    ("mix", {"noise": "off"}, 'noise="off": choose one of const, random, none'),
    # Right before: a number's wrong kind, refused by name.
    ("morph", {"steps": "60"}, "steps must be a whole number (got '60')"),
    ("morph", {"steps": 60.5}, "steps must be a whole number (got 60.5)"),
    ("morph", {"steps": True}, "steps must be a whole number (got True)"),
    ("morph", {"steps": None}, "steps must be a whole number (got None)"),
    ("morph", {"fps": "30"}, "fps must be a number (got '30')"),
    ("render", {"seed": "1"}, "seed must be a whole number (got '1')"),
    ("morph", {"noise": None}, "noise=None: choose one of const, random, none"),
    # Right before: what no row of a batch could take, refused once before the weights load (a missing file here).
    ("batch", {"steps": 1}, "steps must be at least 2 (got 1): a transition shows both of its ends"),
    ("batch", {"hold": 10 ** 6}, "steps=3, hold=1000000 would make 2,000,003 frames; a morph has at most 1,000,000 "
                                 "(fewer steps or hold)"),
    ("batch", {"size": 7}, "size must be between 8 and 4096 (got 7)"),
    ("batch", {"size": 64.5}, "size must be a whole number (got 64.5)"),
    ("batch", {"quality": 5.5}, "quality must be a whole number (got 5.5)"),
    ("batch", {"batch_size": 2.5}, "batch_size must be a whole number (got 2.5)"),
    ("batch", {"fps": 0}, "fps must be between 0.1 and 240 (got 0)"),
    ("batch", {"ease": "fast"}, 'ease="fast": choose one of linear, smooth, cosine, cubic'),
])
def test_a_python_callers_wrong_kind_of_argument_is_refused_by_its_keyword(tmp_path, demo, manifest, verb,
                                                                           keywords, said):
    with pytest.raises(UsageError) as caught:
        _call(verb, tmp_path, demo, manifest, keywords)
    assert str(caught.value) == said
    assert sorted(path.name for path in tmp_path.iterdir()) == ["code.npy", "pairs.csv"]  # nothing written


def test_numpy_scalars_are_taken_as_the_numbers_and_bools_they_are(tmp_path, demo):
    # np.float32(30) as fps was refused by the writer ("fps must be a positive number"), np.int64 as quality
    # by the MP4's; the summary, JSON for the command, holds Python's numbers.
    summary = morph([DEMO_A, DEMO_B], tmp_path / "o.mp4", steps=np.int64(3), fps=np.float32(12), quality=np.int64(7),
                    size=np.int64(32), batch_size=np.int64(2), hold=np.int64(1), seed=np.int64(5),
                    truncation=np.float64(0.8), loop=np.bool_(False), align=np.bool_(False), session=demo, **quiet())
    assert summary["frames"] == 3 + 2 and summary["fps"] == 12 and summary["width"] == 32
    assert json.loads(json.dumps(summary))["fps"] == 12


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


@pytest.mark.parametrize("args, keywords, python_said", [
    (["--steps", "1"], {"steps": 1}, "steps must be at least 2 (got 1): a transition shows both of its ends"),
    (["--steps", "1.5"], {"steps": 1.5}, "steps must be a whole number (got 1.5)"),
    (["--hold", "-1"], {"hold": -1}, "hold must be at least 0 (got -1)"),
    (["--hold", "2.5"], {"hold": 2.5}, "hold must be a whole number (got 2.5)"),
    (["--steps", "2000000"], {"steps": 2000000},
     "steps=2000000 would make 2,000,000 frames; a morph has at most 1,000,000 (fewer steps or hold)"),
])
def test_a_frame_count_mistake_reads_the_same_from_the_shell_and_from_python(tmp_path, demo, args, keywords,
                                                                            python_said):
    """--steps and --hold were click's ("1 is not in the range 2<=x<=1000000", "'1.5' is not a valid integer
    range") and the same keywords blend's ("steps must be a whole number, got 1.5"): one mistake, two wordings.
    Now one check says both, each naming the option as its reader writes it."""
    with pytest.raises(UsageError) as caught:
        _call("morph", tmp_path, demo, None, keywords)
    assert str(caught.value) == python_said
    shell_said = python_said.replace("steps=2000000", "--steps 2000000")
    for name in ("steps", "hold"):
        shell_said = shell_said.replace(f"{name} must", f"--{name} must").replace(f" {name})", f" --{name})")
    shell_said = shell_said.replace("fewer steps or", "fewer --steps or")
    assert usage_error(run(DEMO_A, DEMO_B, *args, "--weights", "demo", "-o", tmp_path / "m.gif")) == \
        f"interp: error: {shell_said}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code.npy"]  # nothing written


@pytest.mark.parametrize("verb, args, keywords, python_said", [
    ("morph", ["--size", "7"], {"size": 7}, "size must be between 8 and 4096 (got 7)"),
    ("morph", ["--size", "1.5"], {"size": 1.5}, "size must be a whole number (got 1.5)"),
    ("morph", ["--fps", "1000"], {"fps": 1000}, "fps must be between 0.1 and 240 (got 1000)"),
    ("morph", ["--fps", "nan"], {"fps": math.nan}, "fps must be a finite number (got nan)"),
    ("morph", ["--fps", "abc"], {"fps": "abc"}, "fps must be a number (got abc)"),
    ("morph", ["--quality", "11"], {"quality": 11}, "quality must be between 0 and 10 (got 11)"),
    ("morph", ["--batch-size", "0"], {"batch_size": 0}, "batch_size must be at least 1 (got 0)"),
    ("morph", ["--refine", "-1"], {"refine": -1}, "refine must be between 0 and 10000 (got -1)"),
    ("morph", ["--tune", "20000"], {"tune": 20000}, "tune must be between 0 and 10000 (got 20000)"),
    ("morph", ["--tune=-1"], {"tune": -1}, "tune must be between 0 and 10000 (got -1)"),
    ("morph", ["--truncation", "5"], {"truncation": 5}, "truncation must be between 0.0 and 2.0 (got 5)"),
    ("morph", ["--seed", "1.5"], {"seed": 1.5}, "seed must be a whole number (got 1.5)"),
    ("align", ["--size", "7"], {"size": 7}, "size must be between 16 and 4096 (got 7)"),
    ("align", ["--face", "-1"], {"face": -1}, "face must be at least 0 (got -1)"),
])
def test_a_number_out_of_range_reads_the_same_from_the_shell_and_from_python(tmp_path, demo, verb, args, keywords,
                                                                            python_said):
    """--size, --fps, --quality, --batch-size, --refine, --tune, --truncation and align's --size and --face were
    Click's ("invalid value for '--size': 7 is not in the range 8<=x<=4096", "'abc' is not a valid float range")
    beside --steps' "--steps must be at least 2 (got 0)" and the same keywords' Python words. Now each is refused
    by the check its keyword gets (interp_cli.checks), naming the option as its reader writes it."""
    with pytest.raises(UsageError) as caught:
        _call(verb, tmp_path, demo, None, keywords)
    assert str(caught.value).replace("'abc'", "abc") == python_said  # a str is shown as Python writes it
    shell_said = python_said.replace(f"{next(iter(keywords))} must", f"{args[0].split('=')[0]} must")
    words = [DEMO_A, DEMO_B, "--weights", "demo"] if verb == "morph" else ["align", DEMO_A]
    output = tmp_path / ("m.gif" if verb == "morph" else "a.png")
    assert usage_error(run(*words, *args, "-o", output)) == f"interp: error: {shell_said}"
    assert not output.exists()


def test_help_still_says_how_few_steps_a_morph_takes():
    """click's range type printed `[2<=x<=1000000]` beside --steps; its own type (one wording with Python's check)
    prints no range, so the least count is in the option's help, for `interp --help` and `interp batch --help`."""
    for verb in ("morph", "batch"):
        shown = " ".join(cli_runner().invoke(cli, [verb, "--help"]).stdout.split())
        assert "--steps INTEGER Frames per transition, both ends included: 2 or more" in shown, verb


@pytest.mark.parametrize("keywords, said", [
    ({"batch_size": "4"}, "batch_size must be a number (got '4')"),
    ({"batch_size": 0}, "batch_size must be at least 1 (got 0)"),
    ({"seed": 1.5}, "seed must be a whole number (got 1.5)"),
    ({"truncation": "0.5"}, "truncation must be a number (got '0.5')"),
    ({"truncation": math.nan}, "truncation must be a finite number (got nan)"),
    ({"noise": "off"}, 'noise="off": choose one of const, random, none'),
    ({"generator": "tuned.pt"}, "generator: got str; give the tuned copy Session.tune returned, or None to draw "
                                "with the loaded generator"),
])
def test_session_frames_refuses_a_wrong_keyword_by_its_name(demo, keywords, said):
    """`Session.frames` checked only noise: batch_size="4" and truncation="0.5" failed inside torch ("only integer
    tensors of a single element can be converted to an index"), generator="tuned.pt" as AttributeError ("'str'
    object has no attribute 'parameters'"), and seed=1.5, truncation=nan or batch_size=0 drew frames anyway."""
    code = np.zeros((1, demo.model.n_latent, demo.model.style_dim), np.float32)
    with pytest.raises(UsageError) as caught:
        next(demo.frames(code, **keywords))
    assert str(caught.value) == said
    assert next(demo.frames(code)).shape == (64, 64, 3)  # the same call with no bad keyword draws


@pytest.mark.parametrize("keywords, said", [
    ({"cache": "no"}, 'cache="no": give True or False'),
    ({"seed": "1"}, "seed must be a whole number (got '1')"),
    ({"noise": None}, "noise=None: choose one of const, random, none"),
    ({"targets": None}, "targets: got NoneType; give a list of each code's crop (uint8 [S, S, 3], or None for a "
                        ".npy code's)"),
    ({"steps": 1.5}, "steps must be a whole number (got 1.5)"),
    ({"steps": -1}, f"steps must be between 0 and {TUNE_MAX_STEPS} (got -1)"),
])
def test_session_tune_refuses_a_wrong_keyword_by_its_name(tmp_path, demo, keywords, said):
    """`Session.tune` checked its step count and the codes' shape: cache="no" was read as true (tuned weights
    cached), seed="1" reached torch, and targets=None failed in len() ("object of type 'NoneType' has no len()").
    A wrong `steps` was said as "tune must be ...", a keyword `Session.tune` does not take."""
    code = demo.encode_path(DEMO_A, EncodeSettings(cache=False))
    arguments = {"targets": [np.zeros((64, 64, 3), np.uint8)], "cache": False, **keywords}
    with pytest.raises(UsageError) as caught:
        demo.tune(code[None], arguments.pop("targets"), arguments.pop("steps", 1), **arguments)
    assert str(caught.value) == said


@pytest.mark.parametrize("keywords, said", [
    ({"steps": 2.5}, "steps must be a whole number (got 2.5)"),
    ({"lr": 0}, "lr must be above 0 (got 0)"),
    ({"lr": "0.01"}, "lr must be a number (got '0.01')"),
    ({"lr": math.nan}, "lr must be a finite number (got nan)"),
    ({"locality": -1}, "locality must be at least 0 (got -1)"),
    ({"locality": "0.1"}, "locality must be a number (got '0.1')"),
    ({"seed": 1.5}, "seed must be a whole number (got 1.5)"),
])
def test_tune_generator_refuses_a_wrong_keyword_by_its_name(demo, keywords, said):
    """`tune_generator` said a wrong steps= as "tune must be ..." and lr=0 as "tune learning rate must be > 0",
    naming neither keyword; locality="0.1" failed inside the loop (a TypeError, an internal error) and seed=1.5 ran
    as seed 1. Each is now named as passed, before the generator is copied."""
    from interp_cli.tune import tune_generator

    code = torch.from_numpy(demo.encode_path(DEMO_A, EncodeSettings(cache=False)))[None]
    arguments = {"steps": 1, **keywords}
    with pytest.raises(UsageError) as caught:
        tune_generator(demo.model.generator, torch.zeros(1, 3, 64, 64), code, **arguments)
    assert str(caught.value) == said


@pytest.mark.parametrize("kind, size, fps, refused", [
    ("gif", (65_535, 8), 10, None), ("gif", (65_536, 8), 10, "its frames are at most 65535 px a side"),
    ("html", (65_500, 8), 10, None), ("html", (65_501, 8), 10, "its frames are at most 65500 px a side"),
    ("mp4", (16_384, 16), 30, None), ("mp4", (16_385, 16), 30, "and 16384 px a side"),
    ("mp4", (8192, 4352), 120, None),  # H.264 level 6.2's largest frame at its highest rate: just fits
    ("mp4", (8192, 4352), 120.01, "plays at most 16,711,680 blocks of 16x16 px a second"),
    ("mp4", (8192, 4368), 1, "holds frames of at most 139,264 blocks"),
])
def test_each_output_holds_frames_up_to_its_formats_own_limit_and_not_one_pixel_more(kind, size, fps, refused):
    """The bounds in `limits` are the formats' own (a GIF's 16-bit sizes, libjpeg's 65,500, H.264 level 6.2):
    a frame at the bound is written, one pixel (or frame a second) past it is refused before any work."""
    from interp_cli.frame_writer import frames_too_large

    said = frames_too_large(kind, f"out.{kind}", size, fps)
    assert said is None if refused is None else refused in said


def test_a_bare_tune_is_the_same_50_steps_on_the_command_line_as_tune_true_from_python():
    from interp_cli.checks import check_tune_steps

    given = cli.commands["morph"].make_context("morph", ["a.png", "b.png", "--tune"], resilient_parsing=True).params
    assert given["tune"] == check_tune_steps(True) == 50
    assert check_tune_steps(None) == check_tune_steps(False) == 0


@pytest.mark.parametrize("typed, face", [("1", 1), (" 2 ", 2), ("0,1", (0, 1)), (",1", (None, 1)),
                                         ("1,", (1, None)), ("0,1,0", (0, 1, 0))])
def test_a_typed_face_reaches_the_morph_as_the_same_face_keyword_a_python_caller_gives(typed, face):
    """`--face 1` is face=1 for every input, `--face ,1` face=(None, 1): the second input's face 1, the first's
    largest. Only a morph that renders (test_advice) saw a wrong parse: `--face 1` read as one place per input, or
    every number shifted by one, picked another person's face without a word."""
    for command, args in (("morph", ["a.png", "b.png"]), ("batch", ["pairs.csv"])):
        given = cli.commands[command].make_context(command, [*args, "--face", typed], resilient_parsing=True).params
        assert given["face"] == face, command


def test_each_commands_help_shows_every_option_default_a_user_would_otherwise_guess():
    """`interp --help` says `--fps FLOAT ... [default: 30]`: an option left out means its default, and a user reads
    which one there (--steps 60, --quality 8, --device auto, --truncation 1.0 ...). Not --tune, whose help says what
    a bare --tune and none mean; not an option without a default (--size: the model's) or a required one."""
    import click

    for name, command in cli.commands.items():
        ctx = click.Context(command, info_name=name)
        for param in command.params:
            if (isinstance(param, click.Option) and not param.is_flag and not param.required and param.name != "tune"
                    and param.default is not None):
                assert "[default: " in param.get_help_record(ctx)[1], (name, param.name)


@pytest.mark.parametrize("args, said", [
    (["--steps", "x"], "--steps must be a whole number (got x)"),
    (["--hold", "x"], "--hold must be a whole number (got x)"),
    (["--layers", "foo"], "invalid value for '--layers': 'foo' is not coarse, middle, fine, all, a row or a range "
                          "like 0-7"),
    (["--layers", "0-3,8-1"], "invalid value for '--layers': 0-3,8-1: range '8-1' runs backwards"),
])
def test_a_frame_count_or_layers_word_is_refused_once_naming_the_part_at_fault(tmp_path, args, said):
    """A word that is no count is "a whole number" for --steps and --hold (not "a number": 2.5 is refused too), and
    a bad --layers part is named once, with the whole value where the part alone would not say which option's
    value it is (`0-3,8-1: range '8-1'`), not twice (`foo: 'foo'`)."""
    assert usage_error(run(DEMO_A, DEMO_B, *args, "-o", tmp_path / "m.gif")) == f"interp: error: {said}"
    assert not list(tmp_path.iterdir())


# Words Python's int() and float() read but no one types as that number: `1_0` (a typo for 1.0 or 10?) and other
# scripts' digits. Every option that takes a number, for morph and batch alike (one option list), and align's.
_NOT_PLAIN_DIGITS = [
    ("--steps", "1_0", "--steps must be a whole number, in the digits 0-9 (got 1_0)"),
    ("--steps", "\u0661\u0660", "--steps must be a whole number, in the digits 0-9 (got \u0661\u0660)"),  # ١٠
    ("--hold", "\u0968", "--hold must be a whole number, in the digits 0-9 (got \u0968)"),  # Devanagari 2
    ("--fps", "2_4", "--fps must be a number, in the digits 0-9 (got 2_4)"),
    ("--fps", "\u0663\u0660", "--fps must be a number, in the digits 0-9 (got \u0663\u0660)"),
    ("--quality", "\uff18", "--quality must be a whole number, in the digits 0-9 (got \uff18)"),  # fullwidth 8
    ("--batch-size", "0_4", "--batch-size must be a whole number, in the digits 0-9 (got 0_4)"),
    ("--size", "2_56", "--size must be a whole number, in the digits 0-9 (got 2_56)"),
    ("--seed", "1_0", "--seed must be a whole number, in the digits 0-9 (got 1_0)"),
    ("--refine", "\u0661", "--refine must be a whole number, in the digits 0-9 (got \u0661)"),
    ("--tune", "1_0", "--tune must be a whole number, in the digits 0-9 (got 1_0)"),
    ("--tune", "-\u0661", "--tune must be a whole number, in the digits 0-9 (got -\u0661)"),  # was "no such option"
    ("--tune", "-1_0", "--tune must be a whole number, in the digits 0-9 (got -1_0)"),
    ("--truncation", "\u0660.\u0667", "--truncation must be a number, in the digits 0-9 (got \u0660.\u0667)"),
    ("--face", "\u00b2", "invalid value for '--face': '\u00b2': give a face number (0 = leftmost), or one per input "
                         "such as 0,1 or ,1"),  # "²".isdigit() is true: int("²") was an internal error
    ("--face", "0,\u0661", "invalid value for '--face': '0,\u0661': give a face number (0 = leftmost), or one per "
                           "input such as 0,1 or ,1"),
    ("--layers", "\u0660-\u0663", "invalid value for '--layers': '\u0660-\u0663' is not coarse, middle, fine, all, a "
                                  "row or a range like 0-7"),
]


@pytest.mark.parametrize("verb", ["morph", "batch"])
@pytest.mark.parametrize("name, word, said", _NOT_PLAIN_DIGITS)
def test_a_number_not_in_plain_digits_is_refused_not_read_as_another_number(tmp_path, manifest, verb, name, word,
                                                                             said):
    """`--steps 1_0` made a 10-step morph and `--steps ١٠` too (Python's int() reads both), `--face ²` was an
    internal error (exit 1). Each is a usage error now, one line, exit 2, nothing written, as `--steps x` is."""
    words = [DEMO_A, DEMO_B, "-o", tmp_path / "m.gif"] if verb == "morph" else \
        ["batch", manifest, "--outdir", tmp_path / "out"]
    assert usage_error(run(*words, name, word, "--weights", "demo")) == f"interp: error: {said}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.csv"]


def test_a_shard_backdrop_or_layers_not_in_plain_digits_is_refused_from_python_too(tmp_path, manifest):
    """The same words given to the parts a Python caller passes as text: `shard="1_0/20"` was shard 10 of 20,
    `backdrop="\u0662"` the second input, `layers="\u0660-\u0663"` rows 0-3."""
    from interp_cli.inputs import pick_input
    from interp_cli.layers import check_layers
    from interp_cli.shards import parse_shard

    for shard, said in (("1_0/20", "K must"), ("1/\u0662", "N must"), ("auto/\u0662", "N must")):
        with pytest.raises(UsageError, match=said):
            parse_shard(shard, environ={"JOB_COMPLETION_INDEX": "0"})
    assert usage_error(run("batch", manifest, "--outdir", tmp_path / "o", "--shard", "\u0661/2")) == (
        "interp: error: invalid value for '--shard': \u0661/2: K must be a whole number (expected K/N, e.g. 2/3)")
    for backdrop in ("\u0662", "\u00b2"):
        with pytest.raises(UsageError, match="name one of the inputs"):
            pick_input("backdrop", backdrop, 2)
    with pytest.raises(UsageError, match="is not coarse"):
        check_layers("\u0660-\u0663")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("typed, value", [("+10", 10), (" 10", 10), ("10\t", 10), ("010", 10)])
def test_a_whole_number_with_a_sign_or_spaces_around_it_is_still_that_number(typed, value):
    """A sign and spaces around the word are kept: `--steps "$(wc -l < list)"` is padded with spaces on BSD."""
    for command, args in (("morph", ["a.png", "b.png"]), ("batch", ["pairs.csv", "--outdir", "o"])):
        words = [*args, "--steps", typed, "--seed", typed, "--size", typed.replace("10", "100"), "--tune", typed]
        given = cli.commands[command].make_context(command, words, resilient_parsing=True).params
        assert (given["steps"], given["seed"], given["size"], given["tune"]) == (value, value, value * 10, value)
    assert cli.commands["morph"].make_context("morph", ["a", "b", "--fps", " 3e1 ", "--truncation", "+.7"],
                                              resilient_parsing=True).params.get("fps") == 30.0
    from interp_cli.shards import Shard, parse_shard

    assert parse_shard(f"{typed.replace('10', '1')}/ 2") == Shard(1, 2)


def test_a_batch_takes_each_shared_number_at_its_least_and_a_frame_rate_that_is_not_whole(tmp_path, manifest):
    """What `interp batch` checks once for every row takes the values its rows take: fps 29.97 (NTSC's), one frame a
    batch, one frame a sheet, quality 0, truncation 0, no hold, two steps, the least size. Only test_batch's
    runs saw these taken; fps checked as a whole number, or a batch size of 1 refused, passed every fast file."""
    done = batch(manifest, tmp_path / "out", weights="demo", steps=2, hold=0, fps=29.97, batch_size=1,
                 sheet_frames=1, sheets=True, quality=0, truncation=0.0, size=limits.SIZE[0], **quiet())
    assert done["failed"] == 0 and Image.open(tmp_path / "out" / "m.gif").n_frames == 2


def test_a_batch_given_a_hold_alone_counts_its_frames_with_the_default_steps(tmp_path, manifest):
    """hold= without steps= makes each row's morph take its default 60 steps: the up-front count says so, and is
    refused with those numbers before the weights load (a missing file here), as each row would be."""
    with pytest.raises(UsageError) as caught:
        batch(manifest, tmp_path / "out", weights=str(tmp_path / "missing.pt"), hold=499_971, **quiet())
    assert str(caught.value) == ("steps=60, hold=499971 would make 1,000,002 frames; a morph has at most 1,000,000 "
                                 "(fewer steps or hold)")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pairs.csv"]
