"""The `interp` command end to end on small checkpoints: outputs decoded back, errors and exit codes."""

from __future__ import annotations

import errno
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from interp_cli.cli import cli
from tests.cli_runner import cli_runner
from tests.recipe import GOLDEN_DIR

A = str(GOLDEN_DIR / "golden_input_A.png")
B = str(GOLDEN_DIR / "golden_input_B.png")


def run(*args):
    result = cli_runner().invoke(cli, [str(a) for a in args])
    return result


def one_line_error(result) -> str:
    err = result.stderr.strip()
    assert "\n" not in err, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert err.startswith("interp: ")
    return err


@pytest.fixture(scope="module")
def tiny(tiny_ckpt):
    return str(tiny_ckpt)


@pytest.fixture(scope="module")
def tiny_codes(tiny, tmp_path_factory):
    """The tiny model's codes and renders of A and B through `interp encode` / `interp render`."""
    d = tmp_path_factory.mktemp("codes")
    out = {}
    for name, image in (("A", A), ("B", B)):
        assert run("encode", image, "--weights", tiny, "--no-align", "-o", d / f"{name}.npy", "-q").exit_code == 0
        assert run("render", d / f"{name}.npy", "--weights", tiny, "-o", d / f"{name}.png", "-q").exit_code == 0
        out[name] = (np.load(d / f"{name}.npy"), np.asarray(Image.open(d / f"{name}.png")))
    return out


# --- outputs -------------------------------------------------------------------------------------


def test_mp4_has_steps_frames_size_and_fps(tiny, tiny_codes, tmp_path):
    out = tmp_path / "out.mp4"
    result = run(A, B, "--weights", tiny, "--no-align", "--steps", 7, "--fps", 12, "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    frames = np.stack(list(iio.imiter(out)))
    assert frames.shape == (7, 16, 16, 3)
    meta = iio.immeta(out, exclude_applied=False)  # imageio < 2.2x: the legacy ffmpeg plugin needs False
    assert meta["fps"] == pytest.approx(12)
    assert meta.get("codec", "h264").startswith("h264")
    # H.264 is lossy: the ends are close to (not bit-equal with) the renders of the two encodings.
    assert np.abs(frames[0].astype(int) - tiny_codes["A"][1]).mean() < 12
    assert np.abs(frames[-1].astype(int) - tiny_codes["B"][1]).mean() < 12
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_frames_directory_first_and_last_equal_render(tiny, tiny_codes, tmp_path):
    out = tmp_path / "frames"
    result = run(A, B, "--weights", tiny, "--no-align", "--steps", 5, "-o", f"{out}/", "-q")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"frame_{i:04d}.png" for i in range(5)]
    first = np.asarray(Image.open(out / "frame_0000.png"))
    last = np.asarray(Image.open(out / "frame_0004.png"))
    assert np.array_equal(first, tiny_codes["A"][1])
    assert np.array_equal(last, tiny_codes["B"][1])
    middle = np.asarray(Image.open(out / "frame_0002.png"))
    assert not np.array_equal(middle, first) and not np.array_equal(middle, last)


def test_gif_loops_forever_with_steps_frames(tiny, tmp_path):
    out = tmp_path / "out.gif"
    assert run(A, B, "--weights", tiny, "--no-align", "--steps", 6, "--fps", 10, "-o", out, "-q").exit_code == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 6
        assert gif.info.get("loop") == 0
        assert gif.info.get("duration") == 100


def test_npy_codes_are_accepted_as_inputs(tiny, tiny_codes, tmp_path):
    d = tmp_path / "codes"
    d.mkdir()
    np.save(d / "a.npy", tiny_codes["A"][0])
    np.save(d / "b.npy", tiny_codes["B"][0][None])  # [1, n, 512] works too
    out = tmp_path / "frames"
    assert run(d / "a.npy", d / "b.npy", "--weights", tiny, "--steps", 3, "-o", f"{out}/", "-q").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(out / "frame_0000.png")), tiny_codes["A"][1])



@pytest.fixture(scope="module")
def other_tiny(tmp_path_factory):
    """A second tiny model of the same shapes as `tiny`, trained apart (another seed): its W space is another."""
    from interp_cli.models.checkpoint import save_e4e_checkpoint
    from tests.conftest import build_tiny_model

    path = tmp_path_factory.mktemp("other") / "other_e4e.pt"
    save_e4e_checkpoint(path, *build_tiny_model(seed=1), meta={"name": "other"})
    return str(path)


def test_a_code_made_by_another_model_of_the_same_shape_is_refused_naming_the_file(tiny, other_tiny, tiny_codes,
                                                                                    tmp_path):
    """A .npy code records the model that made it: rendered by another [n, W] model it drew some other face,
    with exit 0. Each verb that reads codes refuses it, one line naming the file and both weights."""
    code = tmp_path / "a.npy"
    assert run("encode", A, "--weights", tiny, "--no-align", "-o", code, "-q").exit_code == 0
    assert np.array_equal(np.load(code), tiny_codes["A"][0])  # what np.load reads is the code as before
    for args in (["render", code, "-o", tmp_path / "r.png"], [code, B, "--no-align", "-o", tmp_path / "m.gif"]):
        result = run(*args, "--weights", other_tiny)
        assert result.exit_code == 2
        assert one_line_error(result) == (f"interp: error: {code}: made by other weights (tiny_e4e.pt) than "
                                          f"--weights {other_tiny}, whose mapping network differs: drawn here the "
                                          "code would be some other face; use the weights that made it")
    from interp_cli.npy import read_npy_record

    assert read_npy_record(code)[1]["weights"] == "tiny_e4e.pt"  # the file's name, not the folders it was in
    assert not (tmp_path / "r.png").exists() and not (tmp_path / "m.gif").exists()
    # The same array saved by np.save (or by interp before codes were recorded) renders as it always did.
    np.save(tmp_path / "plain.npy", np.load(code))
    assert run("render", tmp_path / "plain.npy", "--weights", other_tiny, "-o", tmp_path / "r.png").exit_code == 0
    # A mixed code is recorded too, and the model that made it takes it back.
    assert run("mix", A, B, "--weights", tiny, "--no-align", "-o", tmp_path / "mix.npy", "-q").exit_code == 0
    assert run("render", tmp_path / "mix.npy", "--weights", other_tiny, "-o", tmp_path / "x.png").exit_code == 2
    assert run("render", tmp_path / "mix.npy", "--weights", tiny, "-o", tmp_path / "x.png").exit_code == 0
    assert run("render", code, "--weights", tiny, "-o", tmp_path / "a.png").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), tiny_codes["A"][1])



def test_a_single_w_row_is_told_how_to_make_the_w_plus_code_that_draws_it(tiny, tiny_codes, tmp_path, monkeypatch):
    """A mapping network's W code ([W] or [1, W]) was refused as any wrong shape: the refusal now says it is one
    row of the W+ code needed and gives the numpy line that makes that code, which then renders. On the command
    line that line is a shell command (a bare `np.save(...)` was given to the shell's user, who could not run it,
    and the test ran it with exec); to a Python caller, the Python line."""
    import shlex

    from interp_cli import pipeline
    from interp_cli.errors import UsageError

    monkeypatch.chdir(tmp_path)
    row = tiny_codes["A"][0][3]
    n, d = tiny_codes["A"][0].shape
    for name, w in (("w.npy", row), ("w1.npy", row[None]), ("it's here.npy", row)):
        np.save(name, w)
        result = run("render", name, "--weights", tiny, "-o", "r.png")
        assert result.exit_code == 2 and not Path("r.png").exists()
        python = f'np.save("plus.npy", np.tile(np.load("{name}"), ({n}, 1)))'
        suggestion = f"{shlex.quote(sys.executable)} -c {shlex.quote('import numpy as np; ' + python)}"
        assert one_line_error(result) == (f"interp: error: {name}: code has shape {list(w.shape)}, one W row, and "
                                          f"this model needs W+ [{n}, {d}], a row per style; that row repeated "
                                          f"draws its face: {suggestion}")
        ran = subprocess.run(suggestion, shell=True, capture_output=True, text=True, timeout=120)  # as given
        assert ran.returncode == 0, ran.stderr
        assert np.array_equal(np.load("plus.npy"), np.repeat(row[None], n, axis=0))
        Path("plus.npy").unlink()
        with pytest.raises(UsageError) as refused:
            pipeline.render(name, "r.png", weights=tiny)
        assert str(refused.value).endswith(f"draws its face: import numpy as np; {python}")
        exec(python, {"np": np})  # a Python caller's advice, in Python
        assert run("render", "plus.npy", "--weights", tiny, "-o", "r.png").exit_code == 0
        Path("r.png").unlink()


def test_json_summary(tiny, tmp_path):
    out = tmp_path / "out.mp4"
    result = run(A, B, "--weights", tiny, "--no-align", "--steps", 4, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["output"] == str(out) and summary["frames"] == 4
    assert (summary["width"], summary["height"], summary["fps"]) == (16, 16, 30)
    assert len(summary["weights"]["sha256"]) == 64
    assert summary["precision"] == "fp32"  # auto on a CPU: the reference's float32
    assert set(summary["timings"]) >= {"load", "encode", "render", "total"}


@pytest.mark.parametrize("words, code, path, said", [
    (["morph", "missing.png", "B", "-o", "x.gif"], 2, "missing.png", "missing.png: no such file"),
    (["morph", "A", "B", "--size", "7", "-o", "x.gif"], 2, None, "--size must be between 8 and 4096 (got 7)"),
    (["morph", "A", "B", "--bogus"], 2, None, "no such option '--bogus'"),
    (["morph", "A", "B", "--weights", "broken.pt", "-o", "x.gif"], 1, "broken.pt", "broken.pt: "),
    (["encode", "A", "--weights", "nope", "-o", "a.npy"], 2, None, "unknown weights 'nope'"),
    (["render", "A", "--weights", "TINY", "-o", "a.png"], 2, "A", ": render takes a .npy code file"),
    (["align", "missing.png", "-o", "a.png"], 2, "missing.png", "missing.png: no such file"),
    (["mix", "A", "missing.png", "-o", "m.png"], 2, "missing.png", "missing.png: no such file"),
    (["batch", "bad.csv", "--outdir", "out"], 2, "bad.csv", "bad.csv:1: need at least two inputs"),
    (["batch", "bad.csv", "--outdir", "out", "--shard", "3/2"], 2, None, "K must be between 1 and N=2"),
])
def test_a_failure_under_json_is_one_json_object_on_stdout_too(tiny, tmp_path, words, code, path, said):
    """`interp ... --json | jq` or `| python -m json.tool` on a failure: stdout held nothing, and the reader said
    "Expecting value" under interp's own line, where a failed batch row had its JSON line. Now every verb prints
    one object, `error` the stderr line's words, `exit_code` the exit status, `path` the input at fault (as a
    Python caller's `err.path`); a batch's is its closing line, `"summary": true`. Through a real pipe."""
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "bad.csv").write_text(f"{A},x.gif\n")
    argv = [{"A": A, "B": B, "TINY": tiny}.get(word, word) for word in words]
    if words[0] in ("morph", "mix"):
        argv += ["--no-align"]
    shell = (f"set -o pipefail; {shlex.quote(sys.executable)} -m interp_cli {shlex.join(argv)} --json"
             f" | {shlex.quote(sys.executable)} -m json.tool --sort-keys")
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    line = done.stderr.strip()
    assert done.returncode == code and "\n" not in line and line.startswith("interp: error: "), done.stderr
    told = json.loads(done.stdout)
    assert told["error"] == line.removeprefix("interp: error: ") and said in told["error"]
    assert told["exit_code"] == code and told["path"] == {"A": A}.get(path, path) and told["warnings"] == []
    assert told.get("summary") is (True if words[0] == "batch" else None)


@pytest.mark.parametrize("words", [["--precision", "--"], ["--device", "--", "missing.npy"]])
def test_a_double_dash_given_as_a_value_does_not_hide_the_json_after_it(tmp_path, monkeypatch, words):
    """`--precision --` gives the option the word `--` (click's reading), so a later --json is an option still;
    the failure was said on stderr alone, without the JSON object --json promises on stdout."""
    monkeypatch.chdir(tmp_path)
    result = run("render", "--weights", "demo", "-o", "face.png", *words, "--json")
    assert result.exit_code == 2, result.stderr
    assert json.loads(result.stdout)["exit_code"] == 2
    assert json.loads(result.stdout)["error"] == one_line_error(result).removeprefix("interp: error: ")
    assert list(tmp_path.iterdir()) == []


def test_a_json_after_a_double_dash_is_an_input_and_its_failure_prints_no_json(tmp_path, monkeypatch):
    """After a real `--`, `--json` is a file's name (render's code), not the option: its failure is the stderr line
    alone, with nothing on stdout for a reader expecting plain output."""
    monkeypatch.chdir(tmp_path)
    result = run("render", "--weights", "demo", "-o", "face.png", "--", "--json")
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    assert one_line_error(result).startswith("interp: error: --json: ")
    assert list(tmp_path.iterdir()) == []


def test_precision_bf16_renders_close_to_fp32(tiny, tmp_path):
    frames = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        result = run(A, B, "--weights", tiny, "--no-align", "--steps", 3, "--precision", precision, "-o", f"{out}/",
                     "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["precision"] == precision
        frames[precision] = np.stack([np.asarray(Image.open(p)) for p in sorted(out.iterdir())]).astype(int)
    assert np.abs(frames["bf16"] - frames["fp32"]).mean() < 3


def test_no_cache_run_does_not_hash_an_unknown_weights_file(tiny_ckpt, tmp_path):
    import shutil

    from interp_cli.weights import file_sha256, remembered_sha256

    fresh = tmp_path / "fresh.pt"  # a new path: its hash was never recorded
    shutil.copyfile(tiny_ckpt, fresh)
    out = tmp_path / "out.gif"
    result = run(A, B, "--weights", fresh, "--no-align", "--steps", 2, "-o", out, "--no-cache", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["weights"]["sha256"] is None
    assert remembered_sha256(fresh) is None
    # Once the file has been hashed (by a cached run, or `interp weights verify`), summaries show it.
    digest = file_sha256(fresh)
    result = run(A, B, "--weights", fresh, "--no-align", "--steps", 2, "-o", tmp_path / "again.gif", "--no-cache",
                 "--json")
    assert json.loads(result.stdout)["weights"]["sha256"] == digest


def test_chain_loop_and_sheet(tiny, tmp_path):
    out = tmp_path / "loop.gif"
    sheet = tmp_path / "sheet.png"
    mirrored = tmp_path / "mirrored.png"  # a third face (A B A --loop would pass from A to A: refused as a still)
    Image.open(A).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored)
    result = run(A, B, mirrored, "--weights", tiny, "--no-align", "--steps", 4, "--loop", "--hold", 1,
                 "--ease", "smooth", "--sheet", sheet, "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as gif:
        assert gif.n_frames == 3 * 3 + 3  # K*(steps-1) + K*hold for a loop of K keyframes
    assert Image.open(sheet).size[0] > 16 * 4


def test_layers_keep_other_rows(tiny, tiny_codes, tmp_path):
    out = tmp_path / "frames"
    assert run(A, B, "--weights", tiny, "--no-align", "--steps", 3, "--layers", "0-1", "-o", f"{out}/",
               "-q").exit_code == 0
    last = np.asarray(Image.open(out / "frame_0002.png"))
    assert not np.array_equal(last, tiny_codes["B"][1])  # fine rows stayed at A
    assert not np.array_equal(last, tiny_codes["A"][1])  # coarse rows moved to B


def test_mix_writes_png(tiny, tmp_path):
    out = tmp_path / "mix.png"
    result = run("mix", A, B, "--coarse", "a", "--fine", "b", "--weights", tiny, "--no-align", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert Image.open(out).size == (16, 16)


def test_second_run_uses_the_latent_cache(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    first = json.loads(run(A, B, "--weights", tiny, "--no-align", "--steps", 2, "-o", tmp_path / "1.gif",
                           "--json").stdout)
    second = json.loads(run(A, B, "--weights", tiny, "--no-align", "--steps", 2, "-o", tmp_path / "2.gif",
                            "--json").stdout)
    bypass = json.loads(run(A, B, "--weights", tiny, "--no-align", "--steps", 2, "-o", tmp_path / "3.gif",
                            "--json", "--no-cache").stdout)
    assert first["encoder_calls"] == 2 and second["encoder_calls"] == 0 and bypass["encoder_calls"] == 2


def test_batch_continues_past_a_broken_row(tiny, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},one.gif\n{A},notes.txt,two.gif\n{B},{A},three.gif\n")
    result = run("batch", manifest, "--outdir", tmp_path / "out", "--weights", tiny, "--no-align", "--steps", 2,
                 "--json")
    assert result.exit_code == 1
    *rows, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in rows] == [True, False, True]
    assert (summary["summary"], summary["made"], summary["failed"], summary["skipped"]) == (True, 2, 1, 0)
    assert "notes.txt" in rows[1]["error"] and rows[1]["exit_code"] == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.gif", "three.gif"]


# --- errors: one line, right exit code, no output, existing output intact --------------------------


@pytest.mark.parametrize("args, code, fragment", [
    (["missing.png", B], 2, "missing.png: no such file"),
    ([A, B, "--steps", "1"], 2, "--steps"),
    ([A, B, "--fps", "0"], 2, "--fps"),
    ([A, B, "--noise", "loud"], 2, "--noise"),
    ([A, B, "--layers", "9-99"], 2, "layer"),
    ([A], 2, "two images"),
    ([A, B, "-o", "out.avi"], 2, "unsupported output type"),
    ([A, B, "-o", "a_file/dir/out.mp4"], 2, "'a_file' is not a directory"),
    ([A, B, "--weights", "nothere.pt"], 2, "weights file not found"),
])
def test_usage_errors(tiny, tmp_path, monkeypatch, args, code, fragment):
    monkeypatch.chdir(tmp_path)
    Path("a_file").write_bytes(b"")
    if "--weights" not in args:
        args = [*args, "--weights", tiny, "--no-align"]
    result = run(*args)
    assert result.exit_code == code, result.stderr
    assert fragment in one_line_error(result)
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"], "no output may appear"


@pytest.mark.parametrize("args", [
    ["batch", "pairs.csv", "--outdir", ""],
    ["batch", "pairs.csv", "--outdir", "out", "--save-aligned="],
    [A, B, "--save-aligned", ""],
    [A, B, "--device", ""],
    [A, B, "-o", ""],
    ["mix", A, B, "-o", "mix.png", "--middle", ""],
    ["encode", A, "-o", "a.npy", "--weights", ""],
])
def test_an_option_given_an_empty_value_is_a_usage_error_that_writes_nothing(tiny, tmp_path, monkeypatch, args):
    """`--outdir "$OUT"` with $OUT unset wrote the batch into the current folder, `--save-aligned ""` the crops,
    and `--device ""`, `--middle ""` and `--weights ""` (downloading ffhq) quietly meant their defaults."""
    monkeypatch.chdir(tmp_path)
    Path("pairs.csv").write_text(f"{A},{B},ab.gif\n")
    if "--weights" not in args:
        args = [*args, "--weights", tiny]
    result = run(*args, "--no-align", "-q")
    assert result.exit_code == 2, result.stderr
    option = next(w.split("=")[0] for w, after in zip(args, [*args[1:], ""]) if w.endswith("=") or after == "")
    assert one_line_error(result).startswith(f"interp: error: {'--output' if option == '-o' else option} is empty")
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.csv"], "nothing may be written"


@pytest.mark.parametrize("verb, word", [("verify", "SPEC"), ("path", "SPEC"), ("download", "NAME")])
def test_weights_given_an_empty_name_is_a_usage_error_not_the_default_weights(verb, word, monkeypatch):
    """`interp weights verify "$F"` with $F unset checked (and `download` fetched) the default weights instead."""
    monkeypatch.setenv("INTERP_WEIGHTS", "demo")
    result = run("weights", verb, "")
    assert result.exit_code == 2 and result.stdout == ""
    assert one_line_error(result) == f"interp: error: {word} is empty (''): give it a value, or leave {word} out"


def test_not_an_image(tiny, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("hello")
    result = run(notes, B, "--weights", tiny, "--no-align", "-o", tmp_path / "x.mp4")
    assert result.exit_code == 2
    assert "notes.png" in one_line_error(result)
    assert not (tmp_path / "x.mp4").exists()


def test_corrupt_weights_keep_existing_output(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    result = run(A, B, "--weights", bad, "--no-align", "-o", out)
    assert result.exit_code == 1
    assert "bad.pt" in one_line_error(result)
    assert out.read_bytes() == b"precious"


def test_ctrl_c_exits_130_and_leaves_no_partial_file(tiny, tmp_path, monkeypatch):
    from interp_cli import pipeline

    real = pipeline.Session.frames

    def interrupted(self, codes, **kw):
        for i, frame in enumerate(real(self, codes, **kw)):
            if i == 2:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(pipeline.Session, "frames", interrupted)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    result = run(A, B, "--weights", tiny, "--no-align", "--steps", 8, "-o", out)
    assert result.exit_code == 130
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_offline_ffhq_weights_give_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    result = run(A, B, "--no-align", "-o", tmp_path / "x.mp4")
    assert result.exit_code == 1
    err = one_line_error(result)
    assert "e4e_ffhq_encode.pt" in err and "interp weights download ffhq" in err


def test_debug_shows_traceback(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("nope")
    result = cli_runner().invoke(cli, [A, B, "--weights", str(bad), "--no-align", "-o", str(tmp_path / "x.gif"),
                                      "--debug"])
    # --debug adds the traceback; the exit code and the one line stay those of a run without it.
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr and "CheckpointError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith(f"interp: error: {bad}: ")  # named as typed


# --- the golden model through the CLI ----------------------------------------------------------------


def test_encode_and_render_match_reference(golden_ckpt, golden, tmp_path):
    codes = tmp_path / "a.npy"
    assert run("encode", A, "--weights", golden_ckpt, "--no-align", "--no-cache", "-o", codes, "-q").exit_code == 0
    code = np.load(codes)
    assert code.shape == (10, 512) and code.dtype == np.float32
    assert np.abs(code - golden["w_A"][0]).max() <= 1e-4

    raw = tmp_path / "a_img.npy"
    assert run("render", codes, "--weights", golden_ckpt, "-o", raw, "-q").exit_code == 0
    assert np.abs(np.load(raw) - golden["img_A"][0]).max() <= 1e-4

    png = tmp_path / "a.png"
    assert run("render", codes, "--weights", golden_ckpt, "-o", png, "-q").exit_code == 0
    expected = np.clip((golden["img_A"][0].transpose(1, 2, 0) + 1) * 127.5, 0, 255)
    got = np.asarray(Image.open(png)).astype(np.float64)
    assert np.abs(got - expected).max() <= 1.0


# --- startup ------------------------------------------------------------------------------------------


def test_help_and_argument_errors_do_not_import_torch():
    code = ("import sys\nfrom interp_cli.cli import main\n"
            "try:\n    main(['--steps', 'x', 'a.png', 'b.png'])\nexcept SystemExit as e:\n    assert e.code == 2\n"
            "assert 'torch' not in sys.modules, 'torch imported on the argument-error path'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# What each quick answer may import: torch takes 1.2-1.8 s on a 2-core CPU, numpy ~0.1 s of a ~0.05 s error.
_IMPORTED_BY = ("import json, sys\nfrom interp_cli.cli import main\n"
                "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
                "print(json.dumps([code] + [m in sys.modules for m in ('torch', 'numpy', 'huggingface_hub')]))\n")


def _imported_by(*words, cwd=None) -> tuple[int, bool, bool, bool]:
    """(exit code, torch imported, numpy imported, huggingface_hub imported) of `interp WORDS`, a fresh process."""
    done = subprocess.run([sys.executable, "-c", _IMPORTED_BY, *map(str, words)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return tuple(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("args, said", [
    (["-o", "out.mp4"], "out.mp4: is a folder, but a .mp4 output is a file; remove or rename the folder (or end the "
                        "name with / to write a morph's PNG frames into it)"),
    (["-o", "out.xyz"], "out.xyz: unsupported output type '.xyz' (a morph is written as .mp4, .gif, .html, a .png "
                        "contact sheet, or PNG frames into a folder named with a trailing slash: frames/)"),
    (["-o", "afile/x.gif"], "afile/x.gif: 'afile' is not a directory"),
    (["-o", "afile/nodir/x.gif"], "afile/nodir/x.gif: 'afile' is not a directory"),
    (["-o", "x.gif", "--sheet", "s.jpg"], "--sheet s.jpg: unsupported output type '.jpg' (the contact sheet is a "
                                          ".png file)"),
    (["-o", "x.png", "--sheet", "x.png"], "--sheet x.png: is also the -o output x.png; give each output its own name"),
    (["-o", "x.mp4", "--size", "101"], "--size 101: an MP4 needs even sides (H.264, as browsers and QuickTime play "
                                       "it, keeps colour per 2x2 pixels); use --size 100 or --size 102, or write a "
                                       ".gif, .html or frames/, which keep 101 px"),
    (["-o", "x.gif", "--weights", "dmeo"], "unknown weights 'dmeo': not a file and not a preset (presets: demo, "
                                           "ffhq); pass a preset name, a checkpoint path, or a hub file "
                                           "owner/repo/path/in/repo.pt[@revision]"),
])
def test_a_morph_refuses_a_bad_output_or_weights_name_before_importing_torch(tmp_path, args, said):
    """These were said by `pipeline.morph`, so only after torch's import (1-2 s, 8 s on a busy machine): the
    same line and exit code now come from the torch-free checks the morph makes first."""
    (tmp_path / "out.mp4").mkdir()
    (tmp_path / "afile").write_bytes(b"x")
    done = subprocess.run([sys.executable, "-c", _IMPORTED_BY, DEMO_A, DEMO_B, *args], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert json.loads(done.stdout)[:2] == [2, False] and done.stderr == f"interp: error: {said}\n", done.stderr
    assert sorted(os.listdir(tmp_path)) == ["afile", "out.mp4"] and os.listdir(tmp_path / "out.mp4") == []


_A, _B = (str(Path(__file__).resolve().parents[1] / "examples" / name) for name in ("demo_a.png", "demo_b.png"))


@pytest.mark.parametrize("words, said", [
    (["encode", _A, "-o", "a.png"], "a.png: unsupported output type '.png' (codes are written as .npy)"),
    (["encode", _A, "-o", "out.npy"], "out.npy: is a folder, but a .npy output is a file; remove or rename the "
                                          "folder"),
    (["render", "a.npy", "-o", "x.gif"], "x.gif: unsupported output type '.gif' (render writes a .png image or a "
                                         ".npy float array)"),
    (["mix", _A, _B, "-o", "m.mp4"], "m.mp4: unsupported output type '.mp4' (mix writes a .png image or a "
                                             ".npy code)"),
    (["mix", _A, _B, "-o", "m.png", "--weights", "dmeo"],
     "unknown weights 'dmeo': not a file and not a preset (presets: demo, ffhq); pass a preset name, a checkpoint "
     "path, or a hub file owner/repo/path/in/repo.pt[@revision]"),
])
def test_encode_render_and_mix_refuse_a_bad_output_or_weights_name_before_importing_torch(tmp_path, words, said):
    """As `interp morph` does: these verbs said a wrong -o type or a misspelt --weights only after torch's import
    (a second or more; several on a busy machine), with the same line and exit code."""
    (tmp_path / "out.npy").mkdir()
    np.save(tmp_path / "a.npy", np.zeros((10, 128), np.float32))
    done = subprocess.run([sys.executable, "-c", _IMPORTED_BY, *words], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert json.loads(done.stdout)[:2] == [2, False] and done.stderr == f"interp: error: {said}\n", done.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "out.npy"] and os.listdir(tmp_path / "out.npy") == []


@pytest.mark.parametrize("words", [["NOTE", _B, "-o", "m.gif"], [_A, "PHONE", "-o", "m.gif"],
                                   ["encode", "NOTE", "-o", "a.npy"], ["mix", _A, "PHONE", "-o", "m.png"]])
def test_a_photo_that_is_no_usable_image_is_refused_before_importing_torch(tmp_path, words):
    """A text file or a phone's HEIC passed as a photo was said only after torch's import (a second or more; several
    on a busy machine): its header says so in milliseconds, in the same line, with the same exit code."""
    note, phone = tmp_path / "note.jpg", tmp_path / "phone.heic"
    note.write_text("not a photo\n")
    phone.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic")
    said = {"NOTE": f"{note}: not an image (cannot identify image file)",
            "PHONE": f"{phone}: a HEIC image, which this Pillow cannot decode; convert it to JPEG or PNG first"}
    words = [str({"NOTE": note, "PHONE": phone}.get(word, word)) for word in words]
    done = subprocess.run([sys.executable, "-c", _IMPORTED_BY, *words], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    which = next(key for key, path in (("NOTE", note), ("PHONE", phone)) if str(path) in words)
    assert json.loads(done.stdout)[:2] == [2, False] and done.stderr == f"interp: error: {said[which]}\n", done.stderr
    assert sorted(os.listdir(tmp_path)) == ["note.jpg", "phone.heic"]


@pytest.mark.parametrize("words, said", [
    ([_A, _B, "--backdrop", "z", "-o", "m.gif"], "--backdrop z: name one of the inputs (a, b, or 1 to 2)"),
    ([_A, _B, "--face", "1", "--no-align", "-o", "m.gif"],
     f"{_A}: --face picks among the faces that alignment finds, and alignment is off (--no-align is given); drop "
     "--face, or pass --align"),
    ([_A, _B, "--face", "0,1,2", "-o", "m.gif"], "--face 0,1,2: 3 values for 2 inputs; give one number for every "
                                                 "input, or one per input (an empty place: the largest face), e.g. "
                                                 "--face ,1"),
    ([_A, _B, "--paste", "--no-align", "-o", "m.gif"], "--paste puts the face back where alignment found it in the "
                                                       "photo: it cannot be combined with --no-align"),
    ([_A, "a.npy", "--backdrop", "b", "-o", "m.gif"], "--backdrop: a.npy is a code, not a photo; choose a photo input "
                                                      "with --backdrop"),
    ([_A, _A, "-o", "m.gif"], f"{_A} follows itself, so the morph between them would be a still; name two different "
                              "images (--hold N pauses on each face)"),
    ([_A, _B, "--loop", "--pingpong", "-o", "m.gif"], "loop and pingpong cannot be combined (pick one)"),
    ([_A, _B, "--save-aligned", ".", "-o", "demo_a_aligned.png"],
     # the crop named as a crop, not as if `--save-aligned demo_a_aligned.png` had been typed
     "demo_a_aligned.png (the crop --save-aligned . saves): is also the -o output demo_a_aligned.png; give each "
     "output its own name"),
    (["encode", _A, "--face", "1", "--no-align", "-o", "a2.npy"],
     f"{_A}: --face picks among the faces that alignment finds, and alignment is off (--no-align is given); drop "
     "--face, or pass --align"),
    (["encode", "a.npy", "-o", "a2.npy"], "a.npy: already a code file; encode takes an image"),
    (["render", _A, "-o", "r.png"], f"{_A}: render takes a .npy code file (from `interp encode`)"),
    (["mix", _A, _B, "--coarse", "z", "-o", "m.png"], "--coarse z: name one of the inputs (a, b, or 1 to 2)"),
    (["mix", _A, "-o", "m.png"], "mix takes two or three inputs (interp mix A B [C]), got 1"),
    (["mix", _A, _B, _B, "-o", "m.png"], f"{_B}: input c is named by none of --coarse, --middle and --fine; name it "
                                         "(e.g. --middle c) or leave it out"),
    (["batch", "m.csv", "--outdir", "out", "--paste", "--no-align"],
     "--paste puts the face back where alignment found it in the photo: it cannot be combined with --no-align"),
])
def test_choices_about_the_inputs_are_refused_before_importing_torch(tmp_path, words, said):
    """A --backdrop, --face, --paste or input that cannot work was said only after torch's import (1.4 s here, 15 s
    on a busy machine): the same line and exit code now come first (a batch's --paste --no-align failed every
    row alike, exit 1, instead of being refused once)."""
    (tmp_path / "out.npy").mkdir()
    np.save(tmp_path / "a.npy", np.zeros((10, 128), np.float32))
    (tmp_path / "m.csv").write_text(f"{_A},{_B},x.gif\n")
    done = subprocess.run([sys.executable, "-c", _IMPORTED_BY, *words, "--weights", "demo"], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert json.loads(done.stdout)[:2] == [2, False] and done.stderr == f"interp: error: {said}\n", done.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "m.csv", "out.npy"] and os.listdir(tmp_path / "out.npy") == []


def test_a_weights_name_the_file_system_cannot_stat_is_one_line_exit_2(tmp_path, monkeypatch):
    """--weights with a 300-byte name exited 1 with "File name too long" (a traceback under --debug: an OSError
    from Path.is_file), and a symlink loop was "weights file not found", though the link is there: both are
    said as an input's are, exit 2, before torch's import; so are `interp weights verify` and `path`."""
    monkeypatch.chdir(tmp_path)
    Path("loop.pt").symlink_to("loop.pt")
    long = "x" * 300 + ".pt"
    for name, reason in ((long, os.strerror(errno.ENAMETOOLONG)), ("loop.pt", os.strerror(errno.ELOOP))):
        for words in ([_A, _B, "-o", "m.gif", "--weights", name, "--debug"], ["weights", "verify", name],
                      ["weights", "path", name]):
            result = cli_runner().invoke(cli, words)
            assert (result.exit_code, result.stderr) == (2, f"interp: error: {name}: cannot read ({reason})\n"), words
    code, torch, _, _ = _imported_by(_A, _B, "-o", "m.gif", "--weights", long, cwd=tmp_path)
    assert (code, torch) == (2, False)
    assert sorted(os.listdir(tmp_path)) == ["loop.pt"]


def test_a_folder_that_is_a_looping_or_dangling_symlink_is_named_as_one(tmp_path, monkeypatch):
    """-o loop/x.gif said "directory 'loop' does not exist", --save-aligned loop "exists and is not a directory"
    and --outdir to a dangling link "cannot create it (File exists)": each sent the user looking for a folder
    that `ls` shows them. Each says what the link is, exit 2, and nothing is written."""
    monkeypatch.chdir(tmp_path)
    Path("loop").symlink_to("loop")
    Path("gone").symlink_to(tmp_path / "nowhere")
    Path("m.csv").write_text(f"{_A},{_B},x.gif\n")
    dangling = f"is a symlink to '{tmp_path / 'nowhere'}', which does not exist"
    for words, said in (
            ([_A, _B, "-o", "loop/x.gif"], "loop/x.gif: directory 'loop' cannot be reached (a symlink loop)"),
            ([_A, _B, "-o", "loop/sub/x.gif"], "loop/sub/x.gif: directory 'loop' cannot be reached (a symlink "
                                               "loop)"),
            ([_A, _B, "-o", "gone/x.gif"], f"gone/x.gif: directory 'gone' {dangling}"),
            ([_A, _B, "-o", "x.gif", "--sheet", "gone/s.png"], f"gone/s.png: directory 'gone' {dangling}"),
            ([_A, _B, "-o", "x.gif", "--save-aligned", "loop"], "--save-aligned loop: cannot be reached (a symlink "
                                                                "loop)"),
            ([_A, _B, "-o", "x.gif", "--save-aligned", "gone"], f"--save-aligned gone: {dangling}"),
            (["batch", "m.csv", "--outdir", "out", "--save-aligned", "gone"], f"--save-aligned gone: {dangling}"),
            (["batch", "m.csv", "--outdir", "gone/sub"], f"--outdir gone/sub: 'gone' {dangling}")):
        result = cli_runner().invoke(cli, [*words, "--weights", "demo"])
        assert (result.exit_code, result.stderr) == (2, f"interp: error: {said}\n"), words
    assert sorted(os.listdir(tmp_path)) == ["gone", "loop", "m.csv"]


def test_quick_answers_import_neither_torch_nor_numpy(tmp_path):
    # A missing input is answered before torch by every verb that reads photos (`interp align` and `mix` loaded
    # torch first, 2 s for "no such file"), and before numpy, which the default --layers' check imported.
    missing = tmp_path / "missing.jpg"
    for words in ([missing, DEMO_B, "-o", tmp_path / "m.mp4"], ["morph", missing, DEMO_B, "--layers", "0-3"],
                  ["align", missing, "-o", tmp_path / "a.png"], ["mix", missing, DEMO_B, "-o", tmp_path / "x.png"],
                  ["encode", missing, "-o", tmp_path / "a.npy"],
                  ["render", tmp_path / "a.npy", "-o", tmp_path / "a.png"],
                  ["batch", tmp_path / "missing.csv", "--outdir", tmp_path / "out"],  # imported numpy and PIL
                  [DEMO_A, DEMO_B, "--layers", "3-1"], ["--help"], ["morph", "--help"], ["weights", "--help"]):
        code, torch, numpy, _ = _imported_by(*words)
        assert (code, torch, numpy) == (0 if "--help" in words else 2, False, False), words
    # `weights list` reads huggingface_hub's cache (where the presets are), but needs no torch.
    code, torch, _, _ = _imported_by("weights", "list")
    assert (code, torch) == (0, False)


def test_a_weights_verb_typed_right_imports_no_difflib_which_only_a_typo_needs():
    # `interp weights list` imported difflib (1-1.6 ms) before it knew its word was a verb; a typo still gets it.
    code = ("import sys\nfrom interp_cli.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    print(e.code, 'difflib' in sys.modules)\n")

    def run(*words):
        done = subprocess.run([sys.executable, "-c", code, *words], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
        return done.stdout.splitlines()[-1], done.stderr

    assert run("weights", "list")[0] == "0 False"
    said, err = run("weights", "lst")
    assert said == "2 True" and "did you mean `interp weights list`?" in err, err


def test_interp_align_runs_without_torch(tmp_path):
    from interp_cli.align import alignment_available

    if not alignment_available():
        pytest.skip("needs the align extra")
    out = tmp_path / "a.png"
    code, torch, _, _ = _imported_by("align", ROOT / "examples" / "obama.jpg", "-o", out, "-q")
    assert (code, torch) == (0, False)
    assert Image.open(out).size == (1024, 1024)


def test_the_package_gives_the_pipeline_lazily_and_imports_no_torch_until_then():
    code = ("import sys\nimport interp_cli\nfrom interp_cli.cli import main\n"
            "assert 'torch' not in sys.modules, 'import interp_cli imported torch'\n"
            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert 'torch' not in sys.modules, 'interp --help imported torch'\n"
            "doc = interp_cli.__doc__\n"
            "assert 'interp_cli.pipeline' in doc and 'from interp_cli import morph' in doc\n"
            "from interp_cli import Session, encode, mix, morph\n"
            "import interp_cli.pipeline as pipeline\n"
            "assert [morph, Session, encode, mix] == [getattr(pipeline, n) for n in ('morph', 'Session', 'encode', "
            "'mix')]\n"
            "assert interp_cli.morph is pipeline.morph\n"
            "from interp_cli import align, batch, render\n"  # the package's modules, as before
            "assert (align.__name__, batch.__name__, render.__name__) == "
            "('interp_cli.align', 'interp_cli.batch', 'interp_cli.render')\n"
            "try:\n    interp_cli.no_such_name\nexcept AttributeError as e:\n    assert 'no_such_name' in str(e)\n"
            "else:\n    raise AssertionError('interp_cli.no_such_name')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_package_docstrings_example_runs(tmp_path, monkeypatch):
    """help(interp_cli)'s three lines, run from a folder that holds examples/ as a clone's root does."""
    import interp_cli

    example = [line.strip() for line in interp_cli.__doc__.splitlines() if line.startswith("    ")]
    assert len(example) == 3 and example[0] == "from interp_cli.pipeline import morph"
    (tmp_path / "examples").mkdir()
    for name in ("demo_a.png", "demo_b.png"):
        (tmp_path / "examples" / name).write_bytes((Path(DEMO_A).parent / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    printed = subprocess.run([sys.executable, "-c", "\n".join(example)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(interp_cli.__file__).parents[1])})
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.split() == ["demo.gif", "60"] and (tmp_path / "demo.gif").is_file()


def test_the_command_exits_quickly_after_torch_with_outputs_codes_and_atexit_intact(tiny, tiny_codes, tmp_path):
    # The console entry skips the interpreter's torch teardown: what a shell sees must not change.
    script = ("import atexit, sys\natexit.register(lambda: print('atexit ran'))\n"
              "from interp_cli.cli import run\nrun()\n")
    out = tmp_path / "out.mp4"
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # as in most shells
    done = subprocess.run([sys.executable, "-c", script, A, B, "--weights", tiny, "--no-align", "--steps", "5",
                           "--no-cache", "--json", "-o", str(out)], capture_output=True, text=True, env=buffered)
    assert done.returncode == 0, done.stderr
    summary_line, atexit_line = done.stdout.splitlines()
    assert json.loads(summary_line)["frames"] == 5 and atexit_line == "atexit ran"
    assert len(list(iio.imiter(out))) == 5

    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 7), np.float32))                # found only once the model is loaded
    done = subprocess.run([sys.executable, "-m", "interp_cli", str(bad), B, "--weights", tiny, "--no-align",
                           "-o", str(tmp_path / "no.mp4")], capture_output=True, text=True)
    n_latent, style_dim = tiny_codes["A"][0].shape
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"interp: error: {bad}: code has shape [3, 7], this model "
                                                f"needs [{n_latent}, {style_dim}]"]
    assert not (tmp_path / "no.mp4").exists()


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "interp_cli", "--version"], capture_output=True, text=True, check=True)
    assert "interp" in out.stdout


# --- weights subcommands --------------------------------------------------------------------------------


def test_weights_list_names_presets_and_licenses():
    result = run("weights", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["ffhq"]["sha256"] == "2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999"
    assert rows["ffhq"]["size"] == 1201649680
    assert "non-commercial" in rows["ffhq"]["license"].lower()
    text = run("weights", "list")
    assert text.exit_code == 0 and "ffhq (default)" in text.stdout


def test_weights_list_says_sizes_as_every_other_size_interp_prints():
    """`interp weights list` said ffhq's size as "1202 MB", where the download line, `interp cache` and the
    verifying line say "1.2 GB": now the same words; --json keeps the bytes."""
    rows = {r["name"]: r for r in json.loads(run("weights", "list", "--json").stdout)}
    assert rows["ffhq"]["size"] == 1201649680
    blocks = run("weights", "list").stdout.split("\n    ")
    ffhq = blocks.index(next(b for b in blocks if b.startswith("ffhq")))
    assert blocks[ffhq + 1] == "1.2 GB, license: " + rows["ffhq"]["license"]


def test_weights_path_of_local_file_and_offline_preset(tiny, tmp_path, monkeypatch):
    assert run("weights", "path", tiny).stdout.strip() == tiny
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    result = run("weights", "path", "ffhq")
    assert result.exit_code == 1
    assert "interp weights download ffhq" in one_line_error(result)


def test_interp_weights_env_var_selects_weights(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("INTERP_WEIGHTS", tiny)
    result = run(A, B, "--no-align", "--steps", 2, "-o", tmp_path / "x.gif", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["weights"]["id"] == tiny


# --- alignment through the CLI --------------------------------------------------------------------------

FACES = GOLDEN_DIR.parent / "faces"


def test_align_command_writes_the_ffhq_crop(tmp_path):
    pytest.importorskip("cv2", reason="the align extra is not installed")
    out = tmp_path / "aligned.png"
    result = run("align", FACES / "two_people.jpg", "--face", 1, "--size", 256, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["faces"] == 2 and summary["face"] == 1
    assert Image.open(out).size == (256, 256)


def test_no_face_is_a_clean_runtime_error(tmp_path):
    pytest.importorskip("cv2", reason="the align extra is not installed")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 300, 3), 128, np.uint8)).save(blank)
    result = run("align", blank, "-o", tmp_path / "x.png")
    assert result.exit_code == 1
    err = one_line_error(result)
    assert f"no face found in {blank}" in err and "--no-align" in err
    assert not (tmp_path / "x.png").exists()


def test_morph_aligns_by_default_and_saves_what_the_encoder_saw(tiny, tmp_path):
    pytest.importorskip("cv2", reason="the align extra is not installed")
    saved = tmp_path / "seen"
    result = run(FACES / "obama.jpg", FACES / "biden.jpg", "--weights", tiny, "--steps", 2,
                 "--save-aligned", saved, "-o", tmp_path / "x.gif", "-q")
    assert result.exit_code == 0, result.stderr
    crops = sorted(p.name for p in saved.iterdir())
    assert crops == ["biden_aligned.png", "obama_aligned.png"]
    assert Image.open(saved / "obama_aligned.png").size == (256, 256)


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_real_signal_during_rendering_exits_cleanly(tiny, tmp_path, sig, code):
    """A real signal reaches the main thread while the render thread works: clean exit, no temp file, and under
    --json the stop's one JSON object on stdout (it printed nothing: a reader saw "Expecting value")."""
    import os
    import signal
    import time

    out = tmp_path / "out.gif"
    out.write_bytes(b"old")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    child = subprocess.Popen([sys.executable, "-m", "interp_cli", A, B, "--weights", tiny, "--no-align",
                              "--steps", "100000", "-o", str(out), "--no-cache", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.iterdir() if p.name != "out.gif" and p.stat().st_size > 0]:  # frames flowing
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
        time.sleep(0.05)
    child.send_signal(getattr(signal, sig))
    said, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    assert "Traceback" not in err.decode()
    assert err.decode().strip().splitlines()[-1] in ("interp: interrupted", "interp: terminated")
    assert json.loads(said) == {"error": err.decode().strip().splitlines()[-1].removeprefix("interp: "),
                                "exit_code": code, "path": None, "stopped": True, "warnings": []}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gif"]
    assert out.read_bytes() == b"old"


# --- the first ten minutes (issue 35) ----------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
DEMO_A = str(ROOT / "examples" / "demo_a.png")
DEMO_B = str(ROOT / "examples" / "demo_b.png")


@pytest.mark.parametrize("args,fragment", [
    (["missing.png", B, "-o", "x.gif"], "missing.png: no such file"),
    ([A, B, "-o", "x.avi"], "unsupported output type '.avi'"),
])
def test_debug_keeps_usage_errors_one_line_and_exit_2(args, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args, "--debug")
    assert result.exit_code == 2
    assert fragment in one_line_error(result)


def test_debug_is_in_help():
    for words in ([], ["morph"]):
        shown = run(*words, "--help")
        assert shown.exit_code == 0 and "--debug" in shown.stdout


def test_a_mistyped_command_is_named_with_the_command_it_resembles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("morf", A, B)
    assert result.exit_code == 2
    assert one_line_error(result) == "interp: error: no such command or file 'morf'; did you mean 'morph'?"
    # A file that happens to be called like a command is still an input.
    Image.open(A).save(tmp_path / "mixx", format="PNG")
    assert "did you mean" not in run("mixx", B, "-o", "x.gif", "--steps", "1").stderr


@pytest.mark.parametrize("words,said", [
    ([A, B, "--noise", "loud", "-o", "m.gif"],
     "invalid value for '--noise': 'loud' is not one of 'const', 'random', 'none'"),
    ([A, B, "--size", "7", "-o", "m.gif"], "--size must be between 8 and 4096 (got 7)"),
    (["encode"], "missing argument 'IMAGE'"),
    (["render", A, "-o", "r.png", "extra"], "got unexpected extra argument (extra)"),
    (["weights", "bogus"], "no such command 'bogus'"),
    ([A, B, "--zzz", "-o", "m.gif"], "no such option '--zzz'"),
    ([A, B, "--steeps", "3", "-o", "m.gif"],
     "no such option '--steeps'; did you mean '--steps', '--seed' or '--sheet'?"),
    # The closest guess first: sorted by name, '--steps' came last, after '--interp' and '--paste'.
    ([A, B, "--step", "3", "-o", "m.gif"], "no such option '--step'; did you mean '--steps', '--paste' or '--interp'?"),
    ([A, B, "--refine", "-o", "m.gif"], "option '--refine' requires an argument: the word after it, -o, is an option"),
    # The next word an option written with its value (`--steps=8`): a check of bare options only let `-o` take it as
    # the output's name ("--steps=8: no file type ..."), naming a file after an option (mutation round eleven).
    ([A, B, "-o", "--steps=8"], "option '-o' requires an argument: the word after it, --steps=8, is an option"),
])
def test_clicks_usage_errors_read_as_interps_own(words, said, tmp_path, monkeypatch):
    """Click's lines began with a capital and ended with a full stop ("interp: error: Invalid value for '--size': 7
    is not in the range 8<=x<=4096.", "No such option '--bogus'.") beside interp's own ("--steps must be at least
    2 (got 0)", "no such option '--resume': ..."), and its guesses for a mistyped option changed form with its
    version ("No such option: --steeps Did you mean --steps?"). Said one way now, in one place
    (cli_group._click_message)."""
    monkeypatch.chdir(tmp_path)
    result = run(*words)
    assert result.exit_code == 2 and one_line_error(result) == f"interp: error: {said}"
    assert os.listdir(tmp_path) == []


def test_a_file_whose_name_starts_with_a_dash_is_named_in_the_error_with_a_way_that_works(tmp_path, monkeypatch):
    """Click read `-dash.png` as the options -d -a -s ... and said only "No such option '-d'"."""
    monkeypatch.chdir(tmp_path)
    Image.open(DEMO_A).save("-dash.png")
    words = [DEMO_B, "-o", "x.gif", "--weights", "demo", "--steps", "2", "-q"]
    result = run("-dash.png", *words)
    assert result.exit_code == 2
    message = one_line_error(result)  # in interp's words: click's own differ between versions ("No such option: -d")
    assert message.startswith("interp: error: no such option '-d'")
    assert message.endswith("; '-dash.png' is a file: to name it, write ./-dash.png")
    assert run("./-dash.png", *words).exit_code == 0 and Path("x.gif").is_file()
    assert "is a file" not in run("-zz.png", *words).stderr  # an option misspelt, no file of that name


@pytest.mark.parametrize("face", ["x", "1,a", ",", "-1", "0.5"])
def test_a_face_number_that_is_not_one_is_a_usage_error_naming_the_forms_that_work(tmp_path, face):
    """--face takes N or N,M,... (an empty place: the largest face); a word, a lone comma, a negative or a
    fraction is refused before anything loads, naming both forms, and nothing is written."""
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", "2", "-o", tmp_path / "m.gif", "--face", face)
    assert result.exit_code == 2, result.stderr
    assert one_line_error(result) == (f"interp: error: invalid value for '--face': '{face}': give a face number "
                                      f"(0 = leftmost), or one per input such as 0,1 or ,1")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("output", ["/", "//"])
def test_the_root_directory_as_the_frames_folder_is_refused_in_one_line(tmp_path, monkeypatch, output):
    """`-o /` was `internal error: ValueError: PosixPath('/') has an empty name`, exit 1 (the fuzzer of options
    found it): the root, like `-o .`, has no name to put a probe beside."""
    monkeypatch.chdir(tmp_path)
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", "2", "-q", "-o", output)
    assert result.exit_code == 2, result.stderr
    assert one_line_error(result) == (f"interp: error: {output}: is the root directory; name a new directory for "
                                      f"the frames")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shown", ["{cwd}", "{cwd}/", ".", "./"])
def test_the_current_directory_as_the_frames_folder_is_refused_in_one_line(tmp_path, monkeypatch, shown):
    """`-o .` (frames into the folder one is in, the inputs elsewhere) would mix frames with whatever is
    there and be replaced by a later run: refused before any work, with exit 2, and the folder left as it
    was. Said as the user wrote it. `.` and `./` were an internal error (a probe beside Path('.'), which has no
    name)."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    output = shown.format(cwd=here)
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", "2", "-q", "-o", output)
    assert result.exit_code == 2, result.stderr
    assert one_line_error(result) == (f"interp: error: {output}: is the current directory; name a new directory "
                                      f"for the frames")
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("names", [("-o", "-q"), ("--tune", "-1")])
def test_after_a_double_dash_every_word_is_an_input_even_one_that_reads_as_an_option(tmp_path, monkeypatch, names):
    """`--` ends the options, as click and every shell tool have it: photos named `-o` and `-q` are not
    "-o missing its value", nor `--tune` then `-1` a negative --tune; they are the two inputs, morphed."""
    monkeypatch.chdir(tmp_path)
    for name, photo in zip(names, (DEMO_A, DEMO_B)):
        Path(name).write_bytes(Path(photo).read_bytes())
    result = run("-o", "x.gif", "--weights", "demo", "--steps", "2", "-q", "--", *names)
    assert result.exit_code == 0, result.stderr
    assert Image.open("x.gif").n_frames == 2


@pytest.mark.parametrize("words, suggested", [
    (["help"], "interp --help"),
    (["version"], "interp --version"),
    (["help", "morph"], "interp morph --help"),
    (["help", "weights"], "interp weights --help"),
])
def test_help_and_version_as_words_point_at_the_options_and_the_advice_runs(words, suggested, tmp_path, monkeypatch):
    """`interp help` and `interp version` (git's habit) were read as a morph of a file called help: "help: no
    such file". The line names the option, and the command it suggests works as pasted."""
    monkeypatch.chdir(tmp_path)
    result = run(*words)
    assert result.exit_code == 2
    line = one_line_error(result)
    assert line == f"interp: error: no such command or file '{words[0]}'; did you mean `{suggested}`?"
    pasted = run(*shlex.split(suggested)[1:])
    assert pasted.exit_code == 0 and pasted.stdout.strip()
    # A file of that name is still an input, as for any other word.
    Image.open(A).save(tmp_path / words[0], format="PNG")
    assert "did you mean" not in run(words[0], B, "-o", "x.gif", "--steps", "1").stderr


@pytest.mark.parametrize("words, suggested", [
    (["verify", "demo", "--quiet", "--no-cache"], "interp weights verify demo --quiet` (it takes no --no-cache)"),
    (["path", "--weights", "demo", "-q"], "interp weights path demo -q` (it takes no --weights)"),
    (["verify", "--weights=demo", "--json"], "interp weights verify demo --json` (it takes no --weights)"),
    (["path", "demo", "--json"], "interp weights path demo --json`"),
    (["verify", "demo", "ffhq"], "interp weights verify --help`"),
])
def test_a_weights_verb_without_its_group_is_answered_with_a_line_that_runs(words, suggested, tmp_path, monkeypatch):
    """`interp verify demo --no-cache` was answered "did you mean `interp weights verify demo --no-cache`?", which
    fails in turn ("no such option": the weights verbs cache nothing). The line now keeps only the words the verb
    takes (an option's value stays: `--weights demo` is its SPEC; --quiet, which every verb takes, too), says what
    it left out, and runs."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    result = run(*words)
    assert result.exit_code == 2
    line = one_line_error(result)
    assert line == f"interp: error: no such command or file '{words[0]}'; did you mean `{suggested}?"
    pasted = run(*shlex.split(suggested.split("`")[0])[1:])
    assert pasted.exit_code == 0, pasted.stderr
    assert any(said in pasted.stdout for said in ("demo.pt", "demo: OK", "Usage: interp weights verify"))


@pytest.mark.parametrize("name", ["out.mp4", "page.html", "frames/"])
def test_an_output_typed_without_o_is_answered_with_o_and_the_advice_runs(name, tmp_path, monkeypatch):
    """`interp a.png b.png out.mp4`, -o forgotten, said "out.mp4: no such file" (after a first run had made
    it: "not an image"): true, but no help. It now says -o, and the inputs with that -o make the morph."""
    monkeypatch.chdir(tmp_path)
    for before in ("absent", "made by an earlier run"):
        result = run(DEMO_A, DEMO_B, name, "--weights", "demo", "--steps", "2", "--quiet")
        assert result.exit_code == 2, before
        line = one_line_error(result)
        assert line == (f"interp: error: {name}: given as an input, but a morph's inputs are images or .npy codes; "
                        f"to write the morph there, name it with -o: `-o {name}`"), before
        assert not (tmp_path / "morph.mp4").exists()
        advice = shlex.split(line.split("`")[1])
        done = run(DEMO_A, DEMO_B, *advice, "--weights", "demo", "--steps", "2", "--quiet")
        assert done.exit_code == 0, done.stderr
        assert (tmp_path / name).exists()
    # With -o given, such a word is an input like any other, refused as one.
    assert "-o" not in one_line_error(run(DEMO_A, DEMO_B, name, "-o", "x.gif", "--weights", "demo"))


def test_top_level_help_gives_each_command_its_whole_summary():
    shown = " ".join(run("--help").stdout.split())
    for name, command in cli.commands.items():
        first = " ".join((command.help or "").split("\n\n")[0].split()).split(" e.g.")[0].strip()
        assert f"{name} {first}" in shown
    listing = run("--help").stdout.split("Commands:")[1].split("Examples:")[0]
    assert not [line for line in listing.splitlines() if line.rstrip().endswith("...")]  # Click's cut-off mark


def test_encode_help_gives_the_code_shape_each_model_writes(tmp_path):
    shown = " ".join(run("encode", "--help").stdout.split())
    assert "[n, 512] code" not in shown and "demo [10, 128]" in shown and "ffhq [18, 512]" in shown
    result = run("encode", DEMO_A, "--weights", "demo", "-o", tmp_path / "a.npy", "--json")
    assert json.loads(result.stdout)["shape"] == [10, 128] == list(np.load(tmp_path / "a.npy").shape)


def test_each_commands_help_names_only_options_it_has():
    """--seed's help was shared text naming --refine and --tune, which `interp render` does not take."""
    for name, command in cli.commands.items():
        shown = " ".join(run(name, "--help").stdout.split())
        own = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for option in ("--refine", "--tune", "--paste", "--noise"):
            if option not in own:
                assert option not in shown.replace(option + "-", ""), f"`interp {name} --help` names {option}"
    shown = " ".join(run("render", "--help").stdout.split())
    assert "Seed for --noise random." in shown and "--refine" not in shown and "--tune" not in shown


def test_morphs_summaries_name_every_kind_of_output_including_the_html_page():
    from interp_cli import pipeline

    summary = " ".join(run("--help").stdout.split()).split("morph Morph ")[1].split(" render ")[0]
    first = " ".join(run("morph", "--help").stdout.split()).split("Morph ")[1].split(" Inputs ")[0]
    for text in (summary, first):
        for kind in ("video", "GIF", "HTML page", "frames", "contact sheet"):
            assert kind in text, (kind, text)
    doc = " ".join(pipeline.morph.__doc__.split("\n\n")[0].split())
    for kind in (".mp4", ".gif", ".html", "frames directory", ".png contact sheet"):
        assert kind in doc, kind


def test_weights_list_gives_the_demo_licence():
    rows = {r["name"]: r for r in json.loads(run("weights", "list", "--json").stdout)}
    assert rows["demo"]["license"].startswith("MIT")
    assert "README" not in rows["demo"]["license"]


def test_a_contact_sheet_output_is_reported_as_the_sheet_it_is(tmp_path):
    out = tmp_path / "x.png"
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 20, "-o", out)
    assert result.exit_code == 0, result.stderr
    width, height = Image.open(out).size
    line = result.stderr.splitlines()[-2]
    assert line.startswith(f"wrote {out} (a contact sheet, {width}x{height}: 8 of 20 frames of 64x64")
    assert "(20 frames, 64x64" not in result.stderr


def test_a_contact_sheet_output_with_a_sheet_writes_both(tmp_path):
    """`-o x.png --sheet y.png`: the morph wrote x.png alone and said nothing of y.png, while its JSON summary
    gave "sheet": y.png. Both are written now, the same sheet, and both are said."""
    out, sheet = tmp_path / "x.png", tmp_path / "y.png"
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 3, "-o", out, "--sheet", sheet, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sheet"] == str(sheet)
    assert sheet.read_bytes() == out.read_bytes() and Image.open(sheet).size[0] > Image.open(sheet).size[1]
    assert f"wrote {out} and {sheet} (a contact sheet, " in run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 3,
                                                              "-o", out, "--sheet", sheet).stderr


def test_identical_images_one_after_the_other_are_refused(tmp_path):
    copy = tmp_path / "copy.png"
    copy.write_bytes(Path(DEMO_A).read_bytes())
    result = run(DEMO_A, copy, "--weights", "demo", "-o", tmp_path / "m.gif")
    assert result.exit_code == 2
    assert f"{DEMO_A} and {copy} are the same image" in one_line_error(result)
    looped = run(DEMO_A, DEMO_B, DEMO_A, "--loop", "--weights", "demo", "-o", tmp_path / "m.gif")
    assert looped.exit_code == 2 and "--loop goes from the last input back to the first" in looped.stderr
    assert not (tmp_path / "m.gif").exists()


def test_alignment_warnings_name_the_photo_once(tmp_path):
    from interp_cli.align import alignment_available

    if not alignment_available():
        pytest.skip("needs the align extra")
    small = tmp_path / "small.jpg"
    photo = Image.open(ROOT / "examples" / "obama.jpg")
    photo.resize((photo.width // 4, photo.height // 4)).save(small)
    for words in (["align", small, "-o", tmp_path / "a.png"],
                  ["encode", small, "--weights", "demo", "--align", "-o", tmp_path / "a.npy"]):
        result = run(*words)
        assert result.exit_code == 0, result.stderr
        warning, = [line for line in result.stderr.splitlines() if "the face is small" in line]
        assert warning.startswith(f"warning: {small}: the face is small") and warning.count("small.jpg") == 1


def test_fp16_on_a_cpu_warns_once(tmp_path):
    import torch

    from interp_cli.render import autocast_refusal

    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--device", "cpu", "--precision", "fp16", "--steps", 2,
                 "-o", tmp_path / "m.gif")
    if autocast_refusal(torch.device("cpu"), torch.float16):  # torch 2.1's CPU autocast is bf16 only
        assert result.exit_code == 2 and "cannot autocast to fp16 on CPU" in result.stderr, result.stderr
        return
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: --precision fp16 on a CPU is slower than fp32 (CPUs have no fast half-precision "
                        "path); the default, --precision auto, renders in fp32 here"]
    assert "warning" not in run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 2, "-o", tmp_path / "n.gif").stderr


@pytest.mark.skipif(os.name != "posix" or sys.getfilesystemencoding() != "utf-8",
                    reason="needs a file system that takes any bytes in names")
def test_a_name_that_is_not_utf8_is_shown_on_stderr_with_its_bytes_as_typed(tmp_path):
    # `interp $'in\xff.png' b.png`: the error line names the file as bash's $'...' and `ls -b` write it,
    # not as Python's surrogate escape "in\udcff.png", which no shell takes back.
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "interp_cli", os.fsdecode(b"in\xff.png"), DEMO_B, "--weights", "demo",
                           "-o", "x.gif"], cwd=tmp_path, env=env, capture_output=True)
    assert done.returncode == 2
    assert done.stderr.decode("utf-8", errors="strict").strip() == r"interp: error: in\xff.png: no such file"
    assert list(tmp_path.iterdir()) == []


def test_a_line_break_or_escape_in_a_name_stays_inside_the_one_line_that_names_it(tmp_path, monkeypatch):
    # `interp $'new\nline.png' b.png -o $'o\nx.gif'`: "wrote" and "likeness" were each split in two, and an
    # ESC in a name reached the terminal as an escape sequence. (In this process: what is written to stderr is
    # the point, not the process.)
    odd = "new\nline\x1b[31m.png"
    (tmp_path / odd).write_bytes(Path(DEMO_A).read_bytes())
    monkeypatch.chdir(tmp_path)
    result = run(odd, DEMO_B, "--weights", "demo", "--steps", "3", "-o", "o\nx.gif")
    assert result.exit_code == 0, (result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert lines[-2].startswith("wrote o\\nx.gif (3 frames, 64x64)"), lines
    assert lines[-1].startswith("likeness: new\\nline\\x1b[31m.png 27.5 dB"), lines
    assert "\x1b" not in result.stderr and (tmp_path / "o\nx.gif").is_file()


@pytest.mark.parametrize("device", ["xpu", "meta", "hip", "vulkan", "garbage", "cuda:x", "cuda:-1"])
def test_a_device_interp_does_not_run_on_is_a_usage_error_that_names_the_choices(device, tmp_path):
    """torch.device() takes every type torch knows: `--device xpu` (or meta, hip, vulkan) got past the check
    and failed while loading, as "internal error: AssertionError: Torch not compiled with XPU enabled",
    exit 1; and a malformed CUDA name was told to use the CPU when the name was the slip."""
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 2, "--device", device, "-o", tmp_path / "m.gif",
                 "--debug")
    assert result.exit_code == 2, result.stderr
    assert one_line_error(result) == (f"interp: error: --device {device}: not a device interp runs on "
                                      f"(choose auto, cpu, cuda, cuda:N or mps)")
    assert list(tmp_path.iterdir()) == []



def test_mps_on_a_machine_without_it_is_a_usage_error_that_offers_the_cpu(tmp_path):
    """`--device mps` is a device interp runs on, so the name passes; on a machine without MPS (Linux, an
    Intel Mac) the run stops before loading anything, one line naming the option, and the --device cpu it
    suggests runs."""
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has Apple MPS")
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 2, "--device", "mps", "-o", tmp_path / "m.gif",
                 "--debug")
    assert result.exit_code == 2, result.stderr
    assert one_line_error(result) == ("interp: error: --device mps: Apple MPS is not available on this machine "
                                      "(use --device cpu)")
    assert list(tmp_path.iterdir()) == []
    assert run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 2, "--device", "cpu", "-o",
               tmp_path / "m.gif").exit_code == 0


def test_the_help_lists_every_exit_code_the_readme_lists():
    """README's Scripting list has 129 (SIGHUP: a closed session) and `interp batch --help` says it, but
    `interp --help` and `interp morph --help` stopped at 0, 1, 2, 130, 141, 143."""
    import re

    readme = (ROOT / "README.md").read_text()
    listed = readme[readme.index("- Exit codes:"):readme.index("- A failure is one line")]
    codes = set(re.findall(r"`(\d+)`", listed))
    assert {"0", "1", "2", "129", "130", "141", "143"} <= codes
    for words in ([], ["morph"]):
        shown = " ".join(run(*words, "--help").output.split())
        said = shown[shown.index("Exit codes:"):]
        assert codes <= set(re.findall(r"\b(\d+) ", said)), said


def test_a_working_folder_removed_under_the_shell_is_refused_in_one_line(tmp_path):
    """`cd job; rm -rf ../job` (a cleaned scratch folder): torch's import died in there with "Intel oneMKL FATAL
    ERROR: Cannot load libtorch_cpu.so", exit 2, though every path given was absolute; relative outputs were refused
    as "its file system takes no new files". Now one line says what is wrong; --help still answers."""
    root = Path(__file__).resolve().parents[1]
    gone = tmp_path / "gone"
    env = dict(os.environ, PYTHONPATH=str(root), HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"))

    def in_a_removed_folder(*args):
        gone.mkdir()
        return subprocess.run([sys.executable, "-m", "interp_cli", *args], env=env, capture_output=True, text=True,
                              timeout=300, preexec_fn=lambda: (os.chdir(gone), os.rmdir(gone)))

    said = ("interp: error: the current folder no longer exists (it was removed after the shell entered it): cd to a "
            "folder that exists and run again")
    out = tmp_path / "out.gif"
    for args in ([A, B, "--weights", "demo", "-o", out], [A, B, "--weights", "demo", "-o", "out.gif", "--json"]):
        done = in_a_removed_folder(*args)
        assert (done.returncode, done.stderr.splitlines()) == (2, [said]), done.stderr
    assert json.loads(done.stdout)["exit_code"] == 2
    assert not out.exists()
    assert in_a_removed_folder("--help").returncode == 0


def _openmp_warnings(tmp_path: Path, **variable: str) -> list[str]:
    """The warnings of a morph run with `variable` set, once plain and once with --json: the same in both (on stderr,
    then in the JSON's "warnings", stderr empty), and no word of libgomp's or blank line of its either way."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), **variable)
    args = [sys.executable, "-m", "interp_cli", DEMO_A, DEMO_B, "--weights", "demo", "--steps", "3", "--size", "64",
            "--no-cache", "-o", str(tmp_path / "m.gif")]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    as_json = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == as_json.returncode == 0, (done.stderr, as_json.stderr)
    assert "libgomp" not in done.stderr + as_json.stderr and "\n\n" not in "\n" + done.stderr, done.stderr
    said = json.loads(as_json.stdout)["warnings"]
    assert [line for line in done.stderr.splitlines() if line.startswith("warning:")] == [f"warning: {w}" for w in said]
    assert as_json.stderr == ""
    return said


@pytest.mark.parametrize("threads", ["0", "abc", "-1", "1_0", "", "4,2", " 2 "])
def test_an_omp_num_threads_openmp_refuses_is_one_warning_in_interps_words_not_libgomps(tmp_path, threads):
    """OMP_NUM_THREADS=0, abc or -1 printed a blank line and "libgomp: Invalid value for environment variable
    OMP_NUM_THREADS" as torch loaded, in no words of interp's, outside --json's "warnings". The command now reads
    it before torch loads: a value OpenMP would refuse is said once, in the JSON's warnings under --json, and
    dropped (OpenMP's default, as libgomp would have used); a blank one is unset; one it takes is left alone."""
    said = (f"OMP_NUM_THREADS={threads!r} is not a number of threads (a whole number above 0"
            f"{', in the digits 0-9' if '_' in threads else ''}, e.g. 4); ignored, as OpenMP would ignore it: "
            "torch picks its own number")
    assert _openmp_warnings(tmp_path, OMP_NUM_THREADS=threads) == ([] if threads.strip() in ("", "4,2", "2")
                                                                   else [said])


@pytest.mark.parametrize("policy", ["bogus", "", " passive\t", "Active"])
def test_an_omp_wait_policy_openmp_refuses_is_one_warning_in_interps_words_not_libgomps(tmp_path, policy):
    """OMP_WAIT_POLICY=bogus (or a blank one) printed "libgomp: Invalid value for environment variable
    OMP_WAIT_POLICY" as torch loaded, outside --json's "warnings", and OpenMP's spinning default applied, not interp's
    PASSIVE. Now a value libgomp refuses is said once in interp's words and dropped, a blank one is unset, and one
    it takes (either word, any case, spaces around) is left alone."""
    said = ("OMP_WAIT_POLICY='bogus' is not ACTIVE or PASSIVE; ignored, as OpenMP would ignore it: interp's default, "
            "PASSIVE, applies")
    assert _openmp_warnings(tmp_path, OMP_WAIT_POLICY=policy) == ([said] if policy == "bogus" else [])



# --- what each verb requires, and its defaults as --help states them (the mutation pass, round eleven) ---------


@pytest.mark.parametrize("args, said", [
    (["morph"], "missing argument 'A B [C ...]'"),
    (["encode", A], "missing option '-o' / '--output'"),
    (["render", "a.npy"], "missing option '-o' / '--output'"),
    (["align", A], "missing option '-o' / '--output'"),
    (["mix", A, B], "missing option '-o' / '--output'"),
    (["batch", "pairs.csv"], "missing option '--outdir'"),
    (["weights", "remove"], "missing argument 'NAME'"),
])
def test_what_a_verb_requires_left_out_is_a_usage_error_naming_it_and_nothing_is_written(tmp_path, monkeypatch,
                                                                                         args, said):
    """--help marks these required; left out, each is one line naming what is missing, exit 2, before any work
    (`interp morph` with no photo, `interp render a.npy` with no -o, `interp batch pairs.csv` with no --outdir). Made
    optional, `interp morph` alone became an internal error (exit 1) and the others a failure further on."""
    monkeypatch.chdir(tmp_path)
    Path("pairs.csv").write_text(f"{A},{B},ab.gif\n")
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert one_line_error(result) == f"interp: error: {said}"
    assert result.stdout == "" and [p.name for p in tmp_path.iterdir()] == ["pairs.csv"]


def test_mix_with_random_noise_and_no_seed_draws_what_seed_0_draws_as_its_help_says(tmp_path):
    """`interp mix --help` says --seed defaults to 0: a mix with --noise random repeats with and without it, and
    another seed draws other noise (so the seed reaches the noise at all)."""
    shown = " ".join(run("mix", "--help").stdout.split())
    assert "--seed INTEGER Seed for --noise random. [default: 0]" in shown
    drawn = {}
    for name, seed in (("unset", ()), ("0", ("--seed", 0)), ("1", ("--seed", 1))):
        out = tmp_path / f"mix_{name}.png"
        result = run("mix", _A, _B, "--weights", "demo", "--no-align", "--noise", "random", *seed, "-o", out, "-q")
        assert result.exit_code == 0, result.stderr
        drawn[name] = np.asarray(Image.open(out))
    assert np.array_equal(drawn["unset"], drawn["0"])
    assert not np.array_equal(drawn["unset"], drawn["1"])


def test_three_photos_without_o_make_the_default_morph_mp4_not_the_forgotten_o_advice(tiny, tmp_path, monkeypatch):
    """`interp a.png b.png c.png` is a chain through three photos into morph.mp4 (-o's default): only a last word
    that names what only an output can be (a video, a page, a folder) is answered with the forgotten -o."""
    monkeypatch.chdir(tmp_path)
    result = run(A, B, A, "--weights", tiny, "--no-align", "--steps", 2, "-q")
    assert result.exit_code == 0, result.stderr
    assert len(list(iio.imiter(tmp_path / "morph.mp4"))) == 3  # 2 + 2 frames, the shared middle photo once
