"""What a command says and where (`interp_cli.console`): the closing summary, --json's warnings, --debug's notes.

Closed and full standard streams are in tests/test_faults.py (real descriptors, /dev/full); --quiet and --json
against progress bars in tests/test_progress.py; a failed --json run's kept warnings in tests/test_outputs.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from interp_cli.cli import cli
from tests.cli_runner import cli_runner


def test_debug_notes_go_to_stderr_for_that_run_only(tmp_path):
    """`interp_cli.cli.main([..., "--debug"])` left the "interp_cli" logger at DEBUG with its stderr handler:
    every later library call in that Python process printed "interp: debug: ..." lines."""
    import logging

    logger = logging.getLogger("interp_cli")
    before = (logger.level, list(logger.handlers))
    code = tmp_path / "a.npy"
    np.save(code, np.zeros((10, 128), np.float32))
    result = cli_runner().invoke(cli, ["render", str(code), "--weights", "demo", "-o", str(tmp_path / "a.png"),
                                       "--debug", "-q"])
    assert result.exit_code == 0, result.stderr
    assert (logger.level, list(logger.handlers)) == before
    logger.debug("a note after the command")  # nowhere: the caller's logging has no handler for it


def test_each_verb_says_a_warning_once_on_stderr_or_in_its_json(tmp_path, monkeypatch):
    """A warning said while a verb runs (here: an animated input, of which only the first frame is used) reaches
    the user once: a "warning: ..." line on stderr, or under --json the summary's "warnings" list, with stdout
    the one JSON document and stderr silent. Each verb hands its summary to the same `console.emit`."""
    import json

    from PIL import Image

    examples = Path(__file__).resolve().parents[1] / "examples"
    a, b = (Image.open(examples / f"demo_{x}.png").convert("RGB") for x in "ab")
    monkeypatch.chdir(tmp_path)
    a.save("anim.gif", save_all=True, append_images=[b, a])
    b.save("b.png")
    face = Image.open(examples / "obama.jpg").convert("RGB")  # align needs a photographed face
    face.save("face.gif", save_all=True, append_images=[face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), face])
    warning = ": has 3 frames; frame 1 of 3 was used (to use another, save it as an image of its own)"
    verbs = {"morph": ["anim.gif", "b.png", "--weights", "demo", "--steps", "2", "-o", "m.gif"],
             "encode": ["encode", "anim.gif", "--weights", "demo", "-o", "a.npy"],
             "mix": ["mix", "anim.gif", "b.png", "--weights", "demo", "-o", "x.png"],
             "align": ["align", "face.gif", "-o", "aligned.png"]}
    for verb, words in verbs.items():
        said = f"{'face' if verb == 'align' else 'anim'}.gif{warning}"
        told = cli_runner().invoke(cli, words)
        assert told.exit_code == 0, (verb, told.stderr)
        assert told.stderr.splitlines().count(f"warning: {said}") == 1, (verb, told.stderr)
        # and its closing line, "wrote NAME ...", there too (`emit` without --json): dropping it passed this file
        closing = [line for line in told.stderr.splitlines() if line.startswith("wrote ")]
        assert len(closing) == 1 and closing[0].split()[1] == words[words.index("-o") + 1], (verb, told.stderr)
        as_json = cli_runner().invoke(cli, [*words, "--json"])
        assert as_json.exit_code == 0, (verb, as_json.stderr)
        assert json.loads(as_json.stdout)["warnings"] == [said], verb
        assert "warning" not in as_json.stderr, (verb, as_json.stderr)


def test_a_stop_as_debug_notes_begin_leaves_the_logger_as_it_was(tmp_path):
    """A Python caller's SIGTERM handler raising its own exception while `main([..., "--debug"])` set up --debug's
    notes, once the "interp_cli" logger was at DEBUG with its stderr handler but before the block that undoes both:
    the caller got its exception, and its process kept the handler and level for good (every later library call
    printed "interp: debug: ..." lines). A real SIGTERM, landing inside `Logger.addHandler`."""
    import logging

    import pytest

    from tests.races import Stopped, stop_inside

    logger = logging.getLogger("interp_cli")
    before = (logger.level, list(logger.handlers))
    code = tmp_path / "a.npy"
    np.save(code, np.zeros((10, 128), np.float32))
    args = ["render", str(code), "--weights", "demo", "-o", str(tmp_path / "a.png"), "--debug", "-q"]
    with stop_inside(logging.Logger, "addHandler", lambda it, handler: it is logger), pytest.raises(Stopped):
        cli.main(args)
    assert (logger.level, list(logger.handlers)) == before
    assert not (tmp_path / "a.png").exists()


def test_json_failure_path_names_the_output_when_the_output_is_at_fault(tmp_path):
    """Under --json a failure's "path" named only an input at fault: an -o in a folder that takes no files, under
    a file, or a write over a real file-size limit said "path": null, and a script could not tell which file. Now
    it names the output as typed; an input at fault is named as before, and standard output (no file) stays null."""
    import json
    import os
    import resource
    import shutil
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for name in ("a", "b"):
        shutil.copy(root / "examples" / f"demo_{name}.png", tmp_path / f"{name}.png")
    limit = (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1])

    def failed(output, *more, fsize=False, stdout=subprocess.PIPE):
        def limited():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, as a scheduler's limit is met, not a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        done = subprocess.run([sys.executable, "-m", "interp_cli", *more, "--weights", "demo", "--size", "128",
                               "--steps", "6", "--no-cache", "-o", output, "--json"], cwd=tmp_path, stdout=stdout,
                              stderr=subprocess.PIPE, text=True, timeout=300, preexec_fn=limited if fsize else None,
                              env={**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"})
        line, = done.stderr.splitlines()
        return done, line

    for output, more, fsize, code in [("/proc/m.gif", ["a.png", "b.png"], False, 2),
                                      ("a.png/m.gif", ["a.png", "b.png"], False, 2),
                                      ("big.gif", ["a.png", "b.png"], True, 1)]:
        done, line = failed(output, *more, fsize=fsize)
        answer = json.loads(done.stdout)
        assert done.returncode == answer["exit_code"] == code and answer["path"] == output, line
        assert answer["error"] == line.removeprefix("interp: error: ")
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png"]  # nothing left, no input touched
    done, line = failed("m.gif", "a.png", "missing.png")
    assert json.loads(done.stdout)["path"] == "missing.png" and done.returncode == 2
    with open("/dev/full", "w") as full:  # the JSON itself cannot be written: no file of the user's is at fault
        done, line = failed("m.gif", "a.png", "b.png", stdout=full)
    assert done.returncode == 1 and line.startswith("interp: error: standard output: cannot write")


_SETTLED = """
import fcntl, json, os, stat, sys
from interp_cli.console import settle_std_streams
settle_std_streams()
null = os.stat(os.devnull).st_rdev
seen = {}
for fd in (0, 1, 2):
    st = os.fstat(fd)
    kind = "null" if stat.S_ISCHR(st.st_mode) and st.st_rdev == null else "pipe" if stat.S_ISFIFO(st.st_mode) else "?"
    seen[fd] = [kind, fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE]
seen["streams"] = [sys.stdout.fileno(), sys.stderr.fileno()]
with open(sys.argv[1], "w") as report:  # opened last: it must not take a standard descriptor's number
    seen["report"] = report.fileno()
    json.dump(seen, report)
"""


@pytest.mark.parametrize("closed", [(0,), (1,), (2,), (1, 2), (0, 2), (0, 1, 2)])
def test_standard_descriptors_the_caller_closed_are_filled_before_any_file_is_opened(tmp_path, closed):
    """`interp ... >&- 2>&-` (or <&-): each closed standard descriptor is filled before interp opens a file, stdin
    and stderr with /dev/null, stdout with a pipe nobody reads (for writing, so --json ends in exit 141), and
    sys.stdout and sys.stderr write to descriptors 1 and 2: else an output's temp file took the number, and what
    was said to "stderr" went into it, or stderr's lines into stdout's JSON. test_faults' morphs (stdout, stderr or
    all three closed) check that the work goes on, not where each descriptor points: seven mutants passed them."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-c", _SETTLED, str(report)], env={**os.environ, "PYTHONPATH": str(root)},
                          preexec_fn=lambda: [os.close(fd) for fd in closed], timeout=60)
    assert done.returncode == 0
    seen = json.loads(report.read_text())
    for fd, access in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        if fd in closed:
            assert seen[str(fd)] == ["pipe" if fd == 1 else "null", access], (fd, seen)
    assert seen["streams"] == [1, 2] and seen["report"] > 2, seen
