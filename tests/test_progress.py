"""Progress on stderr: redrawn in place on a real pseudo-terminal, a few plain lines in a pipe, nothing with -q.

The CLI runs in a subprocess with the shipped demo model, as a user would run it.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interp_cli import progress

ROOT = Path(__file__).resolve().parents[1]
A, B = str(ROOT / "examples" / "demo_a.png"), str(ROOT / "examples" / "demo_b.png")
MORPH = [A, B, "--weights", "demo", "--steps", "24", "--no-cache"]


def _env() -> dict:
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")


def _interp(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "interp_cli", *args], capture_output=True, env=_env(),
                          timeout=timeout, cwd=ROOT)


def _interp_on_terminal(*args: str, timeout: float = 120, watch=None) -> tuple[int, str, bytes]:
    """Run interp with stderr on a fresh pseudo-terminal: (exit code, what the terminal got, stdout).
    `watch(child, screen)` is called with the screen so far each time more of it arrives."""
    return _on_terminal([sys.executable, "-m", "interp_cli", *args], timeout=timeout, watch=watch)


def _on_terminal(command: list[str], *, timeout: float = 120, watch=None) -> tuple[int, str, bytes]:
    master, slave = pty.openpty()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, env=_env(), cwd=ROOT)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            # Looked at before select: a child gone by then has all it wrote in the terminal's buffer, so a select
            # that finds nothing means nothing more comes. Looked at after, a child that wrote its last line and
            # exited between the two lost that line (this process held up there on a loaded machine).
            exited = child.poll() is not None
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed its end (Linux raises EIO)
                    break
                if not chunk:
                    break
                screen += chunk
                if watch is not None:
                    watch(child, screen)
            elif exited:
                break
        stdout = child.stdout.read()
        code = child.wait(timeout=10)
    finally:
        os.close(master)
        if child.poll() is None:
            child.kill()
    return code, screen.decode("utf-8", "replace"), stdout


def test_the_terminal_reader_keeps_a_line_written_as_the_process_exits(monkeypatch):
    """This file's terminal reader, held up right after a select that found nothing until the process has written
    its last line and exited (a loaded machine can hold it there that long): the line is still read. It was lost,
    and with it the `interp: terminated` that the stop tests below look for."""
    started = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    real_select = select.select

    def held_up(*args):
        found = real_select(*args)
        if not found[0]:
            os.waitid(os.P_PID, started[0].pid, os.WEXITED | os.WNOWAIT)  # until it has exited; not reaped
        return found

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    monkeypatch.setattr(select, "select", held_up)
    last = "import sys, time; time.sleep(0.3); sys.stderr.write('last')"
    code, screen, _ = _on_terminal([sys.executable, "-c", last])
    assert code == 0 and screen == "last"


def test_terminal_bars_redraw_in_place_and_end_on_the_count(tmp_path):
    code, screen, stdout = _interp_on_terminal(*MORPH, "-o", str(tmp_path / "out.mp4"))
    assert code == 0, screen
    assert stdout == b""
    render_draws = re.findall(r"\rrendering:\s+\d+%\|[^\r\n]*\| (\d+)/24 \[", screen)
    assert len(render_draws) >= 2, screen  # drawn, then redrawn over itself with '\r'
    assert render_draws[-1] == "24"
    assert re.search(r"\rencoding:\s+100%\|[^\r\n]*\| 2/2 \[", screen), screen
    assert re.search(r"frame/s\]", screen)  # the rate, with the ETA before it
    # The redraws stay on one line: only the finished bars and the summary end a line.
    assert screen.count("\n") <= 6, screen
    assert re.search(r"wrote \S*out.mp4 \(24 frames", screen), screen


def test_a_name_with_an_escape_sequence_is_shown_escaped_in_its_bar_on_a_terminal(tmp_path):
    """`refining NAME`'s bar printed a photo's name raw: `$'a\\e[2Jb.png'` cleared the terminal it was drawn on,
    where every line of interp's shows such a name escaped (`names.line_text`)."""
    photo = tmp_path / "a\x1b[2J\nb.png"
    photo.write_bytes(Path(A).read_bytes())
    code, screen, _ = _interp_on_terminal(str(photo), B, "--weights", "demo", "--steps", "3", "--size", "64",
                                          "--refine", "2", "--no-cache", "-o", str(tmp_path / "out.gif"))
    assert code == 0, screen
    assert "\x1b[2J" not in screen and "\nb.png" not in screen, repr(screen)  # the pty writes a line break as \r\n
    assert re.search(r"\rrefining a\\x1b\[2J\\nb\.png: +100%\|", screen), repr(screen)


def test_piped_stderr_gets_a_few_plain_lines_and_no_carriage_returns(tmp_path):
    done = _interp(*MORPH, "-o", str(tmp_path / "out.mp4"))
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "\r" not in err
    lines = err.splitlines()
    assert 3 <= len(lines) <= 6, err
    assert any(re.fullmatch(r"rendering: 24/24 frames in [\d.]+s \(.*\)", line) for line in lines), err
    assert any(line.startswith("encoding: 2/2 images") for line in lines), err


def _as_shown(screen: str) -> list[str]:
    """The lines a terminal shows once `screen` is drawn: a carriage return goes back to the line's start and
    what follows overwrites it (tqdm clears a bar with spaces), a newline starts the next line."""
    lines, line, column = [], [], 0
    for char in screen:
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        else:
            line[column:column + 1] = [char]
            column += 1
    return [shown for shown in lines + ["".join(line).rstrip()] if shown]


def test_a_rerun_with_every_code_from_the_cache_shows_no_encoding_count(tmp_path, monkeypatch):
    """A rerun whose codes all came from the cache left "encoding: 100%| 2/2" on a terminal ("encoding: 2/2 images in
    0.0s" in a log) above "encoding: 2 of 2 codes reused from the cache": a count of encoding not done. The bar
    is cleared now and the line that says why stands first; a run that encodes keeps its count."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    morph = [A, B, "--weights", "demo", "--steps", "6", "-o"]
    reused = "encoding: 2 of 2 codes reused from the cache (--no-cache encodes again)"
    first = _interp(*morph, str(tmp_path / "first.gif")).stderr.decode()
    assert first.startswith("encoding: 2/2 images in ") and "reused" not in first, first
    logged = _interp(*morph, str(tmp_path / "logged.gif")).stderr.decode().splitlines()
    assert logged[0] == reused and not [line for line in logged if line.startswith("encoding: 2/2")], logged
    code, screen, _ = _interp_on_terminal(*morph, str(tmp_path / "shown.gif"))
    shown = _as_shown(screen)
    assert code == 0 and shown[0] == reused and shown[1].startswith("rendering: 100%|"), shown
    assert not [line for line in shown if "image/s" in line], shown


def test_quiet_prints_nothing_and_json_keeps_stdout_one_document(tmp_path):
    quiet = _interp(*MORPH, "-o", str(tmp_path / "q.mp4"), "--quiet")
    assert quiet.returncode == 0
    assert quiet.stderr == b"" and quiet.stdout == b""
    code, screen, stdout = _interp_on_terminal(*MORPH, "-o", str(tmp_path / "j.mp4"), "--json")
    assert code == 0, screen
    summary = json.loads(stdout)  # one document, no bar in it
    assert summary["frames"] == 24
    assert "rendering:" in screen  # the bars went to the terminal on stderr


def test_batch_has_an_outer_bar_over_rows(tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},one.gif\n{B},{A},two.gif\n")
    code, screen, _ = _interp_on_terminal("batch", str(manifest), "--outdir", str(tmp_path / "out"), "--steps", "6",
                                          "--weights", "demo")
    assert code == 0, screen
    assert re.search(r"\rbatch:\s+100%\|[^\r\n]*\| 2/2 \[", screen), screen
    # Each row's frames get their own bar below the batch's, cleared when the row is done.
    assert len(re.findall(r"\rrendering:[^\r\n]*\| \d/6 \[", screen)) >= 2, screen
    assert re.search(r"row 2: wrote \S*two.gif", screen), screen
    piped = _interp("batch", str(manifest), "--outdir", str(tmp_path / "out2"), "--steps", "6", "--weights", "demo")
    err = piped.stderr.decode()
    assert piped.returncode == 0 and "\r" not in err
    assert "rendering:" not in err  # off a terminal the outer bar speaks for the rows
    assert re.search(r"^batch: 2/2 rows in ", err, re.M), err


def test_plain_lines_at_quarters_for_slow_bars_and_silence_for_nested_ones(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "QUARTER_AFTER_S", 0.0)
    with progress.bar(20, "rendering", unit="frame") as outer:
        with progress.bar(5, "refining", unit="step") as inner:
            for _ in range(5):
                inner.update()
        for _ in range(20):
            outer.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines  # 25%, 50%, 75%, and the last line; the nested bar printed nothing
    assert lines[0].startswith("rendering: 5/20 frames, ")
    assert lines[-1].startswith("rendering: 20/20 frames in ")


def test_a_slow_bar_off_a_terminal_gives_an_estimate_before_its_first_quarter(monkeypatch):
    """A bare --tune at 1024 px on a CPU takes about 6 s a step: its log said nothing for the first quarter
    (75 s; a --tune 1000, 25 minutes), neither that it was alive nor how long it would take."""
    stream, now = io.StringIO(), [0.0]
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: now[0])}))
    with progress.bar(50, "tuning", unit="step") as bar:
        for _ in range(50):
            now[0] += 6.0
            bar.note("loss 0.0042")
            bar.update()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "tuning: 3/50 steps, 18s elapsed, about 282s left, loss 0.0042"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "tuning: 13/50 steps", "tuning: 25/50 steps", "tuning: 38/50 steps",
        "tuning: 50/50 steps in 300.0s (6.0 s/step)"]
    stream.seek(0), stream.truncate()
    with progress.bar(50, "tuning", unit="step") as bar:  # a quick bar: its quarters, or only its last line
        for _ in range(50):
            now[0] += 0.3
            bar.update()
    assert [line.split(",")[0] for line in stream.getvalue().splitlines()] == [
        "tuning: 25/50 steps", "tuning: 38/50 steps", "tuning: 50/50 steps in 15.0s (3.33 steps/s)"]


def test_a_slow_bar_of_one_step_ends_on_its_line_and_one_of_none_says_nothing(monkeypatch):
    """A one-row batch or a single slow step (a 1024 px render on a CPU) is work like any other: its bar ends on its
    count and time; a bar of no steps (every code from the cache) prints nothing."""
    stream, now = io.StringIO(), [0.0]
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: now[0])}))
    with progress.bar(1, "batch", unit="row") as bar:
        now[0] += 40.0
        bar.update()
    with progress.bar(0, "encoding", unit="image"):
        now[0] += 40.0
    assert stream.getvalue().splitlines() == ["batch: 1/1 rows in 40.0s (40.0 s/row)"]


def test_a_stderr_without_isatty_gets_plain_lines(monkeypatch):
    """A caller's stand-in for stderr that has only write and flush (a service's log adaptor) is no terminal: it gets
    the plain lines, not a redrawn bar full of carriage returns."""
    class Writer:
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    stream = Writer()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "QUARTER_AFTER_S", 0.0)
    with progress.bar(4, "rendering", unit="frame") as bar:
        for _ in range(4):
            bar.update()
    assert "\r" not in stream.text and stream.text.splitlines()[-1].startswith("rendering: 4/4 frames in ")


def test_a_slow_bar_inside_another_speaks_off_a_terminal_and_a_quick_one_stays_silent(monkeypatch):
    """A batch row's --tune at 1024 px on a CPU (about 6 s a step) sat inside the batch's bar, and nested bars
    were silent off a terminal: a Slurm log said nothing for the row's minutes. Once slow, a nested bar prints
    as an outer one does; a quick one (most rows' rendering) still leaves the batch's lines alone."""
    stream, now = io.StringIO(), [0.0]
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: now[0])}))
    with progress.bar(2, "batch", unit="row") as rows:
        with progress.bar(24, "rendering", unit="frame") as quick:  # 2.4 s: under EARLY_ESTIMATE_S
            for _ in range(24):
                now[0] += 0.1
                quick.update()
        with progress.bar(50, "tuning", unit="step") as slow:
            for _ in range(50):
                now[0] += 6.0
                slow.note("loss 0.0042")
                slow.update()
        rows.update(2)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "tuning: 3/50 steps, 18s elapsed, about 282s left, loss 0.0042"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "tuning: 13/50 steps", "tuning: 25/50 steps", "tuning: 38/50 steps",
        "tuning: 50/50 steps in 300.0s (6.0 s/step)", "batch: 2/2 rows in 302.4s (151.2 s/row)"]


def test_a_batch_rows_tuning_reaches_a_log(monkeypatch, tmp_path):
    """The real batch, off a terminal, with progress on: each row's tuning bar, inside the batch's, prints its
    lines once slow (made slow here by a threshold of 0 s). Before, it was silent whatever it took."""
    from interp_cli.batch import batch

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "EARLY_ESTIMATE_S", 0.0)
    (tmp_path / "pairs.csv").write_text(f"{A},{B},one.gif\n{B},{A},two.gif\n")
    summary = batch(tmp_path / "pairs.csv", tmp_path / "out", weights="demo", steps=2, tune=2, cache=False,
                    progress=True, log=lambda line: None)
    assert summary["made"] == 2
    assert len(re.findall(r"^tuning: 2/2 steps in [\d.]+s", stream.getvalue(), re.M)) == 2, stream.getvalue()


def test_a_failed_step_prints_no_final_line(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with pytest.raises(RuntimeError):
        with progress.bar(10, "rendering", unit="frame") as bar:
            bar.update()
            raise RuntimeError("writer failed")
    assert stream.getvalue() == ""


def test_a_stop_on_a_terminal_starts_its_line_below_the_bar(tmp_path):
    """On a terminal the bar (or the ^C the terminal echoes) holds the cursor: `interp: terminated` starts a
    line of its own, not the bar's end. (In a log or under -q the line comes alone: tests/test_stops.py.)"""
    sent = []

    def stop_when_rendering(child, screen):
        if not sent and b"rendering" in screen:
            child.send_signal(signal.SIGTERM)
            sent.append(True)

    code, text, _ = _interp_on_terminal(A, B, "--weights", "demo", "--steps", "5000", "--no-cache", "-o",
                                        str(tmp_path / "m.gif"), watch=stop_when_rendering)
    assert sent and code == 143, text
    assert re.search(r"\n\s*interp: terminated\s*$", text) and "interp: terminated" not in text.split("\n")[0], text


_OPEN_BAR_AT_A_STOP = """
import os, signal, sys
from interp_cli import cli, progress, stops

def morph(*args, **kwargs):
    def frames():
        with progress.bar(10, "rendering", unit="frame"):
            yield
    held = frames()
    next(held)  # a bar open in a generator that the stop's traceback keeps alive
    os.kill(os.getpid(), signal.SIGTERM)
    signal.pause()

pipeline = stops.import_pipeline()
pipeline.morph = morph
cli.cli.main(args=sys.argv[1:], prog_name="interp")
"""


def _script_on_terminal(script: str, *args: str) -> tuple[int, str]:
    """`python -c script ARGS` with stderr on a fresh pseudo-terminal: (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=slave, env=_env(),
                             cwd=ROOT)
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)  # only against a hang: nothing here is timed
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:
            chunk = b""
        if not chunk:
            break
        screen += chunk
    os.close(master)
    return child.wait(timeout=30), screen.decode("utf-8", "replace")


def test_a_bar_still_open_at_a_stop_is_closed_before_the_stops_line(tmp_path):
    """A bar whose `with` had not ended when the stop was said (a generator kept alive by the traceback) was
    closed at exit, so the terminal showed it drawn again below `interp: terminated` (seen once in CI)."""
    code, text = _script_on_terminal(_OPEN_BAR_AT_A_STOP, A, B, "--weights", "demo", "-o", str(tmp_path / "m.gif"))
    assert code == 143, text
    assert "rendering" in text and re.search(r"\n\s*interp: terminated\s*$", text), text


_STOP_AS_A_BAR_IS_DRAWN = """
import functools, os, signal, sys
import tqdm
from interp_cli import cli

real = tqdm.tqdm.__init__

@functools.wraps(real)  # with its signature, which interp reads
def drawn_then_stopped(self, *args, **kwargs):
    real(self, *args, **kwargs)  # the bar is on the terminal now
    if kwargs.get("desc") == "rendering":
        os.kill(os.getpid(), signal.SIGTERM)  # and the stop arrives before the bar is listed as open

tqdm.tqdm.__init__ = drawn_then_stopped
cli.cli.main(args=sys.argv[1:], prog_name="interp")
"""


def test_a_stop_that_lands_as_a_bar_is_drawn_leaves_no_bar_below_its_line(tmp_path):
    """test_a_stop_on_a_terminal_starts_its_line_below_the_bar sends SIGTERM the moment it sees `rendering`:
    now and then (CI's test-lowest, one whole-suite run of 1284 tests here) the stop landed after tqdm drew
    the bar and before interp listed it as open, so the stop's line could not close it, and at exit it was
    drawn again below `interp: terminated`. Here the stop lands in that window every time."""
    code, text = _script_on_terminal(_STOP_AS_A_BAR_IS_DRAWN, A, B, "--weights", "demo", "--steps", "50",
                                     "--no-cache", "-o", str(tmp_path / "m.gif"))
    assert code == 143, text
    assert "rendering" in text and re.search(r"\n\s*interp: terminated\s*$", text), text
    assert not (tmp_path / "m.gif").exists()


def test_a_file_written_by_someone_else_is_followed_in_bytes_off_a_terminal(monkeypatch, tmp_path):
    """`polled`: a download huggingface_hub writes, its size read now and then; lines in kB/MB, and the last one
    on the full count with the rate. A failure ends it with no last line, as any bar."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "QUARTER_AFTER_S", 0.0)
    monkeypatch.setattr(progress, "POLL_S", 0.01)
    partial = tmp_path / "blob.incomplete"
    partial.write_bytes(b"x" * 1_000_000)  # there already: a resumed download
    with progress.polled(4_000_000, "downloading big.pt", lambda: partial.stat().st_size, start=1_000_000):
        for step in range(1, 5):
            with partial.open("ab") as out:
                out.write(b"x" * 1_000_000)
            deadline = time.monotonic() + 30
            while step < 4 and len(stream.getvalue().splitlines()) < step and time.monotonic() < deadline:
                time.sleep(0.01)  # until the thread has read it and said so
    lines = stream.getvalue().splitlines()
    assert [re.sub(r"\d+s", "Ns", line) for line in lines[:-1]] == [
        f"downloading big.pt: {done}.0 MB/4.0 MB, Ns elapsed, about Ns left" for done in (1, 2, 3)], lines
    assert re.fullmatch(r"downloading big\.pt: 4\.0 MB/4\.0 MB in [\d.]+s \([\d.]+ MB/s\)", lines[-1]), lines

    stream.truncate(0)
    with pytest.raises(OSError):
        with progress.polled(4_000_000, "downloading big.pt", lambda: 0):
            raise OSError("no space left")
    assert stream.getvalue() == ""



def test_a_stop_inside_the_polling_threads_start_still_stops_and_joins_it(monkeypatch):
    """A caller's SIGTERM handler raised inside `Thread.start()` of `polled`'s thread, before the block that stops
    and joins it: the thread went on polling and drawing the bar after the stop (a real SIGTERM). Now the stop
    still reaches the caller and no polling thread is left."""
    import threading

    from tests.races import Stopped, stop_inside_start

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(progress, "POLL_S", 0.01)
    with stop_inside_start("interp-polled-progress"), pytest.raises(Stopped):
        with progress.polled(4_000_000, "downloading big.pt", lambda: 0):
            pass
    assert not any(t.name == "interp-polled-progress" for t in threading.enumerate())

def test_a_bar_in_bytes_on_a_terminal_counts_in_megabytes(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress.bar(3_000_000, "downloading", unit="byte") as bar:
        bar.update(3_000_000)
    assert "3.00M/3.00M" in stream.getvalue(), stream.getvalue()


def test_bars_made_at_once_in_threads_leave_tqdms_monitor_setting_as_it_was(monkeypatch):
    """A service's workers with progress=True on a terminal: each bar sets tqdm's class-wide monitor_interval to 0
    while it is made, and two made at once put back each other's 0, leaving the caller's own later bars with no
    monitor thread (reproduced with threads switching often, as here)."""
    import tqdm

    from tests.races import at_once

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    before = tqdm.tqdm.monitor_interval

    def bars():
        for _ in range(200):
            with progress.bar(3, "rendering", unit="frame") as bar:
                bar.update()

    def monitor_kept():
        assert tqdm.tqdm.monitor_interval == before

    at_once(bars, monitor_kept)
    assert "rendering" in sys.stderr.getvalue()  # drawn as on a terminal


def test_sizes_are_said_in_the_largest_unit_they_reach():
    """A download's and a page's sizes: bytes below a kilobyte, then kB, MB and GB from exactly 1,000 of the one
    below (a disk's units)."""
    said = [progress.human_size(size) for size in (0, 999, 1000, 300_000_000, 10**6, 10**9, 1_234_567_890)]
    assert said == ["0 bytes", "999 bytes", "1.0 kB", "300.0 MB", "1.0 MB", "1.0 GB", "1.2 GB"]


def test_a_size_that_rounds_up_to_a_thousand_is_said_in_the_next_unit():
    """999,999 bytes read "1.0 MB", not "1000.0 kB" (the figure is rounded before the unit is kept), and a
    terabyte-sized disk's free room reads in TB, not "1000.0 GB"."""
    sizes = (999_949, 999_999, 999_999_999, 999_949_999_999, 10**12, 2_500_000_000_000, 10**15)
    said = [progress.human_size(size) for size in sizes]
    assert said == ["999.9 kB", "1.0 MB", "1.0 GB", "999.9 GB", "1.0 TB", "2.5 TB", "1000.0 TB"]


def test_a_python_callers_warning_is_a_python_warning_and_a_note_an_info_log_line(caplog):
    """`python_log`, the verbs' default log for a Python caller: a "warning: ..." line reaches the caller as an
    InterpWarning without its prefix (which `warnings.simplefilter("error")` makes an error), and nothing is
    logged; any other line is an INFO record on the "interp_cli" logger, and no warning. Only morphs in slower
    files (test_device_paths, test_pipeline) saw either."""
    import warnings

    from interp_cli.errors import InterpWarning

    caplog.set_level("INFO", logger="interp_cli")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        progress.python_log("warning: a GIF plays at 50 fps at most")
        progress.python_log("a.jpg: 2 faces found, using face 0")
    assert [(w.category, str(w.message)) for w in caught] == [(InterpWarning, "a GIF plays at 50 fps at most")]
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("interp_cli", "INFO", "a.jpg: 2 faces found, using face 0")]
