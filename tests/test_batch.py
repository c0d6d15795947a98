"""`interp batch` as a job array runs it: shards in parallel processes, resume, signals, safe output names."""

from __future__ import annotations

import errno
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interp_cli.cli import cli
from interp_cli.shards import Shard, parse_shard
from interp_cli.options import MORPH_OPTION_NAMES, morph_settings
from tests.cli_runner import cli_runner
from tests.recipe import GOLDEN_DIR
from tests.test_stops import hangup_as_in_a_session

A = GOLDEN_DIR / "golden_input_A.png"
B = GOLDEN_DIR / "golden_input_B.png"


def interp(*args, env=None, **kwargs) -> subprocess.Popen:
    """A real `interp` process (the console entry point's code path)."""
    return subprocess.Popen([sys.executable, "-m", "interp_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def finish(child: subprocess.Popen, timeout: float = 120) -> tuple[int, list[dict], str]:
    out, err = child.communicate(timeout=timeout)
    return child.returncode, [json.loads(line) for line in out.splitlines()], err


def invoked(*args, monkeypatch, env=None, cwd=None) -> tuple[int, list[dict], str]:
    """`interp ARGS` run in this process, read as finish() reads a child: for tests about what a batch says and
    makes, where a fresh process adds only torch's import (the tests about processes, signals and imports keep
    theirs)."""
    if cwd is not None:
        monkeypatch.chdir(cwd)
    for name, value in (env or {}).items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    done = cli_runner().invoke(cli, [str(a) for a in args])
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception  # a child would have printed its traceback: never a quiet exit 1 here
    return done.exit_code, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def tree(root: Path) -> dict[str, int]:
    """Every file under root (hidden ones included) with its mtime in ns."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def hidden(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".*")]


@pytest.fixture(scope="module")
def tiny(tiny_ckpt):
    return str(tiny_ckpt)


@pytest.fixture
def env(tmp_path):
    """One shared, empty latent cache for the processes of a test."""
    return dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"))


# --- manifest, shards, names (no model) -------------------------------------------------------------


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1/0", "2", "-1/3", "1/3/5", ""])
def test_bad_shard_values_exit_2_with_one_line(value, tmp_path, monkeypatch):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n")
    code, _, err = invoked("batch", manifest, "--outdir", tmp_path / "out", "--shard", value, monkeypatch=monkeypatch)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("interp: error: ") and "--shard" in lines[0], err
    assert not (tmp_path / "out").exists()


def test_a_manifest_that_is_a_fifo_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "pairs.csv")  # nobody writes to it: opening it would hang
    code, _, err = finish(interp("batch", tmp_path / "pairs.csv", "--outdir", tmp_path / "out"), timeout=60)
    assert code == 2 and err.strip().splitlines() == [f"interp: error: {tmp_path / 'pairs.csv'}: is a FIFO "
                                                      "(named pipe), not a regular file"]


def test_batch_help_and_shard_errors_do_not_import_torch():
    code = ("import sys\nfrom interp_cli.cli import main\n"
            "for argv in (['batch', '--help'], ['batch', 'm.csv', '--outdir', 'o', '--shard', '0/3']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code in (0, 2), e.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_a_bad_manifest_is_refused_before_torch_is_loaded(tmp_path):
    """What makes the refusal instant for a job array's thousand tasks: no torch import first."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n{A},{B},X.gif\n")
    probe = ("import sys\nfrom interp_cli.cli import main\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit as done:\n    print(done.code, 'torch' in sys.modules)\n")
    for args in ([str(manifest)], [str(tmp_path / "missing.csv")], [str(manifest), "--shard", "4/3"]):
        done = subprocess.run([sys.executable, "-c", probe, "batch", *args, "--outdir", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=60)
        assert done.stdout.split() == ["2", "False"], (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("interp: error:"), done.stderr
    assert not (tmp_path / "out").exists()


_PROBE = ("import sys\nfrom interp_cli.cli import main\ntry:\n    main(sys.argv[1:])\n"
          "except SystemExit as done:\n    print(done.code, 'torch' in sys.modules)\n")


def _probed(args, cwd, env) -> tuple[int, bool, list[dict], str]:
    """`interp ARGS` run in a fresh process: its exit code, whether torch was imported, its JSON lines, stderr."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    *out, verdict = done.stdout.splitlines()
    code, torch_loaded = verdict.split()
    return int(code), torch_loaded == "True", [json.loads(line) for line in out], done.stderr


@pytest.mark.parametrize("shard", ["all made", "all refused", "empty", "one to make"])
def test_a_shard_with_nothing_to_make_never_imports_torch(tiny, tmp_path, env, shard):
    """A job array rerun with --skip-existing is mostly shards whose rows are made: each spent ~1.2 s of its
    ~1.3 s importing torch. Made rows, rows refused at planning or for a photo that is not there (a stat says
    so), and an empty shard (more tasks than rows) need no model; the JSON log is what it was. The last case
    shows the probe sees torch when a row does need it."""
    (tmp_path / "out").mkdir()
    (tmp_path / "folder.png").mkdir()
    rows = {"all made": [f"{A},{B},r1.gif", f"{B},{A},r2.gif", f"{A},{B},r3.gif"],
            "all refused": [f"missing.png,{B},r1.gif", f"{A},{B},noext", f"folder.png,{B},r3.gif", f"{A},{B},/abs.gif"],
            "empty": [f"{A},{B},r1.gif", f"{B},{A},r2.gif"],
            "one to make": [f"{A},{B},r1.gif", f"{B},{A},r2.gif"]}[shard]
    (tmp_path / "pairs.csv").write_text("".join(f"{row}\n" for row in rows))
    for name in {"all made": ["r1.gif", "r3.gif"], "one to make": ["r1.gif"]}.get(shard, []):
        (tmp_path / "out" / name).write_bytes(b"made before")
    part = {"all made": "1/2", "empty": "3/4"}.get(shard, "1/1")
    code, torch_loaded, lines, err = _probed(["batch", "pairs.csv", "--outdir", "out", "--shard", part,
                                              "--skip-existing", "--weights", tiny, "--no-align", "--steps", 2,
                                              "--json"], tmp_path, env)
    *rows_out, summary = lines
    assert torch_loaded == (shard == "one to make"), (code, lines, err)
    summary.pop("seconds")
    outcome = [(r["row"], r["ok"], r["skipped"], r.get("error"), r.get("exit_code")) for r in rows_out]
    if shard == "all made":
        assert (code, outcome) == (0, [(1, True, True, None, None), (3, True, True, None, None)]), err
        assert summary == {"summary": True, "shard": "1/2", "manifest": "pairs.csv", "rows": 2, "manifest_rows": 3,
                           "made": 0, "skipped": 2, "failed": 0, "warnings": []}
    elif shard == "all refused":
        assert code == 1 and [(r[0], r[1], r[4]) for r in outcome] == [(n, False, 2) for n in (1, 2, 3, 4)], err
        assert outcome[0][3] == "missing.png: no such file"
        assert outcome[1][3].startswith("output name 'noext': no file type")
        assert outcome[2][3] == "folder.png: is a directory, not an image"
        assert outcome[3][3] == "output name '/abs.gif' must be relative to --outdir"
        assert (summary["failed"], summary["made"]) == (4, 0) and err.count("failed: ") == 4
    elif shard == "empty":
        assert (code, outcome, err) == (0, [], "")
        assert summary == {"summary": True, "shard": "3/4", "manifest": "pairs.csv", "rows": 0, "manifest_rows": 2,
                           "made": 0, "skipped": 0, "failed": 0, "warnings": []}
    else:
        assert code == 0 and [(r[0], r[2]) for r in outcome] == [(1, True), (2, False)], err
    assert (tmp_path / "out" / "r1.gif").exists() == (shard in ("all made", "one to make"))


def test_a_row_naming_a_type_no_morph_writes_fails_under_skip_existing_too(tiny, tmp_path, env):
    """A row's output `notes.csv` or `codes.npy` is no morph's output: the row fails alone (exit 1), but under
    --skip-existing a file of that name in --outdir made the row "skipped, exists", exit 0, as if the rerun had
    nothing left to do (found by benchmarks/fuzz_options.py). It fails there too now, before any model, as
    without the flag; the folder v1.0 takes frames as `-o out/v1.0` does, and the rest is skipped as before."""
    (tmp_path / "out" / "v1.0").mkdir(parents=True)
    for name in ("notes.csv", "codes.npy", "ok.gif"):
        (tmp_path / "out" / name).write_bytes(b"there before")
    (tmp_path / "pairs.csv").write_text(f"{A},{B},notes.csv\n{B},{A},codes.npy\n{A},{B},ok.gif\n{B},{A},v1.0\n")
    code, torch_loaded, lines, err = _probed(["batch", "pairs.csv", "--outdir", "out", "--skip-existing",
                                              "--weights", tiny, "--no-align", "--steps", 2, "--json"], tmp_path, env)
    *rows, summary = lines
    said = "unsupported output type '{}' (a morph is written as .mp4, .gif, .html, a .png contact sheet, or PNG"
    assert (code, torch_loaded, [(r["ok"], r["skipped"], r.get("exit_code")) for r in rows]) == \
        (1, False, [(False, False, 2), (False, False, 2), (True, True, None), (True, True, None)]), (lines, err)
    assert rows[0]["error"].startswith("output name 'notes.csv': " + said.format(".csv")), rows[0]
    assert rows[1]["error"].startswith("output name 'codes.npy': " + said.format(".npy")), rows[1]
    assert "row 1 failed: pairs.csv:1: output name 'notes.csv': unsupported output type '.csv'" in err
    assert (summary["failed"], summary["skipped"]) == (2, 2)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*.*") if p.is_file()} == \
        dict.fromkeys(("notes.csv", "codes.npy", "ok.gif"), b"there before")


def test_manifests_joined_with_their_headers_fail_the_repeated_header_row_saying_so(tiny, tmp_path, env,
                                                                                   monkeypatch):
    """`cat mon.csv tue.csv > all.csv`: tue's header, mid-file, was a row failing as "output name 'output': no
    file type", which does not say why. It fails alone still, in the text line and the JSON "error", saying it
    repeats the header; the other rows go on (made already here: no model is needed)."""
    (tmp_path / "out").mkdir()
    for name in ("mon.gif", "tue.gif"):
        (tmp_path / "out" / name).write_bytes(b"made before")
    (tmp_path / "all.csv").write_text(f"input1,input2,output\n{A},{B},mon.gif\ninput1,input2,output\n{B},{A},tue.gif\n")
    code, lines, err = invoked("batch", "all.csv", "--outdir", "out", "--skip-existing", "--weights", tiny,
                               "--json", monkeypatch=monkeypatch, env=env, cwd=tmp_path)
    *rows, summary = lines
    said = "repeats the header line (line 1; manifests joined?): remove it"
    assert (code, [(r["row"], r["line"], r["ok"], r.get("error")) for r in rows]) == \
        (1, [(1, 2, True, None), (2, 3, False, said), (3, 4, True, None)]), (lines, err)
    assert err.splitlines() == [f"[2/3] row 2 failed: all.csv:3: {said}"]
    assert (summary["failed"], summary["skipped"]) == (1, 2)


def test_a_row_whose_output_or_sheet_is_a_folder_named_like_a_file_fails_before_any_model(tiny, tmp_path, env):
    """A folder `x.html` (or `y.mp4`, or the --sheets sheet `z.sheet.png`) where a row writes that file: the row
    failed with the morph's own line, but only once torch was imported and the model loaded for it (seconds on
    ffhq). Now it fails at its turn, as a read-only folder does, and a shard of only such rows needs no model."""
    for folder in ("x.html", "y.mp4", "z.sheet.png"):
        (tmp_path / "out" / folder).mkdir(parents=True)
    (tmp_path / "pairs.csv").write_text(f"{A},{B},x.html\n{B},{A},y.mp4\n{A},{B},z.gif\n")
    code, torch_loaded, lines, err = _probed(["batch", "pairs.csv", "--outdir", "out", "--sheets", "--weights", tiny,
                                              "--no-align", "--steps", 2, "--json"], tmp_path, env)
    *rows, summary = lines
    assert (code, torch_loaded, [(r["ok"], r.get("exit_code")) for r in rows]) == \
        (1, False, [(False, 2)] * 3), (lines, err)
    tail = "is a folder, but a {} output is a file; remove or rename the folder"
    assert rows[0]["error"].startswith("out/x.html: " + tail.format(".html")), rows[0]
    assert rows[1]["error"].startswith("out/y.mp4: " + tail.format(".mp4")), rows[1]
    assert rows[2]["error"] == "--sheet out/z.sheet.png: " + tail.format(".png"), rows[2]
    assert err.count("failed: ") == 3 and summary["failed"] == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.html", "y.mp4", "z.sheet.png"]
    assert not any((tmp_path / "out").rglob("*/*"))


def test_skip_existing_skips_a_row_only_for_what_it_makes_being_there(tiny, tmp_path, env):
    """--skip-existing took any path of the output's name for the row made: a folder `film.gif` (or a file `f`
    where the row makes frames into f/) skipped the row, exit 0, where without the flag the morph refuses it.
    Such a row fails now, as without the flag; a GIF and a frames folder that are there are skipped as before."""
    out = tmp_path / "out"
    for folder in ("film.gif", "frames"):
        (out / folder).mkdir(parents=True)
    for name in ("f", "ok.gif"):
        (out / name).write_bytes(b"there before")
    (tmp_path / "pairs.csv").write_text(f"{A},{B},film.gif\n{B},{A},f/\n{A},{B},ok.gif\n{B},{A},frames/\n")
    code, lines, err = finish(interp("batch", "pairs.csv", "--outdir", "out", "--skip-existing", "--weights", tiny,
                                     "--no-align", "--steps", 2, "--json", cwd=tmp_path, env=env))
    *rows, summary = lines
    assert (code, [(r["ok"], r["skipped"]) for r in rows]) == \
        (1, [(False, False), (False, False), (True, True), (True, True)]), (lines, err)
    assert "film.gif: is a folder, but a .gif output is a file" in rows[0]["error"], rows[0]
    assert "not a directory" in rows[1]["error"] or "exists" in rows[1]["error"], rows[1]
    assert (out / "f").read_bytes() == b"there before" and not any((out / "film.gif").iterdir())


def test_python_batch_with_nothing_to_make_imports_no_torch(tiny, tmp_path, env):
    """`interp_cli.batch.batch` from Python, as the CLI calls it: a finished shard costs no torch import."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},done.gif\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "done.gif").write_bytes(b"made before")
    code = ("import sys\nfrom interp_cli.batch import batch\n"
            f"summary = batch('pairs.csv', 'out', skip_existing=True, weights={tiny!r}, progress=False, steps=2)\n"
            "print(summary['skipped'], summary['made'], 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["1", "0", "False"], done.stderr


@pytest.mark.parametrize("how", ["--weights", "$INTERP_WEIGHTS"])
def test_weights_that_name_nothing_are_refused_even_with_nothing_to_make(tmp_path, env, how):
    """A typo in --weights (or $INTERP_WEIGHTS) on a rerun array: the tasks with rows left stopped with exit 2,
    those whose rows were all made exited 0, as if all was well. Now each says it, from the name alone."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},r1.gif\n{B},{A},r2.gif\n")
    (tmp_path / "out").mkdir()
    for name in ("r1.gif", "r2.gif"):
        (tmp_path / "out" / name).write_bytes(b"made before")
    args = ["batch", "pairs.csv", "--outdir", "out", "--skip-existing", "--json"]
    typo = dict(env, INTERP_WEIGHTS="dmeo") if how == "$INTERP_WEIGHTS" else env
    code, torch_loaded, lines, err = _probed([*args, *(["--weights", "dmeo"] if how == "--weights" else [])],
                                             tmp_path, typo)
    said = (f"unknown weights 'dmeo'{' (from $INTERP_WEIGHTS)' if how != '--weights' else ''}: not a file and not "
            f"a preset (presets: demo, ffhq); {'set it to' if how != '--weights' else 'pass'} a preset name, a "
            "checkpoint path, or a hub file owner/repo/path/in/repo.pt[@revision]")
    assert (code, torch_loaded, err) == (2, False, f"interp: error: {said}\n")
    assert len(lines) == 1 and lines[0].pop("seconds") >= 0
    assert lines[0] == {"summary": True, "shard": "1/1", "manifest": "pairs.csv", "rows": 2, "manifest_rows": 2,
                        "made": 0, "skipped": 0, "failed": 0, "error": said, "exit_code": 2, "path": None,
                        "warnings": []}
    # A hub file is only named, not looked up (offline here): it is fetched when a row needs it, as before.
    code, torch_loaded, lines, err = _probed([*args, "--weights", "someone/models/e4e.pt"], tmp_path, env)
    assert (code, torch_loaded, lines[-1]["skipped"]) == (0, False, 2), err


def test_batch_and_morph_share_every_morph_option():
    from interp_cli.pipeline import morph

    names = {c: {p.name for p in cli.commands[c].params} for c in ("morph", "batch")}
    assert MORPH_OPTION_NAMES <= names["morph"] and MORPH_OPTION_NAMES <= names["batch"]
    assert names["morph"] - MORPH_OPTION_NAMES == {"inputs", "output", "sheet", "quiet", "as_json"}
    # Every shared option is a keyword of pipeline.morph under its own name.
    assert MORPH_OPTION_NAMES <= set(inspect.signature(morph).parameters)
    assert {"steps", "size", "loop", "pingpong", "hold", "ease", "interp", "layers", "refine", "quality",
            "batch_size", "noise", "seed", "truncation"} <= MORPH_OPTION_NAMES
    assert morph_settings({"steps": 3, "quiet": True, "cache": False}) == {"steps": 3, "cache": False}
    # What `batch()` takes as morph options, known without the pipeline: morph's keywords less what a batch
    # decides itself (each row's inputs, output and sheet, its own session) or passes itself (log, progress).
    from interp_cli.batch import MORPH_KEYWORDS
    assert MORPH_KEYWORDS == set(inspect.signature(morph).parameters) - {"inputs", "output", "sheet", "session", "log",
                                                                          "progress"}


def test_a_morph_option_left_out_means_the_same_on_the_command_line_as_from_python():
    """`interp a.png b.png` and `morph(["a.png", "b.png"], out)` make the same morph (60 steps at 30 fps, quality 8,
    colour matched, truncation 1 ...): each option the command line leaves out is morph's keyword default."""
    from interp_cli.pipeline import morph

    keywords = inspect.signature(morph).parameters
    for command, args in (("morph", ["a.png", "b.png"]), ("batch", ["pairs.csv"])):
        given = cli.commands[command].make_context(command, args, resilient_parsing=True).params
        assert MORPH_OPTION_NAMES <= set(given)
        assert {name: given[name] for name in MORPH_OPTION_NAMES} == \
            {name: keywords[name].default for name in MORPH_OPTION_NAMES}, command


# --- real processes -----------------------------------------------------------------------------------


def test_three_shards_at_once_then_resume_makes_exactly_what_is_missing(tiny, tmp_path, env):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, source in (("a.png", A), ("b.png", B), ("only_done.png", A)):
        shutil.copy(source, inputs / name)
    rows = [("a.png", "b.png", "r1.gif"), ("b.png", "a.png", "sub/r2.gif"), ("a.png", "b.png", "r3/"),
            ("b.png", "a.png", "sub/deeper/r4.gif"), ("only_done.png", "b.png", "r5.gif"),
            ("a.png", "b.png", "a.png", "r6.gif"), ("b.png", "a.png", "r7.mp4")]
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("".join(",".join(f"in/{c}" for c in r[:-1]) + f",{r[-1]}\n" for r in rows))
    outdir = tmp_path / "out"
    common = ["--outdir", outdir, "--weights", tiny, "--no-align", "--steps", 3, "--json"]

    children = [interp("batch", manifest, "--shard", f"{k}/3", *common, env=env) for k in (1, 2, 3)]
    runs = [finish(child) for child in children]
    made = []
    for k, (code, lines, err) in enumerate(runs, 1):
        assert code == 0, err
        *results, summary = lines
        assert summary["summary"] and summary["shard"] == f"{k}/3" and summary["made"] == len(results)
        assert all(r["ok"] and not r["skipped"] for r in results)
        made += [r["row"] for r in results]
    assert sorted(made) == list(range(1, 8))  # every row by exactly one shard
    outputs = ["r1.gif", "sub/r2.gif", "r3", "sub/deeper/r4.gif", "r5.gif", "r6.gif", "r7.mp4"]
    assert all((outdir / o).exists() for o in outputs)
    assert len(list((outdir / "r3").iterdir())) == 3
    assert Image.open(outdir / "r6.gif").n_frames == 5  # three keyframes: 2 * (3 - 1) + 1
    assert hidden(outdir) == [] and list(Path(env["INTERP_CACHE_DIR"], "latents").glob("*.npy"))
    assert not [p for p in Path(env["INTERP_CACHE_DIR"]).rglob("*") if "tmp" in p.name]

    before = tree(outdir)
    (outdir / "sub/r2.gif").unlink()
    shutil.rmtree(outdir / "r3")
    (inputs / "only_done.png").unlink()  # a skipped row's inputs are never read
    time.sleep(0.01)
    code, lines, err = finish(interp("batch", manifest, *common, "--skip-existing", env=env))
    assert code == 0, err
    *results, summary = lines
    assert [r["row"] for r in results if not r["skipped"]] == [2, 3]
    assert all(r["ok"] for r in results) and summary["skipped"] == 5 and summary["made"] == 2
    after = tree(outdir)
    unchanged = {k: v for k, v in before.items() if not k.startswith(("sub/r2.gif", "r3"))}
    assert {k: after[k] for k in unchanged} == unchanged
    assert (outdir / "sub/r2.gif").exists() and len(list((outdir / "r3").iterdir())) == 3
    assert hidden(outdir) == []


def test_sigterm_mid_batch_leaves_no_partial_file_and_the_rerun_completes(tiny, tmp_path, env):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},first.gif\n{B},{A},long/second.gif\n{A},{B},third/\n")
    outdir = tmp_path / "out"
    # 256 px frames: the stop must land while row 2 is being written; with the tiny model's own 16 px, a row
    # took a fraction of a second, and a loaded machine let row 2 finish between its temp being seen and SIGKILL.
    args = ["batch", manifest, "--outdir", outdir, "--weights", tiny, "--no-align", "--steps", 100, "--size", 256,
            "--no-cache"]

    def stop_during_row_2(sig) -> tuple[int, str]:
        # The child is frozen (SIGSTOP) once row 2's temp is seen, and the stop sent only if row 2 is still being
        # written then: on a loaded machine this process could lose the CPU between seeing the temp and the kill
        # for as long as row 2 took, and the stop then found it made (a flaky failure, not the code's). A miss is
        # killed, its row 2 and 3 removed, and tried again.
        for _ in range(5):
            child = interp(*args, "--skip-existing", env=env)
            deadline = time.monotonic() + 120
            while not ((outdir / "first.gif").exists() and hidden(outdir / "long")):  # row 2 is being written
                assert child.poll() is None and time.monotonic() < deadline, child.communicate()
                time.sleep(0.02)
            child.send_signal(signal.SIGSTOP)
            if hidden(outdir / "long") and not (outdir / "long/second.gif").exists():
                child.send_signal(sig)  # a SIGTERM waits for the SIGCONT; a SIGKILL does not
                child.send_signal(signal.SIGCONT)
                code, _, err = finish(child)
                return code, err
            child.kill()
            finish(child)
            for made in [outdir / "long", outdir / "third", *map(Path, hidden(outdir))]:
                shutil.rmtree(made, ignore_errors=True) if made.is_dir() else made.unlink(missing_ok=True)
        pytest.fail("row 2 was made before every one of five stops")

    code, err = stop_during_row_2(signal.SIGTERM)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == "interp: terminated"
    # Row 2's temp is gone, and so is the folder long/ made for it (it stayed, empty, before).
    assert sorted(str(p.relative_to(outdir)) for p in outdir.rglob("*")) == ["first.gif"]
    first = (outdir / "first.gif").stat().st_mtime_ns

    # SIGKILL cannot be caught: its temporary stays (hidden, never under the output's name) ...
    code, err = stop_during_row_2(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert len(hidden(outdir / "long")) == 1 and not (outdir / "long/second.gif").exists()
    # ... until the rerun writes into that folder, which sweeps temporaries whose process is gone.
    code, lines, err = finish(interp(*args, "--skip-existing", "--json", env=env), timeout=300)
    assert code == 0, err
    assert [(r["row"], r["skipped"]) for r in lines[:-1]] == [(1, True), (2, False), (3, False)]
    assert (outdir / "first.gif").stat().st_mtime_ns == first
    assert Image.open(outdir / "long/second.gif").n_frames == 100 and len(list((outdir / "third").iterdir())) == 100
    assert hidden(outdir) == []


def test_names_escaping_outdir_write_nothing_outside(tiny, tmp_path, env, monkeypatch):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (outdir / "link").symlink_to(tmp_path / "elsewhere")
    shutil.copy(A, outdir / "a.png")
    victim = tmp_path / "victim.gif"
    victim.write_bytes(b"keep me")
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{B},{A},{victim}\n{B},{A},../victim.gif\n{B},{A},link/x.gif\n"
                        f"out/a.png,{B},a.png\n{B},{A},fine/ok.gif\n{B},{A},sub/../../escape/\n")
    outside = tree(tmp_path)
    code, lines, err = invoked("batch", manifest, "--outdir", outdir, "--weights", tiny, "--no-align",
                               "--steps", 2, "--json", env=env, monkeypatch=monkeypatch)
    assert code == 1, err
    *results, summary = lines
    assert [r["ok"] for r in results] == [False, False, False, False, True, False]
    assert all(r["exit_code"] == 2 and "\n" not in r["error"] for r in results if not r["ok"])
    assert "must be relative" in results[0]["error"] and "leads outside" in results[1]["error"]
    assert "leads outside" in results[2]["error"] and "overwrite its input a.png" in results[3]["error"]
    assert (summary["made"], summary["failed"]) == (1, 5)
    assert victim.read_bytes() == b"keep me" and (outdir / "a.png").read_bytes() == A.read_bytes()
    now = tree(tmp_path)
    assert {k: now.get(k) for k in outside} == outside
    assert sorted(k for k in set(now) - set(outside) if not k.startswith("cache/")) == ["out/fine/ok.gif"]


def test_duplicate_output_names_are_refused_before_any_work(tiny, tmp_path, env):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},one.gif\n{A},{B},two.gif\n# same file, other spelling:\n{B},{A},./one.gif\n")
    code, lines, err = finish(interp("batch", manifest, "--outdir", tmp_path / "out", "--weights", tiny,
                                     "--no-align", "--steps", 2, "--json", env=env))
    said = (f"{manifest}: duplicate output names: one.gif by rows 1 (line 1), 3 (line 4); give each row its own "
            "name")
    assert err.strip().splitlines() == [f"interp: error: {said}"]
    # The JSON log's last (and only) line is still its summary, saying the error: a script reads it as any other.
    assert code == 2 and lines == [{"summary": True, "error": said, "exit_code": 2, "path": str(manifest),
                                    "warnings": []}]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, said", [
    ('a.png,"b.png,m1.gif\n', "jobs/pairs.csv:1: not a readable CSV manifest (unexpected end of data; a quote left "
                                "open?)"),
    ("# nothing yet\n", "jobs/pairs.csv: no rows to process"),
    (b"a.png,b.png,caf\xe9.gif\n", "jobs/pairs.csv:1: not UTF-8"),
    ("a.png,b.png,m.gif\nb.png,a.png,M.gif\n", "jobs/pairs.csv: duplicate output names: m.gif and M.gif"),
    ("a.png,b.png,x.gif\n../out/x.gif,b.png,y.gif\n", "jobs/pairs.csv: "),
    ("input1,input2,tune,output\na.png,b.png,20,m.gif\n", "jobs/pairs.csv:2: column 3 'tune' holds '20', not an input"),
], ids=["quote", "empty", "cp1252", "duplicates", "crossed", "option column"])
def test_a_refused_manifest_is_the_json_failures_path_as_a_missing_one_is(tmp_path, env, monkeypatch, text, said):
    """`--json`'s "path" is the file at fault: a missing manifest was named there, one that could not be read or
    whose rows clash was not ("path": null), so a script could not tell a bad manifest from a bad option."""
    (tmp_path / "jobs").mkdir()
    manifest = tmp_path / "jobs" / "pairs.csv"
    manifest.write_bytes(text if isinstance(text, bytes) else text.encode())
    for name in ("missing.csv", "pairs.csv"):
        code, lines, err = invoked("batch", f"jobs/{name}", "--outdir", "out", "--weights", "demo", "--json",
                                   monkeypatch=monkeypatch, env=env, cwd=tmp_path)
        assert code == 2 and len(lines) == 1 and lines[0]["path"] == f"jobs/{name}", (err, lines)
        assert err.startswith("interp: error: " + (said if name == "pairs.csv" else "jobs/missing.csv: no such"))
    assert not (tmp_path / "out").exists()


def test_the_manifest_is_named_as_typed_in_its_errors_and_in_the_json_log(tmp_path, env, monkeypatch):
    """Two manifests called pairs.csv in different folders: each message named only "pairs.csv", which says
    neither which one nor where (a scheduler's log of many batches); now the name as typed."""
    for year in (2024, 2025):
        (tmp_path / "jobs" / str(year)).mkdir(parents=True)
    typed = os.path.join("jobs", "2025", "pairs.csv")
    (tmp_path / typed).write_text(f"{A},{B},one.gif\n{B},{A},one.gif\n")
    code, lines, err = invoked("batch", typed, "--outdir", "out", "--json", env=env, cwd=tmp_path,
                               monkeypatch=monkeypatch)
    assert code == 2 and [line["error"] for line in lines] == [f"{typed}: duplicate output names: one.gif by rows 1 "
                                                               "(line 1), 2 (line 2); give each row its own name"]
    assert err.strip().splitlines() == [f"interp: error: {typed}: duplicate output names: one.gif by rows 1 (line 1), "
                                        "2 (line 2); give each row its own name"]
    typed = os.path.join("jobs", "2024", "pairs.csv")
    (tmp_path / typed).write_text(f'{A},{B},x.gif\n{A},{B},"y.gif\n')
    code, lines, err = invoked("batch", typed, "--outdir", "out", "--json", env=env, cwd=tmp_path,
                               monkeypatch=monkeypatch)
    assert code == 2 and err.strip().splitlines() == [
        f"interp: error: {typed}:2: not a readable CSV manifest (unexpected end of data; a quote left open?)"]
    (tmp_path / typed).write_text(f"input1,input2,output,notes\n{A},{B},ab.gif,first try\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ab.gif").write_bytes(b"made before")
    code, lines, err = invoked("batch", typed, "--outdir", "out", "--skip-existing", "--json", env=env,
                               cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    assert lines[0]["warnings"] == [f"{typed}:1: column 4 'notes' not read: only the columns before the output "
                                    "column 'output' are inputs"]


def test_a_failed_rows_line_names_the_manifest_as_typed_and_its_line(tmp_path, env, monkeypatch):
    """Every other message about a manifest says where, as `jobs/2025/pairs.csv:12: ...`; a failed row's
    stderr line said only "row 2 failed: ..." (some reasons began "line 4: ", most named no line), so a
    scheduler's log of several batches did not say which manifest, nor which line, to fix. Now each failed
    row's line says both, whatever failed; its JSON line keeps "row", "line" and "error" (the reason alone)
    and adds "manifest", as the summary does."""
    typed = os.path.join("jobs", "2025", "pairs.csv")
    (tmp_path / "jobs" / "2025").mkdir(parents=True)
    (tmp_path / typed).write_text(f"# made by hand\ninput1,input2,output\n{A},{B},noext\n{A},gone.png,x.gif\n"
                                  f"{A},,\n")
    code, lines, err = invoked("batch", typed, "--outdir", "out", "--weights", "demo", "--json",
                               env=env, cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 1, err
    assert err.splitlines() == [
        f"[1/3] row 1 failed: {typed}:3: output name 'noext': no file type (a morph is written as .mp4, .gif, .html, "
        "a .png contact sheet, or PNG frames into a folder named with a trailing slash: noext/)",
        f"[2/3] row 2 failed: {typed}:4: {os.path.join('jobs', '2025', 'gone.png')}: no such file",
        f"[3/3] row 3 failed: {typed}:5: no output name (column 3, the header's output, is empty)"], err
    *rows, summary = lines
    assert [(r["row"], r["line"], r["manifest"], r["exit_code"]) for r in rows] == [
        (1, 3, typed, 2), (2, 4, typed, 2), (3, 5, typed, 2)]
    assert [r["error"] for r in rows] == [line.split(f"{typed}:{r['line']}: ", 1)[1] for line, r in
                                          zip(err.splitlines(), rows)]
    assert summary["manifest"] == typed and summary["failed"] == 3


def test_a_failed_rows_line_shows_control_characters_of_a_cell_as_escapes(tmp_path, env, monkeypatch):
    """Found by benchmarks/fuzz_inputs.py: a manifest cell's escape byte (`\x1b[2J` clears a terminal) went raw
    into the row's stderr line, where a manifest from elsewhere could drive the terminal; it is shown as `ls -b`
    shows it, as interp shows a written file's name (`names.line_text`). The JSON line keeps the name itself."""
    (tmp_path / "pairs.csv").write_text(f"{A},gone\x1b[2J.png,x.gif\n")
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "out", "--weights", "demo", "--json",
                               env=env, cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 1, err
    assert err.splitlines() == ["[1/1] row 1 failed: pairs.csv:1: gone\\x1b[2J.png: no such file"], err
    assert lines[0]["error"] == "gone\x1b[2J.png: no such file"


# --- every morph option, sheets, what a person sees --------------------------------------------------


def test_a_batch_row_equals_the_morph_with_the_same_options(tiny, tmp_path):
    options = ["--weights", tiny, "--no-align", "--steps", 4, "--loop", "--hold", 1, "--ease", "smooth",
               "--interp", "slerp", "--layers", "0-3", "--size", 24, "--noise", "random", "--seed", 3,
               "--truncation", 0.7, "--batch-size", 3, "-q"]
    c = tmp_path / "c.png"
    Image.fromarray(np.asarray(Image.open(A))[::-1].copy()).save(c)
    single = cli_runner().invoke(cli, [str(a) for a in (A, B, c, "-o", f"{tmp_path / 'single'}/", *options)])
    assert single.exit_code == 0, single.stderr
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},c.png,batch/\n")
    result = cli_runner().invoke(cli, [str(a) for a in ("batch", manifest, "--outdir", tmp_path / "out",
                                                        "--sheets", *options)])
    assert result.exit_code == 0, result.stderr
    mine = sorted((tmp_path / "out/batch").iterdir())
    theirs = sorted((tmp_path / "single").iterdir())
    assert len(mine) == len(theirs) == 3 * 3 + 3  # loop: K(steps-1) frames + K holds
    for a, b in zip(mine, theirs):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))), a.name
    assert Image.open(mine[0]).size == (24, 24)
    assert (tmp_path / "out/batch.sheet.png").exists()


def test_a_json_line_names_the_sheet_as_it_names_the_output(tiny, tmp_path, monkeypatch):
    """With a relative --outdir, --sheets' JSON lines said "output": "out/m1.gif" but "sheet":
    "/abs/path/out/m1.sheet.png": the sheet is now named the way the output is (and its errors are)."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},m1.gif\n{A},{B},sub/frames/\n")
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "out", "--weights", tiny, "--no-align",
                               "--steps", 2, "--sheets", "--json", monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 0, err
    assert lines[0]["output"] == os.path.join("out", "m1.gif")
    assert [line["sheet"] for line in lines[:2]] == [os.path.join("out", "m1.sheet.png"),
                                                     os.path.join("out", "sub", "frames.sheet.png")]
    assert all((tmp_path / line["sheet"]).is_file() for line in lines[:2])


def test_a_frames_folder_is_named_with_its_slash_by_batch_as_by_morph(tiny, tmp_path, monkeypatch):
    """`interp morph -o frames/ --json` says "output": "frames/"; a batch row `frames/` said "out/frames", the name of
    a file, and "wrote out/frames". One rule: a frames folder keeps the slash that makes it one, in the JSON line and
    the row's line, a name climbing out of a folder too (`sub/../up/`); --outdir's own slash is not doubled."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},frames/\n{A},{B},sub/../up/\n{A},{B},m.gif\n")
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "out/", "--weights", tiny, "--no-align", "--steps", 2,
                               "--json", monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 0, err
    sep = os.sep
    assert [line["output"] for line in lines[:3]] == [f"out{sep}frames{sep}", f"out{sep}up{sep}", f"out{sep}m.gif"]
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "out", "--weights", tiny, "--no-align", "--steps", 2,
                               monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 0 and f"row 1: wrote out{sep}frames{sep} (" in err and f"row 2: wrote out{sep}up{sep} (" in err, err
    code, lines, err = invoked(A, B, "-o", "single/", "--weights", tiny, "--no-align", "--steps", 2, "--json",
                               monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 0 and lines[0]["output"] == "single/", err


def test_a_name_climbing_out_of_a_folder_is_named_where_it_was_written_which_opens(tiny, tmp_path, monkeypatch):
    """A manifest name `sub/../m1.gif` was written to out/m1.gif, `sub` never made, yet its JSON line said "output":
    "out/sub/../m1.gif" (and "sheet" alike), a path that does not open. Each is named where it was written."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},sub/../m1.gif\n")
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "out", "--weights", tiny, "--no-align",
                               "--steps", 2, "--sheets", "--json", monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 0, err
    assert (lines[0]["output"], lines[0]["sheet"]) == (os.path.join("out", "m1.gif"),
                                                       os.path.join("out", "m1.sheet.png"))
    assert (tmp_path / lines[0]["output"]).is_file() and (tmp_path / lines[0]["sheet"]).is_file()
    assert sorted(os.listdir(tmp_path / "out")) == ["m1.gif", "m1.sheet.png"]

def test_progress_lines_and_summary_for_a_person(tiny, tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},one.gif\n{A},nope.png,two.gif\n{B},{A},three.gif\n")
    result = cli_runner().invoke(cli, [str(a) for a in ("batch", manifest, "--outdir", tmp_path / "out", "--weights",
                                                        tiny, "--no-align", "--steps", 2, "--shard", "1/1")])
    assert result.exit_code == 1 and result.stdout == ""
    # The tiny random model reproduces no photo well (likeness warnings); the outer progress bar's
    # last line (not a terminal) comes before the summary.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert lines.pop(-2).startswith("batch: 3/3 rows in ")
    assert lines[0].startswith("[1/3] row 1: wrote ") and lines[0].endswith("s)")
    assert lines[1].startswith("[2/3] row 2 failed: ") and "nope.png: no such file" in lines[1]
    assert lines[2].startswith("[3/3] row 3: wrote ")
    assert lines[3].startswith("shard 1/1: 2 made, 0 skipped, 1 failed (rows 2) of 3 rows in ")
    again = cli_runner().invoke(cli, [str(a) for a in ("batch", manifest, "--outdir", tmp_path / "out",
                                                       "--weights", "nothere.pt", "--skip-existing", "--shard", "2/2")])
    # Shard 2 of 2 is row 2 only: not made before, so it needs the model, and missing weights stop the batch.
    assert again.exit_code == 2 and "nothere.pt" in again.stderr and "row" not in again.stderr
    # All of shard 1 (rows 1 and 3) is there: the model is never loaded, yet weights that name no file are
    # still said (each task of an array gives one verdict on one command line), from a stat, not a load.
    done = cli_runner().invoke(cli, [str(a) for a in ("batch", manifest, "--outdir", tmp_path / "out",
                                                      "--weights", "nothere.pt", "--skip-existing", "--shard", "1/2")])
    assert done.exit_code == 2 and done.stderr == "interp: error: weights file not found: nothere.pt\n", done.stderr
    done = cli_runner().invoke(cli, [str(a) for a in ("batch", manifest, "--outdir", tmp_path / "out",
                                                      "--weights", tiny, "--skip-existing", "--shard", "1/2")])
    assert done.exit_code == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("shard 1/2: 0 made, 2 skipped, 0 failed of 2 rows")


# --- examples/: the job-array recipes run as written ---------------------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example_env(env, tiny):
    return dict(env, INTERP=f"{sys.executable} -m interp_cli", WEIGHTS=tiny, STEPS="2", EXTRA="--no-align")


def _pairs(tmp_path, n: int, duplicate: bool = False) -> Path:
    manifest = tmp_path / "pairs.csv"
    names = [f"m{i}.gif" for i in range(n)]
    if duplicate:
        names[-1] = names[0]
    manifest.write_text("".join(f"{A},{B},{name}\n" for name in names))
    return manifest


def test_slurm_array_script_runs_two_tasks_at_once(tiny, tmp_path, env):
    manifest = _pairs(tmp_path, 5)
    tasks = [subprocess.Popen(["bash", str(EXAMPLES / "slurm_array.sh"), str(manifest), "out"], cwd=tmp_path,
                              env=dict(_example_env(env, tiny), SLURM_ARRAY_TASK_ID=str(k), SLURM_ARRAY_TASK_MIN="0",
                                       SLURM_ARRAY_TASK_MAX="1", SLURM_ARRAY_TASK_COUNT="2"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    for task in tasks:
        out, err = task.communicate(timeout=120)
        assert task.returncode == 0, err
        assert "all rows made or already there" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"m{i}.gif" for i in range(5)]
    logs = {p.name: [json.loads(line) for line in p.read_text().splitlines()]
            for p in (tmp_path / "logs").glob("*.jsonl")}
    assert {name: [r["row"] for r in lines[:-1]] for name, lines in logs.items()} == {
        "interp-local_0-0.jsonl": [1, 3, 5], "interp-local_1-0.jsonl": [2, 4]}


@pytest.mark.skipif(shutil.which("parallel") is None, reason="GNU parallel is not installed")
def test_gnu_parallel_example_and_its_exit_codes(tiny, tmp_path, env):
    manifest = _pairs(tmp_path, 3)
    script = [str(EXAMPLES / "parallel.sh"), str(manifest), "out", "2"]
    done = subprocess.run(script, cwd=tmp_path, env=_example_env(env, tiny), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m0.gif", "m1.gif", "m2.gif"]
    assert "exit codes: 0" in done.stdout
    dup = tmp_path / "dup"
    dup.mkdir()
    refused = subprocess.run([str(EXAMPLES / "parallel.sh"), str(_pairs(dup, 3, duplicate=True)), "out", "1"],
                             cwd=dup, env=_example_env(env, tiny), capture_output=True, text=True)
    assert refused.returncode == 2 and "duplicate output names" in refused.stderr


@pytest.mark.skipif(shutil.which("parallel") is None, reason="GNU parallel is not installed")
def test_gnu_parallel_example_after_ctrl_c_and_with_fewer_workers(tiny, tmp_path, env):
    """Ctrl-C reaches the foreground group (script, parallel; parallel then stops its workers with a
    TERM): no temp is left, the script counts workers (parallel's own 255 is not a count) and exits 130;
    a rerun with fewer workers finishes, and only its own shard logs are left for the glob it names."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("".join(f"{A},{B},m{i}.mp4\n" for i in range(4)))
    logs = tmp_path / "logs" / "parallel"
    script = [str(EXAMPLES / "parallel.sh"), str(manifest), "out", "3"]
    slow = dict(_example_env(env, tiny), STEPS="3000", EXTRA="--no-align --size 256")  # rows of many seconds
    child = subprocess.Popen(script, cwd=tmp_path, env=slow, start_new_session=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    out = tmp_path / "out"
    deadline = time.monotonic() + 120  # only against a hang: nothing here is timed
    # Each worker's own row mid-write (its MP4's temp). Three hidden files were the three rows' claims (made before
    # the model loads: the Ctrl-C came before any row was being written), or under load one worker's claim and
    # temp beside a second's claim, before parallel had started the third worker: the likeliest cause of the one
    # failure seen under load 11 (not reproduced at load 10).
    while not (out.is_dir() and all(list(out.glob(f".m{i}.tmp-*")) for i in range(3))):
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert "stopped: 3 of 3 worker(s) did not finish" in stderr and "255" not in stderr
    # No temp. The --outdir, made for rows none of which was made, is gone if the worker that made it was the last
    # to leave it; one stopped while the others still had temps there could not remove it (only while empty).
    assert (not out.exists() or os.listdir(out) == []) and sorted(p.name for p in logs.glob("shard-*.jsonl")) == [
        "shard-1.jsonl", "shard-2.jsonl", "shard-3.jsonl"]

    done = subprocess.run([*script[:2], "out", "2"], cwd=tmp_path, env=_example_env(env, tiny), capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == [f"m{i}.mp4" for i in range(4)]
    assert sorted(p.name for p in logs.glob("shard-*.jsonl")) == ["shard-1.jsonl", "shard-2.jsonl"]


def test_kubernetes_example_is_an_indexed_job_whose_shard_count_matches():
    yaml = pytest.importorskip("yaml")
    job = yaml.safe_load((EXAMPLES / "k8s-indexed-job.yaml").read_text())
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    command = spec["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["interp", "batch"] and "--skip-existing" in command
    assert f"--shard=auto/{spec['completions']}" in command
    assert {"action": "FailJob", "onExitCodes": {"containerName": "interp", "operator": "In", "values": [2]}} \
        in spec["podFailurePolicy"]["rules"]
    assert parse_shard("auto/8", {"JOB_COMPLETION_INDEX": "7"}) == Shard(8, 8)


# --- hostile rows: each fails alone, with its JSON line, and the rest of the manifest runs ---------------


def test_hostile_rows_fail_alone_and_the_rest_of_the_manifest_runs(tiny, tmp_path, env, monkeypatch):
    from tests.test_npy import huge_header

    huge = huge_header(tmp_path / "huge.npy")
    (tmp_path / "photo.npy").write_bytes(A.read_bytes())  # a PNG renamed .npy
    (tmp_path / "loop1.png").symlink_to("loop2.png")
    (tmp_path / "loop2.png").symlink_to("loop1.png")
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a_file").write_bytes(b"x")
    long_name = "é" * 130 + ".gif"  # 264 bytes: more than any name a file system takes
    rows = {  # output name -> (inputs, what its error must say; None: the row is made)
        "huge.gif": ([A, huge], "huge.npy: code has shape [100000000000, 512]"),
        "loop.gif": ([A, "loop1.png"], "loop1.png: cannot be resolved (a symlink loop)"),
        "nul\0out.gif": ([A, B], "'nul\\x00out.gif': holds a NUL byte"),
        "nul_in.gif": ([f"{A}\0", B], f"'{A}\\x00': holds a NUL byte"),
        long_name: ([A, B], "is 264 bytes; the most this file system allows here is"),
        "renamed.gif": ([A, "photo.npy"], "photo.npy: not a .npy code file (no .npy header"),
        "folder.gif": ([A, "folder.png"], "folder.png: is a directory"),
        "pipe.gif": ([A, "pipe.png"], "pipe.png: is a FIFO"),
        # A file where the row puts a folder: named as the JSON line names its output, as `interp morph -o` says it
        # (it said "/abs/out/a_file: cannot create the folder (File exists)", and "(Not a directory)" below it).
        "a_file/x.gif": ([A, B], f"{tmp_path}/out/a_file/x.gif: '{tmp_path}/out/a_file' is not a directory"),
        "a_file/sub/y.gif": ([A, B], f"{tmp_path}/out/a_file/sub/y.gif: '{tmp_path}/out/a_file' is not a directory"),
        "short.gif": ([A], "need at least two inputs and an output name"),
        "huge_cell.gif": ([A, "x" * 200_000], "cannot read (File name too long)"),  # over csv's field limit
        "no_type": ([A, B], "output name 'no_type': no file type (a morph is written as .mp4"),  # as -o out/m2
        "new/sub/ok.gif": ([A, B], None),
        "ok.gif": ([B, A], None),
    }
    manifest = tmp_path / "pairs.csv"
    # Excel's "CSV UTF-8": a byte-order mark, and no header row.
    manifest.write_bytes(b"\xef\xbb\xbf" + "".join(",".join(map(str, [*inputs, name])) + "\n"
                                                   for name, (inputs, _) in rows.items()).encode())
    code, lines, err = invoked("batch", manifest, "--outdir", tmp_path / "out", "--weights", tiny,
                               "--no-align", "--steps", "2", "--json", "--debug", env=env, monkeypatch=monkeypatch)
    assert code == 1 and "Traceback" not in err and "internal error" not in err
    summary = lines.pop()
    assert [line["ok"] for line in lines] == [fragment is None for _, fragment in rows.values()], lines
    assert summary["summary"] and (summary["made"], summary["failed"]) == (2, len(rows) - 2)
    assert [line["row"] for line in lines] == list(range(1, len(rows) + 1))
    for line, (_, fragment) in zip(lines, rows.values()):
        assert line["ok"] is (fragment is None), line
        if fragment is not None:
            assert fragment in line["error"] and "\n" not in line["error"], line["error"]
            assert line["exit_code"] in (1, 2)
    assert sorted(tree(tmp_path / "out")) == ["a_file", "new/sub/ok.gif", "ok.gif"]
    assert not hidden(tmp_path / "out")


def test_kubernetes_example_validates_against_every_version_it_claims():
    """The schemas of each Kubernetes version from 1.29 (backoffLimitPerIndex) on, strict: no field
    unknown to that version. kubernetes-validate bundles them, so this runs offline."""
    yaml = pytest.importorskip("yaml")
    kubernetes_validate = pytest.importorskip("kubernetes_validate.utils")
    job = yaml.safe_load((EXAMPLES / "k8s-indexed-job.yaml").read_text())
    versions = sorted({v for v in kubernetes_validate.all_versions()
                       if tuple(map(int, v.split(".")[:2])) >= (1, 29)}, key=lambda v: tuple(map(int, v.split("."))))
    assert versions[0] == "1.29.0" and len(versions) >= 9  # 1.29 ... 1.37 at least
    for version in versions:
        kubernetes_validate.validate(job, version, strict=True)  # raises ValidationError naming the field


@pytest.mark.parametrize("outdir, fragment", [("d" * 300 + "/out", "is 300 bytes"), ("loop", "a symlink loop")])
def test_an_outdir_that_cannot_be_used_is_one_line_exit_2(tmp_path, outdir, fragment, monkeypatch):
    (tmp_path / "loop").symlink_to("loop")
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n")
    code, _, err = invoked("batch", manifest, "--outdir", outdir, "--debug", cwd=tmp_path, monkeypatch=monkeypatch)
    assert code == 2 and err.strip().splitlines() == [err.strip()] and fragment in err, err


def test_an_outdir_that_cannot_be_created_is_refused_before_torch_is_loaded(tmp_path):
    """A parent that is a file: the same line, exit code and JSON summary as when the pipeline found it,
    only without a second of torch's import first (in every task of an array)."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n")
    (tmp_path / "afile").write_bytes(b"x")
    outdir = tmp_path / "afile" / "out"
    probe = ("import sys\nfrom interp_cli.cli import main\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit as done:\n    print(done.code, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe, "batch", str(manifest), "--outdir", str(outdir), "--json",
                           "--debug"], capture_output=True, text=True, timeout=60)
    *log, verdict = done.stdout.splitlines()
    assert verdict.split() == ["2", "False"], (done.stdout, done.stderr)
    line = f"--outdir {outdir}: cannot create it (Not a directory)"
    assert done.stderr.strip().splitlines() == [f"interp: error: {line}"]
    assert [json.loads(text) for text in log] == [{**json.loads(log[0]), "summary": True, "error": line,
                                                   "exit_code": 2, "rows": 1, "manifest_rows": 1, "made": 0,
                                                   "skipped": 0, "failed": 0}]
    assert (tmp_path / "afile").read_bytes() == b"x"

def test_a_header_with_a_notes_column_is_read_and_its_warning_reaches_the_json_log(tmp_path, env, monkeypatch):
    """Each row's note was its output name (and the header a failed row); now the note is dropped and said once."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"input1,input2,output,notes\n{A},{B},ab.gif,first try\n{B},{A},ba.gif,\n")
    (tmp_path / "out").mkdir()
    for name in ("ab.gif", "ba.gif"):
        (tmp_path / "out" / name).write_bytes(b"made before")
    code, lines, err = invoked("batch", manifest, "--outdir", tmp_path / "out", "--skip-existing", "--json",
                               env=env, monkeypatch=monkeypatch)
    assert code == 0, err
    *rows, summary = lines
    assert [(r["row"], r["line"], r["skipped"], r["output"]) for r in rows] == [
        (1, 2, True, str(tmp_path / "out" / "ab.gif")), (2, 3, True, str(tmp_path / "out" / "ba.gif"))]
    assert rows[0]["warnings"] == [f"{manifest}:1: column 4 'notes' not read: only the columns before the output "
                                   "column 'output' are inputs"]
    assert rows[1]["warnings"] == [] and summary["manifest_rows"] == 2

# --- a batch cut short: the JSON log still ends with a summary line -------------------------------------


@pytest.mark.parametrize("made_before", [False, True])
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_before_the_first_row_still_ends_the_json_log_with_a_summary(tiny, tmp_path, env, sig, code,
                                                                            made_before):
    """Stopped at start-up (here while torch is imported; the manifest being read is the same): the log used
    to be empty, so a script reading its last line found no summary and no `"stopped": true`. The batch itself
    imports torch now, once it has found a row to make (here the second, with the first made before): the
    stop still leaves the folders as they were, with no temp."""
    from tests.test_stops import HeldInterp

    manifest = _pairs(tmp_path, 3)
    if made_before:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "m0.gif").write_bytes(b"made before")
    held = HeldInterp(["batch", manifest, "--outdir", tmp_path / "out", "--weights", tiny, "--no-align",
                       "--steps", 2, "--json", *(["--skip-existing"] if made_before else [])], tmp_path, env)
    held.reach("importing")
    held.child.send_signal(sig)
    held.release("importing")  # never reached: the signal ends the import
    returncode, out, err = held.finish()
    assert returncode == code, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 1 and lines[0].pop("seconds") >= 0, out
    assert lines[0] == {"summary": True, "stopped": True, "shard": "1/1", "manifest": str(manifest), "rows": 3,
                        "manifest_rows": 3, "made": 0, "skipped": 0, "failed": 0, "warnings": []}
    assert "Traceback" not in err
    if made_before:
        assert os.listdir(tmp_path / "out") == ["m0.gif"] and (tmp_path / "out/m0.gif").read_bytes() == b"made before"
    else:
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("weights, device, fragment, code", [
    ("bad.pt", "cpu", "bad.pt: not a readable PyTorch checkpoint", 1),
    ("TINY", "cuda", "--device cuda: ", 2),  # the rest depends on the torch build (test_render.py)
])
def test_a_fatal_error_after_some_rows_ends_the_json_log_with_a_summary_that_carries_it(
        tiny, tmp_path, env, weights, device, fragment, code):
    """Unusable weights (or device) stop the whole batch once a row needs the model. The log used to end
    with the rows before it, so `tail -n 1` found a row and the recipes said "some rows failed"."""
    if device == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    (tmp_path / "bad.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},done.gif\n{A},{B},new.gif\n{B},{A},later.gif\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/done.gif").write_bytes(b"made by an earlier run")
    code_, lines, err = finish(interp("batch", manifest, "--outdir", tmp_path / "out", "--skip-existing", "--json",
                                      "--weights", tiny if weights == "TINY" else weights, "--device", device,
                                      "--no-align", "--steps", 2, env=env, cwd=tmp_path))
    assert code_ == code, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("interp: error: ") and fragment in err, err
    row, summary = lines
    assert (row["row"], row["skipped"]) == (1, True)
    assert summary.pop("seconds") >= 0
    assert summary == {"summary": True, "shard": "1/1", "manifest": str(manifest), "rows": 3, "manifest_rows": 3,
                       "made": 0, "skipped": 1, "failed": 0, "error": err.strip()[len("interp: error: "):],
                       "exit_code": code, "path": "bad.pt" if weights == "bad.pt" else None, "warnings": []}
    assert sorted(os.listdir(tmp_path / "out")) == ["done.gif"]


def test_the_slurm_recipe_counts_a_tasks_failed_rows_in_its_out_file(tiny, tmp_path, env):
    """A task whose rows failed said only "some rows failed" in its .out: of 1,000 rows, two or all of them, the
    user had to open the .jsonl to know. It says how many now, of this task's rows, from the summary."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},m1.gif\nmissing.png,{B},m2.gif\n{B},{A},m3.gif\n")
    task = subprocess.run(["bash", str(EXAMPLES / "slurm_array.sh"), str(manifest), "out"], cwd=tmp_path,
                          env=dict(_example_env(env, tiny), SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_MIN="1",
                                   SLURM_ARRAY_TASK_MAX="1", SLURM_ARRAY_TASK_COUNT="1"),
                          capture_output=True, text=True, timeout=120)
    assert task.returncode == 1, task.stderr
    assert task.stdout.strip().splitlines()[-1] == (
        'task 1: 1 of 3 rows failed; their reasons are the "error" fields in logs/interp-local_1-0.jsonl. Fix them '
        "and resubmit the same array: finished rows are skipped.")
    assert sorted(os.listdir(tmp_path / "out")) == ["m1.gif", "m3.gif"]


@pytest.mark.skipif(shutil.which("parallel") is None, reason="GNU parallel is not installed")
def test_the_parallel_recipe_counts_failed_rows_not_workers(tiny, tmp_path, env):
    """One missing photo among five rows on two workers ended with "1 of 2 worker(s) did not finish cleanly",
    which reads as half the work lost; the workers' summaries say how many rows failed, and now so does the recipe."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},m1.gif\n{B},{A},m2.gif\nmissing.png,{B},m3.gif\n{A},{B},m4.gif\n{B},{A},m5.gif\n")
    done = subprocess.run([str(EXAMPLES / "parallel.sh"), str(manifest), "out", "2"], cwd=tmp_path,
                          env=_example_env(env, tiny), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        '1 of 5 rows failed; their reasons are the "error" fields in logs/parallel/shard-*.jsonl. Fix them and run '
        "this again; finished rows are skipped")
    assert sorted(os.listdir(tmp_path / "out")) == ["m1.gif", "m2.gif", "m4.gif", "m5.gif"]


def test_the_recipes_say_their_own_word_for_interps_weights_advice(tiny, tmp_path, env):
    """With no WEIGHTS on an offline node, interp's advice is "pass `--weights /path/...`" or "`--weights demo`",
    which neither sbatch nor parallel.sh takes: the recipes add how they are given the weights (WEIGHTS)."""
    manifest = _pairs(tmp_path, 2)
    offline = {k: v for k, v in _example_env(env, tiny).items() if k not in ("WEIGHTS", "INTERP_WEIGHTS")}
    offline["HF_HOME"] = str(tmp_path / "hf")  # an empty Hugging Face cache: ffhq is not there
    task = subprocess.run(["bash", str(EXAMPLES / "slurm_array.sh"), str(manifest), "out"], cwd=tmp_path,
                          env=dict(offline, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_MIN="1",
                                   SLURM_ARRAY_TASK_MAX="1", SLURM_ARRAY_TASK_COUNT="1"),
                          capture_output=True, text=True, timeout=120)
    said = task.stdout.strip().splitlines()[-1]
    assert task.returncode == 1 and "pass `--weights demo`" in said, task.stderr
    assert said.endswith("(this script passes --weights $WEIGHTS: submit with --export=ALL,WEIGHTS=PATH, or "
                         "WEIGHTS=demo). Fix it and resubmit the same array: finished rows are skipped.")
    assert not (tmp_path / "out").exists()
    if shutil.which("parallel") is not None:
        done = subprocess.run([str(EXAMPLES / "parallel.sh"), str(manifest), "out", "2"], cwd=tmp_path, env=offline,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "pass `--weights demo`" in done.stderr, done.stderr
        assert done.stderr.strip().splitlines()[-1].endswith(
            "finished rows are skipped (this script passes --weights $WEIGHTS: run it with WEIGHTS=PATH, or "
            "WEIGHTS=demo, before it)")


def test_the_recipes_tell_an_error_that_stopped_the_batch_from_failed_rows(tiny, tmp_path, env):
    """Unusable weights stop a worker once a row needs the model (exit 1, as a failed row does): the recipes
    read the summary's "error" and say so, where they used to send the user looking for failed rows."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},done.gif\n{A},{B},new.gif\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/done.gif").write_bytes(b"made by an earlier run")
    (tmp_path / "bad.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    broken = dict(_example_env(env, tiny), WEIGHTS=str(tmp_path / "bad.pt"))

    task = subprocess.run(["bash", str(EXAMPLES / "slurm_array.sh"), str(manifest), "out"], cwd=tmp_path,
                          env=dict(broken, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_MIN="1",
                                   SLURM_ARRAY_TASK_MAX="1", SLURM_ARRAY_TASK_COUNT="1"),
                          capture_output=True, text=True, timeout=120)
    assert task.returncode == 1, task.stderr
    said = task.stdout.strip().splitlines()[-1]
    assert said.startswith("task 1: stopped by an error before its last row: interp: error: ") and "bad.pt" in said
    assert "some rows failed" not in task.stdout
    *rows, summary = [json.loads(line) for line in (tmp_path / "logs/interp-local_1-0.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in rows] == [True] and "bad.pt" in summary["error"]

    if shutil.which("parallel") is not None:
        done = subprocess.run([str(EXAMPLES / "parallel.sh"), str(manifest), "out", "2"], cwd=tmp_path, env=broken,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert "1 of 2 worker(s) stopped by an error" in done.stderr and "bad.pt" in done.stderr
        assert "fix the failed rows" not in done.stderr


@pytest.mark.parametrize("flags", [["--quiet"], ["--quiet", "--json"]])
def test_quiet_silences_progress_but_not_failed_rows(tiny, tmp_path, env, flags, monkeypatch):
    """`--quiet` is "only errors": a batch with bad rows used to exit 1 with nothing at all on stderr."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},one.gif\n{A},nope.png,two.gif\n{B},{A},../three.gif\n")
    code, lines, err = invoked("batch", manifest, "--outdir", tmp_path / "out", "--weights", tiny,
                               "--no-align", "--steps", 2, *flags, env=env, monkeypatch=monkeypatch)
    assert code == 1
    said = err.strip().splitlines()
    assert said[:2] == [f"[2/3] row 2 failed: {manifest}:2: {tmp_path / 'nope.png'}: no such file",
                        f"[3/3] row 3 failed: {manifest}:3: output name '../three.gif' leads outside --outdir"], err
    if "--json" in flags:  # the count is the JSON summary's
        assert len(said) == 2 and lines[-1]["failed"] == 2
    else:
        assert len(said) == 3 and said[2].startswith("shard 1/1: 1 made, 0 skipped, 2 failed (rows 2, 3) of 3 rows in ")
    assert (tmp_path / "out/one.gif").exists()


@pytest.mark.skipif(shutil.which("parallel") is None, reason="GNU parallel is not installed")
def test_gnu_parallel_example_takes_any_path(tiny, tmp_path, env):
    """parallel hands its command to a shell as text: a manifest "my pairs.csv" used to arrive as two arguments
    (exit 2), a quote ended the shell's input early, and a $(...) in a name would have run."""
    odd = tmp_path / "it's \"odd\" $(touch ran)"
    odd.mkdir()
    manifest = odd / "my pairs.csv"
    _pairs(tmp_path, 3).rename(manifest)
    weights = odd / "tiny model's.pt"
    shutil.copy(tiny, weights)
    script = [str(EXAMPLES / "parallel.sh"), str(manifest), "out dir 'x'/", "2"]
    done = subprocess.run(script, cwd=odd, env=dict(_example_env(env, str(weights)), LOGS=str(odd / "logs $(x)")),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(odd / "out dir 'x'")) == ["m0.gif", "m1.gif", "m2.gif"]
    summaries = [json.loads((odd / f"logs $(x)/shard-{k}.jsonl").read_text().splitlines()[-1]) for k in (1, 2)]
    assert [(s["shard"], s["made"]) for s in summaries] == [("1/2", 2), ("2/2", 1)]
    assert not list(tmp_path.rglob("ran")) and "exit codes: 0" in done.stdout


def test_keep_results_false_keeps_only_each_rows_outcome_and_on_row_gets_the_whole(tmp_path):
    """The CLI kept every row's whole result (2.8 KB a row, the morph summary) to the end, to name the failed rows:
    `keep_results=False` keeps each row's number and outcome only, and the CLI passes it (its JSON lines come from
    `on_row`, which still gets each whole result). The counts and the failed rows' numbers are unchanged."""
    from interp_cli.pipeline import batch

    (tmp_path / "m.csv").write_text(f"{A},{B},x.gif\n{A},missing.png,y.gif\n")
    seen = []
    summary = batch(tmp_path / "m.csv", tmp_path / "out", weights="demo", steps=2, log=lambda line: None,
                    on_row=seen.append, keep_results=False)
    assert summary["results"] == [{"row": 1, "ok": True, "skipped": False}, {"row": 2, "ok": False, "skipped": False}]
    assert (summary["made"], summary["failed"]) == (1, 1)
    assert seen[0]["frames"] == 2 and seen[1]["error"].endswith("missing.png: no such file")
    with pytest.raises(Exception, match="keep_results"):
        batch(tmp_path / "m.csv", tmp_path / "out", weights="demo", keep_results="no")


def test_a_python_batch_run_again_makes_its_rows_again_unless_told_to_skip_what_exists(tmp_path, capfd):
    """`batch()` from Python, as `interp batch` without --skip-existing or --sheets: a second run over the same
    --outdir makes the row again (a changed photo or option is not ignored), with no contact sheet beside it and no
    progress bar on stderr (a `progress=True` run ends on a "batch: 1/1 rows" line); with `skip_existing=True` it
    is skipped."""
    from interp_cli.pipeline import batch

    (tmp_path / "m.csv").write_text(f"{A},{B},x.gif\n")
    quiet = {"weights": "demo", "steps": 2, "log": lambda line: None}
    first = batch(tmp_path / "m.csv", tmp_path / "out", **quiet)
    (tmp_path / "out" / "x.gif").write_bytes(b"an older run's file")
    again = batch(tmp_path / "m.csv", tmp_path / "out", **quiet)
    assert [(s["made"], s["skipped"]) for s in (first, again)] == [(1, 0), (1, 0)]
    assert (tmp_path / "out" / "x.gif").read_bytes()[:6] == b"GIF89a"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["x.gif"]  # no contact sheet unasked
    skipped = batch(tmp_path / "m.csv", tmp_path / "out", skip_existing=True, **quiet)
    assert (skipped["made"], skipped["skipped"]) == (0, 1)
    assert capfd.readouterr().err == ""


def test_python_batch_refuses_a_misspelt_option_before_any_work(tmp_path):
    from interp_cli.pipeline import batch

    (tmp_path / "m.csv").write_text(f"{A},{B},x.gif\n")
    with pytest.raises(TypeError, match="unexpected keyword argument 'stpes'"):
        batch(tmp_path / "m.csv", tmp_path / "out", weights="demo", stpes=4)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, said", [
    (["--steps", "600000", "--hold", "600000"], "--steps 600000 --hold 600000 would make 1,800,000 frames; a morph "
                                                "has at most 1,000,000 (fewer --steps or --hold)"),
    (["--steps", "700000", "--loop"], "--steps 700000 would make 1,399,998 frames; a morph has at most 1,000,000 "
                                      "(fewer --steps or --hold)"),
])
def test_command_line_frame_counts_no_row_can_make_are_refused_once_before_the_rows(tmp_path, args, said):
    """`interp batch rows.csv --steps 600000 --hold 600000` failed every row alike, one line each, after the
    model had loaded (exit 1): the values are the command line's, not a row's. Now one usage error (exit 2), no
    row run and no --outdir made; a row that is bad on its own still fails alone (the hostile rows above)."""
    (tmp_path / "m.csv").write_text(f"{A},{B},x.gif\n{B},{A},y.gif\n")
    result = cli_runner().invoke(cli, [str(a) for a in ("batch", tmp_path / "m.csv", "--outdir", tmp_path / "out",
                                                        "--weights", "demo", *args)])
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"interp: error: {said}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


@pytest.mark.parametrize("keywords, said", [
    ({"steps": 1}, "steps must be at least 2 (got 1): a transition shows both of its ends"),
    ({"hold": 0.5}, "hold must be a whole number (got 0.5)"),
    ({"fps": 0}, "fps must be between 0.1 and 240 (got 0)"),
    ({"quality": 11}, "quality must be between 0 and 10 (got 11)"),
    ({"truncation": float("nan")}, "truncation must be a finite number (got nan)"),
    ({"size": 4}, "size must be between 8 and 4096 (got 4)"),
    ({"seed": "1"}, "seed must be a whole number (got '1')"),
    ({"ease": "fast"}, 'ease="fast": choose one of linear, smooth, cosine, cubic'),
])
def test_python_batch_refuses_a_number_no_row_can_take_once_before_any_work(tmp_path, keywords, said):
    """batch(..., steps=1) failed each row with the same UsageError after the model loaded, the caller got a
    summary of failed rows to pick apart; now the UsageError is raised once, before any row or --outdir."""
    from interp_cli.errors import UsageError
    from interp_cli.pipeline import batch

    (tmp_path / "m.csv").write_text(f"{A},{B},x.gif\n{B},{A},y.gif\n")
    with pytest.raises(UsageError) as caught:
        batch(tmp_path / "m.csv", tmp_path / "out", weights="demo", log=lambda line: None, **keywords)
    assert str(caught.value) == said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_python_batch_refuses_a_misspelt_option_when_the_shard_has_nothing_to_make(tmp_path, env):
    """A finished shard (every output there, --skip-existing) or an empty one never imports the pipeline,
    whose signature was the only check: `stpes=4` then passed unseen and the caller's typo went unsaid.
    It is now a TypeError before any work there too, still without torch."""
    (tmp_path / "m.csv").write_text(f"{A},{B},x.gif\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.gif").write_bytes(b"made before")
    code = ("import sys\nfrom interp_cli.batch import batch\n"
            "for shard in ('1/1', '2/2'):\n"
            "    try:\n"
            "        batch('m.csv', 'out', shard=shard, skip_existing=True, weights='demo', stpes=4)\n"
            "    except TypeError as err:\n"
            "        print(shard, err)\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.splitlines() == [
        f"{shard} batch() got an unexpected keyword argument 'stpes' (not one of morph's options)"
        for shard in ("1/1", "2/2")] + ["False"], done.stderr
    assert os.listdir(tmp_path / "out") == ["x.gif"]


def test_a_row_that_cannot_write_names_its_output_as_its_json_line_does(tiny, tmp_path, env):
    """A full disk (a real 20 kB RLIMIT_FSIZE) fails each row alone, and its error names the file as
    `"output"` does, under --outdir as given, not by the absolute path the writer resolved."""
    import resource

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    (tmp_path / "pairs.csv").write_text(f"{A},{B},big/x.gif\n{A},{B},small/\n")
    args = ["batch", "pairs.csv", "--outdir", "out", "--weights", tiny, "--no-align", "--steps", "40", "--size", "256",
            "--json", "--no-cache"]
    done = subprocess.run([sys.executable, "-m", "interp_cli", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240, preexec_fn=limit_file_size)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1 and [r["ok"] for r in rows[:2]] == [False, False], done.stderr
    for row, output in zip(rows, ("out/big/x.gif", "out/small/")):
        assert row["output"] == output  # a frames folder with its slash, as `interp morph --json` names it
        assert row["error"].startswith(f"{output.rstrip('/')}") and "cannot write" in row["error"], row["error"]
        assert str(tmp_path) not in row["error"]
    assert "row 1 failed: pairs.csv:1: out/big/x.gif: cannot write" in done.stderr
    assert not list((tmp_path / "out").rglob("*.*"))


def test_a_bad_layers_spec_stops_the_batch_as_a_usage_error_not_row_by_row(tiny, tmp_path, env):
    """`--layers foo` is refused before torch loads (exit 2, one line); `--layers 0-99` on a model with
    fewer rows once the model has loaded, with the JSON log's summary saying why. Before, every row
    failed alike with the same line and the batch exited 1."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},x.gif\n{B},{A},y.gif\n")
    probe = ("import sys\nfrom interp_cli.cli import main\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit as done:\n    print(done.code, 'torch' in sys.modules)\n")
    for spec in ("foo", "3-1", "coarse,,fine"):
        done = subprocess.run([sys.executable, "-c", probe, "batch", "pairs.csv", "--outdir", "out", "--layers", spec],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.stdout.split() == ["2", "False"], (spec, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "--layers" in done.stderr, done.stderr
    code, lines, err = finish(interp("batch", "pairs.csv", "--outdir", "out", "--weights", tiny, "--no-align",
                                     "--steps", "3", "--layers", "0-99", "--json", cwd=tmp_path, env=env))
    assert code == 2 and len(lines) == 1 and lines[0]["summary"] and lines[0]["failed"] == 0, (lines, err)
    assert "row 99 is out of range" in lines[0]["error"] and err.count("\n") == 1
    assert not (tmp_path / "out" / "x.gif").exists()


@pytest.mark.parametrize("extra", [["--face", "0"], ["--layers", "0-15"]])
def test_a_batch_refused_once_the_model_loads_leaves_no_outdir_it_made(tmp_path, monkeypatch, extra):
    """`--face 0` with a model that takes its inputs as they are (the demo), or `--layers` past its rows, refuses
    the whole batch (exit 2) once the model has loaded, after --outdir was made: the empty folders stayed behind
    (benchmarks/fuzz_options.py found it). A folder that was there already stays."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},x.gif\n")
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "new/out", "--weights", "demo", "--steps", "2",
                               *extra, "--json", monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 2 and lines[-1]["exit_code"] == 2 and err.count("\n") == 1, (lines, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.csv"]
    (tmp_path / "kept").mkdir()
    code, _, err = invoked("batch", "pairs.csv", "--outdir", "kept", "--weights", "demo", "--steps", "2", *extra,
                           "-q", monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 2 and (tmp_path / "kept").is_dir(), err


def test_a_full_or_read_only_disk_stops_the_batch_after_the_row_that_found_it(tiny, tmp_path, env):
    """--outdir on a real full file system (a 200 kB tmpfs, in a mount namespace of its own): the first row
    fails with the disk's words, and the batch stops there with its summary instead of loading, encoding and
    rendering every other row only to fail alike. A rerun with --skip-existing, given room, makes the rest."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "--fork", "sh", "-c", f"mount -t tmpfs -o size=200k tmpfs {tmp_path}"],
            capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs in a mount namespace is not permitted here")
    (tmp_path / "pairs.csv").write_text("".join(f"{A},{B},m{i}.gif\n" for i in range(4)))
    (tmp_path / "out").mkdir()
    args = [sys.executable, "-m", "interp_cli", "batch", "pairs.csv", "--outdir", "out", "--weights", tiny,
            "--no-align", "--steps", "60", "--size", "256", "--json", "--no-cache"]
    done = subprocess.run(["unshare", "-m", "--fork", "sh", "-c",
                           'mount -t tmpfs -o size=200k tmpfs out && exec "$@"', "sh", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1 and len(lines) == 2, (done.stdout, done.stderr)
    assert lines[0]["row"] == 1 and "no space left on device" in lines[0]["error"]
    assert lines[1]["summary"] and lines[1]["failed"] == 1 and lines[1]["error"].startswith("batch stopped after row 1")
    assert done.stderr.strip().splitlines()[-1].startswith("interp: error: batch stopped after row 1: out/m0.gif")
    assert lines[1]["error"].endswith("the rows after it would fail alike (to make them, rerun with --skip-existing)")
    assert list((tmp_path / "out").iterdir()) == []  # the tmpfs lived and died with the namespace
    # A read-only one: refused by the first row's check of the folder, before any work, and the batch stops.
    done = subprocess.run(["unshare", "-m", "--fork", "sh", "-c",
                           'mount -t tmpfs -o ro,size=200k tmpfs out && exec "$@"', "sh", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 2 and len(lines) == 2, (done.stdout, done.stderr)
    assert lines[0]["error"] == "out/m0.gif: directory 'out' is on a read-only file system"
    assert lines[1]["error"].startswith("batch stopped after row 1: out/m0.gif: directory 'out' is on a read-only")


_EXIT_AND_TORCH = ("import sys\nfrom interp_cli.cli import main\ntry:\n    main(sys.argv[1:])\n"
                   "except SystemExit as done:\n    print('exit', done.code, 'torch' in sys.modules)\n")


def test_a_read_only_outdir_is_refused_before_torch_loads_yet_a_finished_or_elsewhere_written_shard_runs(
        tiny, tmp_path, env):
    """A real read-only bind mount of an existing --outdir, in a mount namespace of its own. The first row failed
    its write check only once torch was imported and the model loaded (seconds, a minute at 1024 px, in every task
    of an array): it now fails before either, with the same lines and exit 2. A --skip-existing rerun of a finished
    shard there still exits 0, and rows written to a writable file system mounted below it are still made."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "--fork", "sh", "-c", f"mount -t tmpfs -o size=200k tmpfs {tmp_path}"],
            capture_output=True).returncode != 0:
        pytest.skip("mounting in a mount namespace is not permitted here")
    (tmp_path / "out" / "w").mkdir(parents=True)
    (tmp_path / "out" / "done.gif").write_bytes(b"made before")
    mounts = "mount --bind out out && mount -o remount,bind,ro out && mount -t tmpfs -o size=2m tmpfs out/w"

    def batch(rows: str, *words: str):
        (tmp_path / "pairs.csv").write_text(rows)
        done = subprocess.run(["unshare", "-m", "--fork", "sh", "-c", f'{mounts} && exec "$@"', "sh", sys.executable,
                               "-c", _EXIT_AND_TORCH, "batch", "pairs.csv", "--outdir", "out", "--weights", tiny,
                               "--no-align", "--steps", "2", "--json", "--no-cache", *words],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        *lines, ended = done.stdout.splitlines()
        return ended.split()[1:], [json.loads(line) for line in lines], done.stderr

    ended, lines, err = batch(f"{A},{B},m0.gif\n{A},{B},w/m1.gif\n")
    assert ended == ["2", "False"], (ended, lines, err)  # exit 2, and torch never imported
    assert lines[0]["error"] == "out/m0.gif: directory 'out' is on a read-only file system"
    assert lines[1]["summary"] and lines[1]["error"].startswith("batch stopped after row 1: out/m0.gif: directory")
    assert err.strip().splitlines()[-1].startswith("interp: error: batch stopped after row 1: out/m0.gif")
    ended, lines, err = batch(f"{A},{B},new/m0.gif\n{A},{B},m1.gif\n")  # a subfolder to make there: as refused
    assert ended == ["2", "False"], (ended, lines, err)
    assert lines[0]["error"] == "out/new/m0.gif: directory 'out' is on a read-only file system"  # as m0.gif's
    assert lines[1]["error"].startswith("batch stopped after row 1: "), (lines, err)
    ended, lines, err = batch(f"{A},{B},done.gif\n", "--skip-existing")  # nothing to write there
    assert ended == ["0", "False"] and lines[-1]["skipped"] == 1, (ended, lines, err)
    ended, lines, err = batch(f"{A},{B},w/m1.gif\n{A},{B},w/sub/m2.gif\n")  # every row below, on its own mount
    assert ended == ["0", "True"] and lines[-1]["made"] == 2, (ended, lines, err)


def test_a_full_or_read_only_file_system_below_outdir_fails_its_rows_alone(tiny, tmp_path, env):
    """A real full file system (a 200 kB tmpfs) and a real read-only bind mount, each mounted on a folder inside
    --outdir (a project's quota, a read-only share), in a mount namespace of their own. The batch stopped at
    the first row that met either, "the rows after it would fail alike", though the other rows write to
    --outdir's own file system and were never tried. Now that row fails alone, each later row into the same
    place fails at once without being made (a full disk is found only after the encode and the render), and
    the rest are made."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "--fork", "sh", "-c", f"mount -t tmpfs -o size=200k tmpfs {tmp_path}"],
            capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs in a mount namespace is not permitted here")
    names = ["small/a.gif", "ok1.gif", "ro/b.gif", "small/c.gif", "ro/d.gif", "ok2.gif"]
    (tmp_path / "pairs.csv").write_text("".join(f"{A},{B},{name}\n" for name in names))
    for folder in ("small", "ro"):
        (tmp_path / "out" / folder).mkdir(parents=True)
    args = [sys.executable, "-m", "interp_cli", "batch", "pairs.csv", "--outdir", "out", "--weights", tiny,
            "--no-align", "--steps", "60", "--size", "256", "--json", "--no-cache"]
    mounts = ("mount -t tmpfs -o size=200k tmpfs out/small && mount --bind out/ro out/ro && "
              "mount -o remount,bind,ro out/ro")
    done = subprocess.run(["unshare", "-m", "--fork", "sh", "-c", f'{mounts} && exec "$@"', "sh", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    *rows, summary = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1 and "error" not in summary, (done.stdout, done.stderr)
    assert [(r["row"], r["ok"]) for r in rows] == [(1, False), (2, True), (3, False), (4, False), (5, False), (6, True)]
    assert "no space left on device" in rows[0]["error"] and rows[0]["exit_code"] == 1
    assert rows[2]["error"] == "out/ro/b.gif: directory 'out/ro' is on a read-only file system"
    assert rows[3]["error"] == f"out/small/c.gif: not tried, as row 1 failed on its file system: {rows[0]['error']}"
    assert rows[4]["error"] == f"out/ro/d.gif: not tried, as row 3 failed on its file system: {rows[2]['error']}"
    assert [r["exit_code"] for r in rows[3:5]] == [1, 2] and "encoder_calls" not in rows[3]
    assert "row 4 failed: pairs.csv:4: out/small/c.gif: not tried, as row 1" in done.stderr
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")) == [
        "ok1.gif", "ok2.gif", "ro", "small"]


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(errno, "EDQUOT"),
                    reason="reads /proc/self/fd to know which file a flush is for")
def test_a_project_quota_below_outdir_fails_its_rows_alone_and_a_user_quota_stops_the_batch(tmp_path, monkeypatch):
    """A project quota (XFS, ext4, Lustre) on a folder below --outdir, full: its rows fail, the others are made.
    Before, EDQUOT there stopped the whole batch as a full --outdir does, and each rerun with --skip-existing
    stopped again at the next row into that folder. No quota can be set on this machine's kernel, so the fault
    is injected where such a file system reports it, the flush of a finished output (os.fsync: EDQUOT), and the
    folder's project ID (`files.project_id`, FS_IOC_FSGETXATTR) is what XFS would read there. The same quota
    error with no project between the folders (a user's quota: every row would fail alike) still stops it."""
    from interp_cli import batch as batches
    from interp_cli.errors import InterpError

    project, real_fsync = (tmp_path / "out" / "proj").resolve(), os.fsync

    def fsync(fd):
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if project in path.parents and not path.is_dir():
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    (tmp_path / "pairs.csv").write_text("".join(f"{A},{B},{name}\n" for name in
                                                ("proj/a.gif", "ok1.gif", "proj/c.gif", "ok2.gif")))
    (tmp_path / "out" / "proj").mkdir(parents=True)
    options = dict(weights="demo", align=False, steps=2, cache=False, log=lambda line: None)
    monkeypatch.setattr(batches, "project_id", lambda place: 42 if Path(place).resolve() == project else 0)
    rows = batches.batch(tmp_path / "pairs.csv", tmp_path / "out", **options)["results"]
    assert [(r["row"], r["ok"]) for r in rows] == [(1, False), (2, True), (3, False), (4, True)], rows
    assert rows[0]["error"] == (f"{tmp_path}/out/proj/a.gif: cannot write: disk quota exceeded; free some space or "
                                "write elsewhere")
    assert rows[2]["error"].startswith(f"{tmp_path}/out/proj/c.gif: not tried, as row 1 failed on its file system")
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["ok1.gif", "ok2.gif", "proj"]
    monkeypatch.setattr(batches, "project_id", lambda place: 0)
    with pytest.raises(InterpError, match="^batch stopped after row 1: .*disk quota exceeded") as stopped:
        batches.batch(tmp_path / "pairs.csv", tmp_path / "out", skip_existing=True, **options)
    assert [r["ok"] for r in stopped.value.batch_summary["results"]] == [False]


def test_an_outdir_on_a_file_system_without_flock_gets_every_row(tiny, tmp_path, env):
    """Lustre mounted without `-o flock` answers flock() with ENOSYS: every row used to fail ("cannot write in
    directory ... (function not implemented)") and leave an empty hidden temp behind for good. Here a real
    process whose libc flock() says so (an LD_PRELOAD shim) writes every row, and nothing else, there."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or sys.platform != "linux":
        pytest.skip("needs a C compiler and LD_PRELOAD to stand in for a file system without flock")
    (tmp_path / "noflock.c").write_text(
        "#include <errno.h>\nint flock(int fd, int op) { (void)fd; (void)op; errno = ENOSYS; return -1; }\n")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", tmp_path / "noflock.so", tmp_path / "noflock.c"], check=True)
    (tmp_path / "pairs.csv").write_text(f"{A},{B},m1.gif\n{A},{B},frames/\n")
    code, lines, err = finish(interp("batch", tmp_path / "pairs.csv", "--outdir", tmp_path / "out", "--weights", tiny,
                                     "--no-align", "--steps", "2", "--sheets", "--json",
                                     env={**env, "LD_PRELOAD": str(tmp_path / "noflock.so")}))
    assert code == 0 and lines[-1]["made"] == 2, (lines, err)
    assert sorted(os.listdir(tmp_path / "out")) == ["frames", "frames.sheet.png", "m1.gif", "m1.sheet.png"]
    assert sorted(os.listdir(tmp_path / "out" / "frames")) == ["frame_0000.png", "frame_0001.png"]


def test_an_output_named_like_a_temp_is_refused_not_made_and_swept_by_the_next_run(tiny, tmp_path, env):
    """`.x.tmp-<16 hex digits>.gif` was made and reported made, and then removed by the next run writing into
    --outdir as a dead writer's temp (a folder `.y.old-<hex>/` holding outputs, likewise, with all of them).
    Such a row now fails alone, and `-o` such a name is a usage error, before any work."""
    temp_like = ".x.tmp-0123456789abcdef.gif"
    (tmp_path / "pairs.csv").write_text(f"{A},{B},{temp_like}\n{A},{B},.y.old-0123456789abcdef/z.gif\n{A},{B},ok.gif\n")
    code, lines, err = finish(interp("batch", tmp_path / "pairs.csv", "--outdir", tmp_path / "out", "--weights", tiny,
                                     "--no-align", "--steps", "2", "--json", env=env))
    assert code == 1 and [line.get("ok") for line in lines] == [False, False, True, None], (lines, err)
    assert "has the form of interp's hidden temporary files" in lines[0]["error"] and lines[0]["exit_code"] == 2
    assert "'.y.old-0123456789abcdef' has the form" in lines[1]["error"]
    assert os.listdir(tmp_path / "out") == ["ok.gif"]
    code, _, err = finish(interp(A, B, "--weights", tiny, "--no-align", "--steps", "2", "-o",
                                 tmp_path / "out" / temp_like, env=env))
    assert code == 2 and err.count("\n") == 1 and "has the form of interp's hidden temporary files" in err
    assert os.listdir(tmp_path / "out") == ["ok.gif"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, a file that is always full")
def test_a_json_log_on_a_full_disk_is_named_in_the_one_line(tiny, tmp_path, env):
    """`--json > logs/x.jsonl` with the logs' disk full: the batch stops (it can no longer say what it made)
    with one line that says it was the log, standard output, that could not be written; it used to be
    "interp: error: cannot write: no space left on device", with no file named, though the outputs were fine."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},m1.gif\n{A},{B},m2.gif\n")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "interp_cli", "batch", tmp_path / "pairs.csv", "--outdir",
                               tmp_path / "out", "--weights", tiny, "--no-align", "--steps", "2", "--json"],
                              stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        "interp: error: standard output: cannot write: no space left on device; free some space or write elsewhere"]
    assert os.listdir(tmp_path / "out") == ["m1.gif"]  # made whole before its line could not be written


# `interp ARGS` whose every row waits, inside its morph, until MARKER.go exists (MARKER.row says it got there).
_HELD_IN_A_ROW = """
import functools, os, sys, time
import interp_cli.pipeline as pipeline
marker, morph = sys.argv.pop(1), pipeline.morph
@functools.wraps(morph)
def held(*args, **options):
    open(marker + ".row", "w").close()
    while not os.path.exists(marker + ".go"):
        time.sleep(0.01)
    return morph(*args, **options)
pipeline.morph = held
from interp_cli.cli import main
main(sys.argv[1:])
"""


def _held_in_a_row(marker: Path, args, env, cwd) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", _HELD_IN_A_ROW, str(marker), *map(str, args)], cwd=cwd, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120  # only against a hang: nothing here is timed
    while not os.path.exists(f"{marker}.row"):
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.02)
    return child


def test_two_workers_on_one_shard_make_each_row_once_and_a_dead_workers_claim_is_taken_over(tiny, tmp_path, env):
    """A requeued Slurm job whose first copy still runs, or an array task submitted twice: two live workers on
    the same rows each made every row, and the later rename replaced the earlier, identical file (the work
    done twice). Now a worker claims a row while it makes it, and a second worker skips a row a live one has
    claimed: here worker A is held inside row 1 while worker B runs the whole shard. A worker killed in a row
    (SIGKILL: its claim file stays, its lock goes) does not hold the row back: the next run makes it."""
    manifest = _pairs(tmp_path, 2)
    args = ["batch", manifest, "--outdir", "out", "--skip-existing", "--weights", tiny, "--no-align", "--steps", 2,
            "--json"]
    first = _held_in_a_row(tmp_path / "a", args, env, tmp_path)
    code, lines, err = finish(interp(*args, env=env, cwd=tmp_path))
    assert code == 0, err
    assert [(r["row"], r["ok"], r["skipped"], r.get("claimed_elsewhere")) for r in lines[:2]] == [
        (1, True, True, True), (2, True, False, None)], lines
    out = sorted(os.listdir(tmp_path / "out"))
    assert out[1:] == ["m1.gif"] and out[0].startswith(".m0.claim-"), out  # row 1's claim, still held by A
    (tmp_path / "a.go").touch()
    code, lines, err = finish(first)
    assert code == 0, err
    assert [(r["row"], r["ok"], r["skipped"]) for r in lines[:2]] == [(1, True, False), (2, True, True)], lines
    assert sorted(os.listdir(tmp_path / "out")) == ["m0.gif", "m1.gif"]  # each made once, and no claim left

    # A worker killed inside row 1 leaves its claim file, unlocked: the next worker takes the row over.
    (tmp_path / "out" / "m0.gif").unlink()
    killed = _held_in_a_row(tmp_path / "k", args, env, tmp_path)
    killed.kill()
    killed.communicate()
    assert len(hidden(tmp_path / "out")) == 1
    code, lines, err = finish(interp(*args, env=env, cwd=tmp_path))
    assert code == 0 and [(r["row"], r["skipped"]) for r in lines[:2]] == [(1, False), (2, True)], (lines, err)
    assert sorted(os.listdir(tmp_path / "out")) == ["m0.gif", "m1.gif"]


def _killed_for_shard(tmp_path: Path, shard: str) -> str:
    """An INTERP whose worker for `shard` dies of SIGKILL at once, as the out-of-memory killer ends one."""
    wrapper = tmp_path / "interp-oom"
    wrapper.write_text(f'#!/bin/bash\n[[ " $* " == *" --shard {shard} "* ]] && kill -9 $$\n'
                       f'exec {sys.executable} -m interp_cli "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.mark.skipif(shutil.which("parallel") is None, reason="GNU parallel is not installed")
def test_the_recipes_say_a_worker_was_killed_rather_than_send_the_user_to_failed_rows(tiny, tmp_path, env):
    """A worker killed by SIGKILL (the out-of-memory killer) leaves a log with no summary and no error. The
    parallel recipe printed "exit codes: 0" and "fix the failed rows ("error" in the logs)", and the Slurm
    recipe "unexpected exit 137; see <log>", an empty log: both now say it was killed, and what to do. A worker
    that exited 143 (SIGTERM from elsewhere) was likewise sent to fix failed rows: it is said to be stopped."""
    manifest = _pairs(tmp_path, 4)
    oom = dict(_example_env(env, tiny), INTERP=_killed_for_shard(tmp_path, "1/2"))
    done = subprocess.run([str(EXAMPLES / "parallel.sh"), str(manifest), "out", "2"], cwd=tmp_path, env=oom,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "exit codes: 0 ; killed: 1 (signal 9);" in done.stdout
    assert done.stderr.startswith("worker(s) killed before they finished: shard 1 (signal 9); signal 9 (SIGKILL) is "
                                  "most often the out-of-memory killer") and "failed rows" not in done.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["m1.gif", "m3.gif"]
    done = subprocess.run([str(EXAMPLES / "parallel.sh"), str(manifest), "out", "2"], cwd=tmp_path,
                          env=_example_env(env, tiny), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and sorted(os.listdir(tmp_path / "out")) == [f"m{i}.gif" for i in range(4)]

    # A worker sent SIGTERM by something else than parallel (a shutdown, `kill`) exits 143: stopped, not failed.
    (tmp_path / "out" / "m1.gif").unlink()
    wrapper = tmp_path / "interp-term"
    wrapper.write_text(f'#!/bin/bash\n{sys.executable} -m interp_cli "$@" & pid=$!\n'
                       '[[ " $* " == *" --shard 2/2 "* ]] && kill -TERM $pid\nwait $pid\n')
    wrapper.chmod(0o755)
    done = subprocess.run([str(EXAMPLES / "parallel.sh"), str(manifest), "out", "2"], cwd=tmp_path,
                          env=dict(oom, INTERP=str(wrapper)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 130 and "exit codes: 0 143 ;" in done.stdout, (done.stdout, done.stderr)
    assert "stopped: 1 of 2 worker(s) did not finish" in done.stderr and "failed rows" not in done.stderr

    task = subprocess.run(["bash", str(EXAMPLES / "slurm_array.sh"), str(manifest), "out"], cwd=tmp_path,
                          env=dict(oom, INTERP=_killed_for_shard(tmp_path, "auto"), SLURM_ARRAY_TASK_ID="1",
                                   SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_MAX="1", SLURM_ARRAY_TASK_COUNT="1"),
                          capture_output=True, text=True, timeout=120)
    assert task.returncode == 137
    assert task.stdout.strip().splitlines()[-1] == (
        "task 1: killed (exit 137, SIGKILL), most often for using more than --mem; raise --mem and resubmit the "
        "same array to finish (finished rows are skipped)")


def test_batch_resume_points_to_skip_existing(tmp_path, monkeypatch):
    """`--resume`, as other batch tools spell it, got Click's guess by spelling: "Did you mean one of:
    '--ease', '--refine'?", options that would have rerun every row."""
    manifest = _pairs(tmp_path, 1)
    code, _, err = invoked("batch", manifest, "--outdir", tmp_path / "out", "--resume", monkeypatch=monkeypatch)
    assert code == 2 and err == ("interp: error: no such option '--resume': to finish a stopped batch, run it again "
                                 "as before with --skip-existing\n")
    assert not (tmp_path / "out").exists()


def test_a_line_break_in_a_quoted_input_name_keeps_the_rows_failure_one_line(tiny, tmp_path, env, monkeypatch):
    """A quoted cell may hold a line break: its row fails ("no such file"), and its stderr line was cut in two
    at the break, so the second half read as a line of its own. It is one line now, as in its JSON line."""
    (tmp_path / "pairs.csv").write_text(f'"{A}\nx",{B},m1.gif\n{A},{B},m2.gif\n')
    code, lines, err = invoked("batch", tmp_path / "pairs.csv", "--outdir", tmp_path / "out", "--weights", tiny,
                               "--no-align", "--steps", "2", "--json", "--quiet", env=env, monkeypatch=monkeypatch)
    assert code == 1 and [line.get("ok") for line in lines] == [False, True, None], (lines, err)
    # --json --quiet: failures only
    assert err.splitlines() == [f"[1/2] row 1 failed: {tmp_path / 'pairs.csv'}:1: {A} x: no such file"]
    assert lines[0]["error"] == f"{A} x: no such file"


def test_a_hangup_mid_row_stops_the_batch_as_sigterm_does_unless_nohup_ignores_it(tiny, tmp_path, env):
    """`interp batch ... > rows.jsonl &` and the ssh session drops: bash passes SIGHUP on to its jobs, which
    killed interp by the signal, with no summary line and the row's temp left for a later run. It now stops
    as for SIGTERM: no temp, the summary with "stopped": true, exit 129. Under nohup the run goes on."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},long.gif\n{A},{B},next.gif\n")
    args = ["batch", tmp_path / "pairs.csv", "--outdir", tmp_path / "out", "--weights", tiny, "--no-align", "--json"]
    child = interp(*args, "--steps", "3000", env=env, preexec_fn=hangup_as_in_a_session)
    deadline = time.monotonic() + 120  # only against a hang: nothing here is timed
    while not ((tmp_path / "out").is_dir() and hidden(tmp_path / "out")):  # the row's temp: it is writing
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.02)
    child.send_signal(signal.SIGHUP)
    code, lines, err = finish(child)
    assert code == 129 and err.strip().splitlines()[-1] == "interp: hung up", err
    assert lines[-1]["summary"] and lines[-1]["stopped"] and lines[-1]["made"] == 0
    assert not (tmp_path / "out").exists()  # no temp, and the folder it made for no row is gone with it

    ignored = interp(*args, "--steps", "2", env=env, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    ignored.send_signal(signal.SIGHUP)
    code, lines, err = finish(ignored)
    assert code == 0 and lines[-1]["made"] == 2, err


def test_photo_options_on_codes_alone_are_noted_in_a_morph_and_a_batch_row(tmp_path, monkeypatch):
    """`interp a.npy b.npy --save-aligned crops/ --face 1 --no-align` took the options in silence (there is
    no photo to align or pick a face in), while `--tune` said so: each is a note now, in a morph and in each
    batch row of codes alone, and the morph is made as without them. A row with a photo uses them: no note."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    codes = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for photo, code in zip(("demo_a.png", "demo_b.png"), codes):
        assert cli_runner().invoke(cli, ["encode", str(examples / photo), "--weights", "demo", "-o", str(code),
                                         "-q"]).exit_code == 0
    said = "every input is a .npy code, with no photo to"
    status, _, err = invoked(*codes, "-o", tmp_path / "m.gif", "--weights", "demo", "--steps", 2, "--no-align",
                             "--face", 1, "--save-aligned", tmp_path / "crops", "--tune", 2, monkeypatch=monkeypatch)
    assert status == 0, err
    assert [line for line in err.splitlines() if line.startswith("note:")] == [
        f"note: --tune: {said} tune to; rendering untuned",
        f"note: --no-align: {said} align; using the codes as they are",
        f"note: --face: {said} pick a face in; using the codes as they are",
        f"note: --save-aligned: {said} align; no crops are saved"]
    assert (tmp_path / "m.gif").is_file() and not (tmp_path / "crops").exists()
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"a.npy,b.npy,codes.gif\na.npy,{examples / 'demo_b.png'},mixed.gif\n")
    status, _, err = invoked("batch", manifest, "--outdir", "out", "--weights", "demo", "--steps", 2, "--no-align",
                             "--save-aligned", "crops", monkeypatch=monkeypatch, cwd=tmp_path)
    assert status == 0, err
    rows = err.split("[1/2] row 1: wrote out/codes.gif")
    assert [line for line in rows[0].splitlines() if line.startswith("note:")] == [
        f"note: --no-align: {said} align; using the codes as they are",
        f"note: --save-aligned: {said} align; no crops are saved"]
    assert "note:" not in rows[1] and os.listdir(tmp_path / "crops") == ["demo_b_aligned.png"]


def test_a_batch_whose_rows_all_fail_leaves_no_outdir_it_made(tmp_path, monkeypatch):
    """Every row failed (here, a photo missing in each): the batch exited 1 and left the --outdir it had made, empty,
    which a later `ls` read as a batch begun. The folders it made are removed now, only while empty: one that was
    there stays, and so does one that another shard sharing it wrote into meanwhile."""
    from interp_cli.batch import batch

    (tmp_path / "pairs.csv").write_text(f"gone.png,{B},x.gif\n{A},missing.png,y.gif\n")
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "new/out", "--weights", "demo", "--steps", "2",
                               "--json", monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 1 and [line["ok"] for line in lines[:-1]] == [False, False] and lines[-1]["failed"] == 2, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.csv"]
    (tmp_path / "kept").mkdir()
    code, _, err = invoked("batch", "pairs.csv", "--outdir", "kept", "--weights", "demo", "-q",
                           monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 1 and (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir()), err
    shared = tmp_path / "shared"  # made by this batch; another shard's file lands there after its first row
    summary = batch(tmp_path / "pairs.csv", shared, weights="demo", steps=2, log=lambda line: None,
                    on_row=lambda result: (shared / "other.gif").write_bytes(b"GIF89a"))
    assert summary["failed"] == 2 and sorted(p.name for p in shared.iterdir()) == ["other.gif"]
    # A row made keeps the folder, as before.
    (tmp_path / "one.csv").write_text(f"{A},{B},made.gif\ngone.png,{B},x.gif\n")
    code, _, err = invoked("batch", "one.csv", "--outdir", "half", "--weights", "demo", "--steps", "2", "-q",
                           monkeypatch=monkeypatch, cwd=tmp_path)
    assert code == 1 and [p.name for p in (tmp_path / "half").iterdir()] == ["made.gif"], err


def test_a_failed_row_leaves_no_empty_subfolders_its_output_name_asked_for(tiny, tmp_path, env, monkeypatch):
    """A row `cut.png,b.png,deep/er/x.gif` whose photo is found spoilt only once decoded (inside the morph) failed
    alone, but left the empty folders deep/er/ in --outdir, where `interp morph -o deep/er/x.gif` leaves nothing
    (found while building benchmarks/fuzz_manifest.py). Only the folders the row made go: one a good row writes in
    stays."""
    (tmp_path / "cut.png").write_bytes(A.read_bytes()[:2000])  # its header reads, its pixels do not
    np.save(tmp_path / "wrong.npy", np.zeros((3, 7), np.float32))
    (tmp_path / "pairs.csv").write_text(f"{A},{B},shared/ok.gif\ncut.png,{B},deep/er/x.gif\n"
                                        f"wrong.npy,{B},frames/sub/\ncut.png,{A},shared/new/y.mp4\n")
    code, lines, err = invoked("batch", "pairs.csv", "--outdir", "out", "--weights", tiny, "--no-align", "--steps", 2,
                               "--json", monkeypatch=monkeypatch, env=env, cwd=tmp_path)
    assert (code, [r["ok"] for r in lines[:-1]]) == (1, [True, False, False, False]), (lines, err)
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")) == \
        ["shared", "shared/ok.gif"]


def test_a_row_into_a_folder_of_mode_555_or_from_an_unreadable_photo_fails_alone(tmp_path):
    """A row whose output's folder under --outdir is `chmod 555`, and a row whose photo is `chmod 000`: each fails
    alone, with its line naming the manifest row and the file; the other row is made, exit 1. Not tried before (the
    VM runs as root, which modes do not stop): run with file modes binding (as root: under setpriv)."""
    from tests.file_modes import file_modes_binding

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    unreadable = tmp_path / "c.png"
    shutil.copyfile(A, unreadable)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"a,b,output\n{A},{B},made.gif\n{A},{B},sub/y.gif\n{unreadable},{B},z.gif\n")
    prefix = file_modes_binding()
    (out / "sub").chmod(0o555)
    unreadable.chmod(0)
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "interp_cli", "batch", str(manifest), "--outdir",
                               str(out), "--weights", "demo", "--steps", "2", "--json"], capture_output=True,
                              text=True, timeout=300,
                              env=dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"),
                                       PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    finally:
        (out / "sub").chmod(0o755)
        unreadable.chmod(0o644)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stderr
    assert [(row["line"], row.get("error"), row.get("exit_code")) for row in rows[:-1]] == [
        (2, None, None), (3, f"{out / 'sub' / 'y.gif'}: directory '{out / 'sub'}' is not writable", 2),
        (4, f"{unreadable}: permission denied", 2)], done.stdout
    assert (rows[-1]["made"], rows[-1]["failed"]) == (1, 2)
    assert sorted(os.listdir(out)) == ["made.gif", "sub"] and os.listdir(out / "sub") == []


def test_rows_under_an_outdir_of_mode_555_fail_alone_as_interp_morph_says_it_and_one_into_a_writable_folder_is_made(
        tmp_path):
    """A row whose folder is to be made under a `chmod 555` --outdir said "'out/new': cannot create the folder
    (Permission denied)": a folder that is not there, in the OS's capitals, where a row written straight into out/
    (and `interp morph -o out/new/y.gif`) says "out/new/y.gif: directory 'out' is not writable". Now each says that.
    The batch is not refused up front: a row into a writable folder inside it is made (exit 1)."""
    from tests.file_modes import file_modes_binding

    out = tmp_path / "out"
    (out / "w").mkdir(parents=True)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"a,b,output\n{A},{B},x.gif\n{A},{B},new/y.gif\n{A},{B},w/z.gif\n")
    prefix = file_modes_binding()
    out.chmod(0o555)
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "interp_cli", "batch", str(manifest), "--outdir",
                               "out", "--weights", "demo", "--steps", "2", "--json"], capture_output=True,
                              text=True, timeout=300, cwd=tmp_path,
                              env=dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"),
                                       PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    finally:
        out.chmod(0o755)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stderr
    assert [(row["line"], row.get("error"), row.get("exit_code")) for row in rows[:-1]] == [
        (2, "out/x.gif: directory 'out' is not writable", 2), (3, "out/new/y.gif: directory 'out' is not writable", 2),
        (4, None, None)], done.stdout
    assert (rows[-1]["made"], rows[-1]["failed"]) == (1, 2)
    assert sorted(os.listdir(out)) == ["w"] and os.listdir(out / "w") == ["z.gif"]


def test_a_folder_made_for_a_failed_row_that_another_workers_claim_kept_goes_at_the_workers_end(tiny, tmp_path, env):
    """Two workers on one --outdir (shards sharing a subfolder, a shard run twice): a folder one made for a row that
    failed stayed, empty, when the other's row claim sat inside at its removal and that row then failed too (found
    by benchmarks/fuzz_manifest.py, seed 11 case 24). Now the worker removes such a folder again at its end, only
    while empty; a user's own empty folder that a failed row wrote into stays. The other worker's claim is this
    test's own (`claims.claimed`), taken inside the folder while the worker is held by SIGSTOP just after making it."""
    from interp_cli import claims

    (tmp_path / "cut.png").write_bytes(A.read_bytes()[:2000])  # its header reads, its pixels do not: fails in the morph
    (tmp_path / "pairs.csv").write_text(f"cut.png,{B},sub/er/x.gif\n{A},{B},ok.gif\ncut.png,{A},mine/z.gif\n")
    out = tmp_path / "out"
    (out / "mine").mkdir(parents=True)  # the user's own, empty
    worker = subprocess.Popen([sys.executable, "-m", "interp_cli", "batch", "pairs.csv", "--outdir", "out", "--weights",
                               tiny, "--no-align", "--steps", "2"], cwd=tmp_path, text=True, stderr=subprocess.PIPE,
                              env=dict(env, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    try:
        deadline = time.monotonic() + 120
        while not (out / "sub" / "er").is_dir():
            assert worker.poll() is None and time.monotonic() < deadline, "the worker never made sub/er/"
            time.sleep(0.002)
        worker.send_signal(signal.SIGSTOP)
        with claims.claimed(out / "sub" / "er" / "y.gif") as mine:  # the other worker's row, claimed in there
            assert mine is True
            worker.send_signal(signal.SIGCONT)
            said = [worker.stderr.readline()]
            while not said[-1].startswith("[1/3] row 1 failed: pairs.csv:1:"):
                assert said[-1], f"the worker ended without failing row 1: {''.join(said)}"
                said.append(worker.stderr.readline())
            assert (out / "sub" / "er").is_dir()  # kept by the claim inside, as before
        # The other worker's row ended without making anything: its claim is gone, the folder empty.
        said.append(worker.stderr.read())
    finally:
        worker.send_signal(signal.SIGCONT)
    assert worker.wait(timeout=120) == 1, "".join(said)
    assert "[3/3] row 3 failed: pairs.csv:3:" in "".join(said) and "Traceback" not in "".join(said)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["mine", "ok.gif"]
