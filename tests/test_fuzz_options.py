"""benchmarks/fuzz_options.py still runs and still judges: a few seconds of `interp weights` command lines with a
fixed seed, every verb and option drawn from interp's own commands, and its verdicts on lines whose outcome is known.

The fuzzer itself is no part of `make test` (minutes a verb); this keeps it from rotting as interp changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import fuzz_options  # noqa: E402


def test_the_fuzzer_runs_weights_lines_and_finds_nothing(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_options.py"), "--verbs", "weights",
                           "--seconds", "2", "--seed", "3", "--failures", str(tmp_path / "f")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = next(line for line in done.stdout.splitlines() if line.startswith("weights: "))
    assert int(summary.split()[1]) >= 1 and ", 0 failures" in summary  # "weights: 3 cases, 0 failures (seed 3)"
    assert not (tmp_path / "f").exists()


def test_a_stopped_fuzzer_has_removed_its_codes_folder_when_its_stop_line_says_so(tmp_path):
    """The folder of encoded codes that morph cases copy went by `atexit`, after the stop line had said "its temporary
    files were removed". The line is held here while it is written (a full pipe as stderr: the write blocks until
    read), so what is on the disk as it is said is what the test sees."""
    import signal
    import time

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    for size in (4096, 1):  # fill the pipe to its last byte: the next write blocks
        try:
            while True:
                os.write(write_end, b"x" * size)
        except BlockingIOError:
            pass
    os.set_blocking(write_end, True)
    fuzzer = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "fuzz_options.py"), "--verbs", "morph",
                               "--seconds", "300"], stdout=subprocess.DEVNULL, stderr=write_end,
                              env=dict(os.environ, TMPDIR=str(tmp_path)))
    os.close(write_end)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("optfuzz-codes-*/codes_b.npy")) and time.monotonic() < deadline:
            time.sleep(0.1)
        codes = list(tmp_path.glob("optfuzz-codes-*"))
        assert codes, "the fuzzer made no codes in 120 s"
        fuzzer.send_signal(signal.SIGTERM)
        # until it writes its stop line: blocked in write(2, ...) (Linux's /proc/PID/syscall: "1 0x2 ...")
        while fuzzer.poll() is None and not Path(f"/proc/{fuzzer.pid}/syscall").read_text().startswith("1 0x2 "):
            assert time.monotonic() < deadline + 60, "no stop line written"
            time.sleep(0.05)
        assert [path for path in codes if path.exists()] == [], "still there as the stop line is written"
    finally:
        with open(read_end, "rb") as said:
            if fuzzer.poll() is None:
                fuzzer.send_signal(signal.SIGTERM)
            stop_line = said.read().lstrip(b"x").decode()
        fuzzer.wait(60)
    assert stop_line == "fuzz_options: terminated; its temporary files were removed\n"
    assert list(tmp_path.iterdir()) == []


def test_every_verb_and_option_of_interp_is_drawn_from_its_click_command():
    from interp_cli.cli import cli

    commands = fuzz_options.commands()
    assert {name.split()[0] for name in commands} == set(cli.commands) == set(fuzz_options.VERBS)
    assert {"weights list", "weights path", "weights verify", "weights download"} <= set(commands)
    import random

    rng = random.Random(0)
    seen = {word for _ in range(300) for word in fuzz_options.make_case("morph", commands["morph"], rng)}
    options = {max(p.opts, key=len) for p in commands["morph"].params if p.param_type_name == "option"}
    assert options - {"--help"} <= seen


def _verdict(argv, rc, err="", out="", new=()):
    before = {"a.png": "1", "b.png": "2", "demo.pt": "3"}
    after = dict(before, **{path: "x" for path in new})
    return fuzz_options.judge(argv, fuzz_options.inputs_of(argv), rc, out, err, before, after, {})


def test_the_judge_fails_what_the_brief_forbids_and_passes_a_clean_refusal():
    line = ["morph", "a.png", "b.png", "-o", "x.gif"]
    assert _verdict(line, 2, "interp: error: --steps must be at least 2 (got 1)\n") == []
    assert _verdict(line, 0, new=["x.gif"]) == []
    assert "a traceback on stderr" in _verdict(line, 1, "Traceback (most recent call last):\nboom\n")
    assert _verdict(line, 1, "interp: error: --fps nan: not a number\n")  # a refused option exits 2
    assert _verdict(line, 1, "interp: error: x.gif: disk full\n", new=["x.gif"])  # output left on a failure
    assert _verdict(line, 0, new=["x.gif", ".x.gif.tmp-0123456789abcdef"])  # a temp left
    assert _verdict(line, 0, new=["x.gif", "a_aligned.png"])  # written where no option said
    assert _verdict([*line, "--device", ""], 0, new=["x.gif"])  # an empty value taken for the default
    assert _verdict([*line, "--json"], 0, out="{}\n{}\n", new=["x.gif"])  # --json: one object
    assert _verdict(line, 0, new=["x.gif"]) == [] and _verdict(["morph", "a.png", "b.png", "-o", "a.png"], 2,
                                                               "interp: error: a.png is an input\n") == []


def test_weights_remove_is_drawn_with_names_and_judged_on_the_cases_own_hugging_face_cache(tmp_path, monkeypatch):
    """`weights remove` was drawn with no NAME only: every case a missing-argument exit 2. It removes from a cache
    of fake hub files in the case's own HF_HUB_CACHE, never the user's."""
    import random

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    rng = random.Random(0)
    command = fuzz_options.commands()["weights remove"]
    names = {tuple(fuzz_options.positionals("weights remove", rng)) for _ in range(200)}
    assert {("ffhq",), ("owner/repo/x.pt",), ("demo",), ()} <= names
    assert len(fuzz_options.make_case("weights remove", command, rng)) >= 2
    assert fuzz_options._env(tmp_path / "c")["HF_HUB_CACHE"] == str(tmp_path / "c" / "huggingface")
    removed = fuzz_options.run_case(["weights", "remove", "owner/repo/x.pt", "--json"], 120, 6)
    assert (removed["rc"], removed["problems"]) == (0, []), removed
    assert '"id": "owner/repo/x.pt"' in removed["stdout"] and "/snapshots/" in removed["stdout"]
    # The judge: the repo's other file gone, or a failed removal that changed the cache, are findings.
    before = {fuzz_options.KEPT: "k", "huggingface/models--owner--repo/snapshots/c/x.pt": "x"}
    line = ["weights", "remove", "owner/repo/x.pt"]
    assert fuzz_options.judge(line, [], 0, "", "", {}, {}, {}, before) == [
        "another file of the repo went: " + fuzz_options.KEPT]
    assert fuzz_options.judge(line, [], 1, "", "interp: error: x\n", {}, {}, {fuzz_options.KEPT: "k"}, before) == [
        "a failed removal changed the Hugging Face cache: ['huggingface/models--owner--repo/snapshots/c/x.pt']"]
    assert fuzz_options.judge(line, [], 0, "", "", {}, {}, before, before) == [
        "exit 0 and nothing removed from the Hugging Face cache"]


def test_the_environment_fuzzer_runs_odd_variables_and_finds_nothing(tmp_path):
    """benchmarks/fuzz_env.py: a few seeded cases (odd INTERP_*, HF_*, XDG_CACHE_HOME, TMPDIR values) against the
    cheap commands, each judged as fuzz_options.judge judges a command line."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_env.py"), "--seconds", "1", "--seed", "23",
                           "--failures", str(tmp_path / "f")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "env: " in done.stdout and ", 0 failures" in done.stdout and not (tmp_path / "f").exists()
