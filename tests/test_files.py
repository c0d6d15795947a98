"""interp_cli.files: the atomic write, stale-temp cleanup, hashing and same-file check."""

from __future__ import annotations

import errno
import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from interp_cli import files, sha256_record
from interp_cli.errors import InterpError


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with files.atomic_write(target) as fh:
            fh.write(b"half")
            assert len(os.listdir(tmp_path)) == 2  # the temp sits beside the target meanwhile
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"old"
    with files.atomic_write(target) as fh:
        fh.write(b"new")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"new"


def test_atomic_write_cleans_up_on_keyboard_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_write(tmp_path / "x.txt", "w") as fh:
            fh.write("x")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_temp_name_is_hidden_and_keeps_the_suffix(tmp_path):
    name = files.temp_name(tmp_path / "clip.mp4").name
    assert name.startswith(".clip.tmp-") and name.endswith(".mp4")


# A real writer in its own process: starts OUT (.mp4: ffmpeg writes the temp; .gif; a frames folder),
# writes one frame, says "ready", then waits for "go" and finishes, or is SIGKILLed.
WRITER = """
import os, signal, sys, time
from pathlib import Path
import numpy as np
from interp_cli.write import open_writer
out, action = sys.argv[1], sys.argv[2]
frames = np.random.default_rng(0).integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
with open_writer(out, fps=10) as writer:
    writer.write(frames[0])
    Path(out.rstrip("/") + ".ready").touch()
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while not Path(out.rstrip("/") + ".go").exists():
        time.sleep(0.02)
    for frame in frames[1:]:
        writer.write(frame)
"""


def _writer(out, action, prefix=()):
    """A WRITER process; returns once its temp exists."""
    child = subprocess.Popen([*prefix, sys.executable, "-c", WRITER, str(out), action])
    ready = str(out).rstrip("/") + ".ready"
    deadline = time.monotonic() + 60
    while not os.path.exists(ready):
        assert child.poll() is None or action == "kill", "the writer did not start"
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.02)
    os.unlink(ready)
    return child


def _hidden(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith("."))


def _sweep_elsewhere(directory, prefix=()):
    """clean_stale_temps(directory) in a fresh process (`prefix`: its namespaces); the names it removed."""
    code = "import sys; from interp_cli import files; print(*[p.name for p in files.clean_stale_temps(sys.argv[1])])"
    done = subprocess.run([*prefix, sys.executable, "-c", code, str(directory)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _unshare(*flags, host=None):
    """A prefix running a command in new namespaces, not as their pid 1 (`sh` is; `; :` stops its exec),
    so that its pid in there means nothing outside; skips the test where unshare is not permitted."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", *flags, "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare {' '.join(flags)} is not permitted here: {probe.stderr.decode().strip()}")
    rename = f"hostname {host} && " if host else ""
    return ["unshare", *flags, "--fork", "sh", "-c", rename + '"$@"; :', "sh"]


def _finish(child, out):
    Path(str(out).rstrip("/") + ".go").touch()
    assert child.wait(timeout=60) == 0
    os.unlink(str(out).rstrip("/") + ".go")


def test_a_live_writers_temp_survives_a_sweep_and_a_killed_ones_goes(tmp_path):
    live = _writer(tmp_path / "live.mp4", "wait")
    killed = _writer(tmp_path / "killed.gif", "kill")
    assert killed.wait(timeout=60) == -signal.SIGKILL
    (stale,) = [name for name in _hidden(tmp_path) if name.startswith(".killed.tmp-")]
    assert _sweep_elsewhere(tmp_path) == [stale]
    _finish(live, tmp_path / "live.mp4")
    assert sorted(os.listdir(tmp_path)) == ["live.mp4"] and (tmp_path / "live.mp4").stat().st_size > 1000


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK])
def test_a_file_system_without_flock_still_gets_whole_outputs_and_keeps_a_writers_temp(tmp_path, monkeypatch, code):
    """Lustre mounted without `-o flock` answers every flock with ENOSYS (some FUSE file systems EOPNOTSUPP,
    NFS whose lock manager is unreachable ENOLCK): writing there used to fail every output ("function not
    implemented") and leave its temp behind for good. The temp is written unlocked instead, and a sweep,
    which cannot lock it either, cannot tell a live writer from a dead one, so it leaves it alone."""
    def no_flock(fd, operation):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.fcntl, "flock", no_flock)
    with files.atomic_write(tmp_path / "out.bin") as fh:
        fh.write(b"data")
    assert os.listdir(tmp_path) == ["out.bin"] and (tmp_path / "out.bin").read_bytes() == b"data"
    live = [files.new_temp(tmp_path / "clip.mp4"), files.new_temp(tmp_path / "frames", directory=True)]
    files._cleaned.discard(str(tmp_path))
    assert files.clean_stale_temps(tmp_path) == [] and all(os.path.lexists(tmp) for tmp in live)
    for tmp in live:
        files.discard(tmp)
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_lock_that_fails_otherwise_leaves_no_temp_behind(tmp_path, monkeypatch):
    """Any other flock failure fails the write, as one line naming the output, without the empty temp it
    had made: unlocked, no later sweep would ever remove it."""
    def broken_flock(fd, operation):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files.fcntl, "flock", broken_flock)
    with pytest.raises(InterpError, match="out.bin: "):
        with files.atomic_write(tmp_path / "out.bin") as fh:
            fh.write(b"data")
    assert os.listdir(tmp_path) == []


# A process that claims OUT (files.claimed), says "ready", then waits for "go" or is SIGKILLed.
CLAIMER = """
import os, signal, sys, time
from pathlib import Path
from interp_cli import files
out, action = sys.argv[1], sys.argv[2]
with files.claimed(out) as mine:
    assert mine
    Path(out + ".ready").touch()
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while not Path(out + ".go").exists():
        time.sleep(0.02)
"""


# A process that claims OUT in turn (files.claimed_in_turn), says "ready", then shows progress (as a tuning step
# does) every 0.1 s until "go".
CLAIMER_IN_TURN = """
import sys, time
from pathlib import Path
from interp_cli import files
out = sys.argv[1]
with files.claimed_in_turn(out) as waited:
    assert not waited
    Path(out + ".ready").touch()
    while not Path(out + ".go").exists():
        files.show_progress()
        time.sleep(0.1)
"""


def _claimer(out: Path, action: str, script: str = CLAIMER) -> subprocess.Popen:
    """A process that has claimed `out` (under umask 022: its claim is 644) and then waits for `out`.go, or
    ("kill") kills itself while holding it."""
    child = subprocess.Popen([sys.executable, "-c", script, str(out), action], umask=0o022)
    deadline = time.monotonic() + 60
    while not os.path.exists(f"{out}.ready"):
        assert child.poll() is None or action == "kill", "the claimer did not start"
        assert time.monotonic() < deadline, "the claimer did not start"
        time.sleep(0.02)
    os.unlink(f"{out}.ready")
    return child


def test_a_live_claim_is_refused_to_another_process_and_a_killed_claimers_is_taken_over(tmp_path):
    """One worker at a time makes a batch row: a second process is told the row is claimed while the first
    lives (a sweep leaves the claim alone), and takes it over once the first was killed; the claim is gone
    after each block, and a name of its form is no output name."""
    out = tmp_path / "row.gif"
    for action in ("wait", "kill"):
        child = _claimer(out, action)
        (claim,) = _hidden(tmp_path)
        assert claim.startswith(".row.claim-") and claim.endswith(".gif") and files.temp_like(claim) == claim
        if action == "wait":
            assert _sweep_elsewhere(tmp_path) == []
            started = time.monotonic()
            with files.claimed(out) as mine:
                assert mine is False
            assert time.monotonic() - started < 30  # told at once, not after the row (only against a hang)
            # Refused, this process leaves the live claimer's claim where it is: removed, a third worker would
            # take the row while the first still makes it.
            assert _hidden(tmp_path) == [claim]
            Path(f"{out}.go").touch()
            assert child.wait(timeout=60) == 0
            os.unlink(f"{out}.go")
        else:
            assert child.wait(timeout=60) == -signal.SIGKILL
            with files.claimed(out) as mine:
                assert mine is True and _hidden(tmp_path) == [claim]  # the same name, now this process's
        assert os.listdir(tmp_path) == []


def test_a_claim_in_turn_waits_for_a_live_claimer_names_it_and_takes_the_claim_when_it_ends(tmp_path):
    """Two processes making one thing (a tuned-weights entry): the second waits while the first lives, told once
    who holds it (its pid and host, as the claimer wrote them), and takes the claim when the first is done or is
    killed (its lock goes with it; its claim file is taken over). Unheld, the claim is taken at once, unwaited."""
    out = tmp_path / "entry.pt"
    with files.claimed_in_turn(out, waiting=lambda holder: pytest.fail(f"waited for {holder}")) as waited:
        assert waited is False and files.claim_holder(out) == (os.getpid(), platform.node())
    assert os.listdir(tmp_path) == [] and files.claim_holder(out) is None
    for end in ("done", "killed"):
        child = _claimer(out, "wait")
        (claim,) = _hidden(tmp_path)
        said, taken = [], []

        def wait_for_it(said: list = said, taken: list = taken) -> None:
            with files.claimed_in_turn(out, waiting=said.append) as waited:
                taken.append((waited, _hidden(tmp_path), files.claim_holder(out)))

        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        deadline = time.monotonic() + 60
        while not said:
            assert time.monotonic() < deadline and waiter.is_alive(), "the waiter never waited"
            time.sleep(0.02)
        time.sleep(0.5)  # a few looks more: still waiting, and only one line said
        assert said == [(child.pid, platform.node())] and taken == [] and waiter.is_alive()
        if end == "done":
            Path(f"{out}.go").touch()
            assert child.wait(timeout=60) == 0
            os.unlink(f"{out}.go")
        else:
            child.kill()
            assert child.wait(timeout=60) == -signal.SIGKILL
        waiter.join(timeout=60)
        assert not waiter.is_alive() and taken == [(True, [claim], (os.getpid(), platform.node()))]
        assert os.listdir(tmp_path) == []


# A process that waits for OUT's claim in turn with `stall` seconds (argv 3), saying on stdout whom it waits for, whom
# it found stalled, and who holds the claim in its block (touching OUT.NAME then), where it shows progress until "done".
TAKER = """
import sys, time
from pathlib import Path
from interp_cli import files
out, name, stall = sys.argv[1], sys.argv[2], float(sys.argv[3])
say = lambda *words: print(*words, flush=True)
with files.claimed_in_turn(out, waiting=lambda holder: say("waiting", *holder), stall=stall,
                           stalled=lambda holder, seconds: say("stalled", *holder)) as waited:
    say("in", waited, *(files.claim_holder(out) or ("none",)))
    Path(out + "." + name).touch()
    while not Path(out + ".done").exists():
        files.show_progress()
        time.sleep(0.1)
"""


def _until(path: Path, *processes: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert all(process.poll() is None for process in processes), "a process ended early"
        assert time.monotonic() < deadline, f"{path.name} never came"
        time.sleep(0.02)


def test_a_suspended_holders_claim_is_taken_over_so_a_third_process_waits_for_the_live_taker(tmp_path):
    """A waiter that outwaited a suspended holder ran without a claim, so a third process coming meanwhile waited for
    the suspended one again, its whole bound, and then made the thing a third time. Now the waiter takes the claim
    over (a new claim file renamed over the name, under a lock of the claim's own): the third waits for the taker,
    shows no stall while the taker shows progress, and takes the claim when the taker ends. The old holder, resumed,
    ends as usual without removing the taker's claim."""
    out = tmp_path / "entry.pt"
    holder = _claimer(out, "beat", CLAIMER_IN_TURN)
    (claim,) = _hidden(tmp_path)
    here = platform.node()
    run = [sys.executable, "-c", TAKER, str(out)]
    holder.send_signal(signal.SIGSTOP)
    try:
        taker = subprocess.Popen([*run, "taker", "1.5"], stdout=subprocess.PIPE, text=True)
        _until(tmp_path / "entry.pt.taker", taker)
        assert files.claim_holder(out) == (taker.pid, here) and _hidden(tmp_path) == [claim]
        third = subprocess.Popen([*run, "third", "1.5"], stdout=subprocess.PIPE, text=True)
        time.sleep(5)  # over three times its `stall`: the taker shows progress throughout
        assert third.poll() is None and not (tmp_path / "entry.pt.third").exists()
    finally:
        holder.send_signal(signal.SIGCONT)
    Path(f"{out}.go").touch()
    assert holder.wait(timeout=60) == 0
    assert files.claim_holder(out) == (taker.pid, here) and _hidden(tmp_path) == [claim]  # left to its taker
    Path(f"{out}.done").touch()
    taker_said, _ = taker.communicate(timeout=60)
    third_said, _ = third.communicate(timeout=60)
    assert taker.returncode == 0 and third.returncode == 0
    assert taker_said.splitlines() == [f"waiting {holder.pid} {here}", f"stalled {holder.pid} {here}",
                                       f"in True {taker.pid} {here}"]
    assert third_said.splitlines() == [f"waiting {taker.pid} {here}", f"in True {third.pid} {here}"]
    assert _hidden(tmp_path) == []


HOLDER_IN_A_DAEMON_THREAD = """
import sys, threading, time
from pathlib import Path
from interp_cli import files
out = sys.argv[1]
def hold():
    with files.claimed_in_turn(out):
        Path(out + ".ready").touch()
        while True:
            files.show_progress()
            time.sleep(0.1)
threading.Thread(target=hold, daemon=True).start()
while not Path(out + ".go").exists():
    time.sleep(0.05)
"""


def test_a_resumed_holder_exiting_with_its_claim_still_held_leaves_its_takers_claim(tmp_path):
    """A Python caller's daemon thread still inside `claimed_in_turn` when the process exits: the exit's settling
    (`_settle_at_exit`) removed the claim by name, and after a takeover the name is the taker's, so a third process
    would no longer wait for the live taker. Now a claim is removed at exit only while the name leads to its own."""
    out = tmp_path / "entry.pt"
    holder = _claimer(out, "", HOLDER_IN_A_DAEMON_THREAD)
    holder.send_signal(signal.SIGSTOP)
    taken, done = [], threading.Event()

    def take_over() -> None:
        with files.claimed_in_turn(out, stall=0.5) as waited:
            taken.append((waited, files.claim_holder(out)))
            done.wait(timeout=120)

    taker = threading.Thread(target=take_over)
    taker.start()
    try:
        deadline = time.monotonic() + 60
        while not taken:
            assert time.monotonic() < deadline and taker.is_alive(), "the stalled claim was never taken over"
            time.sleep(0.02)
    finally:
        holder.send_signal(signal.SIGCONT)
    Path(f"{out}.go").touch()
    try:
        assert holder.wait(timeout=60) == 0
        assert taken == [(True, (os.getpid(), platform.node()))]
        assert files.claim_holder(out) == (os.getpid(), platform.node())  # still the taker's: a third waits for it
    finally:
        done.set()
        taker.join(timeout=60)
    assert os.listdir(tmp_path) == [f"{out.name}.go"]


def test_a_holder_stopped_for_an_hour_is_taken_over_at_once_but_a_running_one_with_an_old_stamp_is_waited_for(
        tmp_path):
    """A waiter coming to a holder suspended for hours waited the whole bound (900 s for --tune) from its first look.
    Now, where the holder is a stopped process of this host (its stamp as old as its last step, one clock), the time
    since that stamp counts: taken over at once. A holder that runs (after a laptop's sleep its stamp is as old) is
    still counted from the first look. The hour is set on the claim's stamp, as an hour stopped would leave it."""
    out = tmp_path / "entry.pt"
    for stopped in (True, False):
        holder = _claimer(out, "wait")  # a claim that shows no progress of its own
        (claim,) = _hidden(tmp_path)
        os.utime(tmp_path / claim, (time.time() - 3600,) * 2)
        if stopped:
            holder.send_signal(signal.SIGSTOP)
        taken = []

        def wait_for_it(taken: list = taken) -> None:
            with files.claimed_in_turn(out, stall=60.0) as waited:
                taken.append((waited, files.claim_holder(out)))

        waiter = threading.Thread(target=wait_for_it)
        started = time.monotonic()
        waiter.start()
        try:
            waiter.join(timeout=20 if stopped else 4)
            if stopped:
                assert taken == [(True, (os.getpid(), platform.node()))] and time.monotonic() - started < 20
            else:
                assert waiter.is_alive() and taken == []  # the running holder's stamp counts for nothing
        finally:
            holder.send_signal(signal.SIGCONT)
        Path(f"{out}.go").touch()
        assert holder.wait(timeout=60) == 0
        waiter.join(timeout=60)
        assert not waiter.is_alive() and os.listdir(tmp_path) == [f"{out.name}.go"]
        os.unlink(f"{out}.go")


def test_a_claim_in_turn_outwaits_a_holder_that_shows_progress_but_not_a_suspended_one(tmp_path):
    """A holder that is alive but suspended (SIGSTOP: Ctrl-Z, a cluster's pre-emption) kept its lock, and a waiter
    waited forever. Now a waiter given `stall` seconds waits as long as the holder shows progress (`show_progress`,
    here every 0.1 s, for several times `stall`), and once it shows none for `stall` seconds, says so once (who, how
    long) and runs its block holding the claim it took over; the holder, resumed, ends as usual and leaves the taker's
    claim alone."""
    out = tmp_path / "entry.pt"
    child = _claimer(out, "beat", CLAIMER_IN_TURN)
    (claim,) = _hidden(tmp_path)
    said, stalled, taken = [], [], []

    def wait_for_it() -> None:
        with files.claimed_in_turn(out, waiting=said.append, stall=2.0,
                                   stalled=lambda holder, seconds: stalled.append((holder, seconds))) as waited:
            taken.append((waited, time.monotonic(), _hidden(tmp_path)))

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    try:
        time.sleep(6)  # three times `stall`, the holder showing progress throughout
        assert said == [(child.pid, platform.node())] and stalled == [] and taken == [] and waiter.is_alive()
        child.send_signal(signal.SIGSTOP)
        suspended = time.monotonic()
        waiter.join(timeout=60)
        assert not waiter.is_alive()
    finally:
        child.send_signal(signal.SIGCONT)
    (holder, seconds), = stalled
    assert holder == (child.pid, platform.node()) and 2.0 <= seconds < 30
    (waited, at, hidden), = taken
    assert waited is True and at - suspended >= 1.8 and hidden == [claim]  # its last step at most 0.1 s before
    assert child.poll() is None and _hidden(tmp_path) == []  # the taker's claim, removed by it; the holder's unlinked
    Path(f"{out}.go").touch()
    assert child.wait(timeout=60) == 0
    os.unlink(f"{out}.go")
    assert os.listdir(tmp_path) == []


ASKER = "import sys; from interp_cli import files\nwith files.claimed(sys.argv[1]) as mine: print(mine)"


def _another_user() -> list[str]:
    """A prefix running a command as another user (nobody) who may read and search any folder, as root may, but
    write only where modes let it: it reaches this interpreter and the tests' folders, and cannot write root's
    644 files. Skips where the tests do not run as root or setpriv cannot."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to run a command as another user")
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+dac_read_search",
              "--ambient-caps=-all,+dac_read_search"]
    if subprocess.run([*prefix, sys.executable, "-c", ""], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("setpriv cannot run a command as another user here")
    return prefix


def test_another_users_live_claim_is_honoured_though_it_cannot_be_written(tmp_path):
    """Two users' workers on the same rows in one shared folder: the second may read the first's claim (644) but
    not open it for writing. It is told the row is claimed while the first lives, and goes on (True) once the first
    is dead, leaving the dead one's claim, not its to remove. Before, a claim it could not write was "nothing to
    claim with": it made the row again beside the live worker, and in a sticky folder failed at the end
    ("operation not permitted"), the other's output being another user's."""
    as_another = _another_user()
    out = tmp_path / "row.gif"
    for action in ("wait", "kill"):
        child = _claimer(out, action)
        (claim,) = _hidden(tmp_path)
        assert os.stat(tmp_path / claim).st_mode & 0o777 == 0o644
        if action == "kill":
            assert child.wait(timeout=60) == -signal.SIGKILL
        asked = subprocess.run([*as_another, sys.executable, "-c", ASKER, str(out)], capture_output=True, text=True,
                               timeout=60)
        assert (asked.returncode, asked.stdout, asked.stderr) == (0, f"{action == 'kill'}\n", "")
        assert _hidden(tmp_path) == [claim]  # a live claimer's, or a dead one's not nobody's to remove
        if action == "wait":
            Path(f"{out}.go").touch()
            assert child.wait(timeout=60) == 0
            os.unlink(f"{out}.go")
        else:
            os.unlink(tmp_path / claim)
        assert os.listdir(tmp_path) == []


def test_where_nothing_can_be_claimed_the_caller_goes_on(tmp_path, monkeypatch):
    """No flock (Lustre without `-o flock`) or no folder to write the claim in: the row is made as before."""
    monkeypatch.setattr(files.fcntl, "flock", lambda fd, op: (_ for _ in ()).throw(OSError(errno.ENOSYS, "no")))
    with files.claimed(tmp_path / "row.gif") as mine:
        assert mine is True
    assert os.listdir(tmp_path) == []
    with files.claimed(tmp_path / "missing" / "row.gif") as mine:
        assert mine is True
    assert os.listdir(tmp_path) == []


def test_writers_in_other_pid_namespaces_keep_their_temps(tmp_path):
    """Same host name, separate PID namespaces (host-network pods, `unshare --pid`): each writer's pid
    means nothing to the other, so only the lock can tell that the temps are alive."""
    prefix = _unshare("--pid")
    outputs = [tmp_path / "a.mp4", tmp_path / "b.gif", tmp_path / "frames/"]
    writers = [_writer(out, "wait", prefix) for out in outputs]
    temps = _hidden(tmp_path)
    assert len(temps) >= 3  # two files and a folder (and its lock file)
    # The sweeper is pid 1 of its namespace, each writer pid 2 of its own: pid 2 is dead over there.
    assert _sweep_elsewhere(tmp_path, _unshare("--pid")[:3]) == []
    assert _hidden(tmp_path) == temps
    for child, out in zip(writers, outputs):
        _finish(child, out)
    assert sorted(os.listdir(tmp_path)) == ["a.mp4", "b.gif", "frames"]
    assert len(os.listdir(tmp_path / "frames")) == 8


def test_a_killed_writers_temps_go_whatever_its_host_name(tmp_path):
    """A retried pod gets a new host name: the next run removes the dead one's temps all the same."""
    prefix = _unshare("--pid", "--uts", host="writer-on-another-host")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    for out in (tmp_path / "one/a.mp4", tmp_path / "two/frames/"):
        assert _writer(out, "kill", prefix).wait(timeout=60) == 0  # sh outlives the SIGKILLed writer
    left = _hidden(tmp_path / "one") + _hidden(tmp_path / "two")
    assert len(left) == 3  # the MP4's temp, the frames' temp folder and its lock file
    assert sorted(_sweep_elsewhere(tmp_path / "one") + _sweep_elsewhere(tmp_path / "two")) == sorted(left)
    assert os.listdir(tmp_path / "one") == os.listdir(tmp_path / "two") == []


def test_a_dead_writers_folder_is_reported_once_whichever_is_listed_first(tmp_path, monkeypatch):
    # The sweep removes a temp folder when it takes its lock file: listed before the folder (the order
    # is the file system's), the folder was then "removed" a second time and reported twice.
    folder, lock = tmp_path / ".frames.tmp-0123456789abcdef", tmp_path / ".frames.tmp-0123456789abcdef.lock"
    folder.mkdir()
    (folder / "frame_0000.png").write_bytes(b"x")
    lock.write_bytes(b"")  # its writer is dead: nobody holds the lock
    listing = os.scandir

    def lock_first(path="."):  # the swept folder only (shutil.rmtree lists through os.scandir too)
        if not isinstance(path, str) or path != str(tmp_path):
            return listing(path)
        return iter(sorted(listing(path), key=lambda entry: not entry.name.endswith(".lock")))

    monkeypatch.setattr(files.os, "scandir", lock_first)
    files._cleaned.discard(str(tmp_path))
    assert sorted(files.clean_stale_temps(tmp_path)) == [folder, lock]
    assert os.listdir(tmp_path) == []


def test_clean_stale_temps_touches_nothing_else(tmp_path):
    keep = [".hidden", "out.tmp-123.mp4", ".out.tmp-zz-1-12345678.mp4", ".out.tmp-0123456789abcdef.mp4",
            "photo.png"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    os.mkfifo(tmp_path / ".f.tmp-0123456789abcdef.gif")  # never opened for long, never removed
    (tmp_path / ".out.tmp-0123456789abcdef.mp4").unlink()
    (tmp_path / ".link.tmp-0123456789abcdef.gif").symlink_to(tmp_path / "photo.png")
    keep = [name for name in keep if "0123" not in name] + [".f.tmp-0123456789abcdef.gif",
                                                            ".link.tmp-0123456789abcdef.gif"]
    ours = files.new_temp(tmp_path / "x.gif")  # ours, alive
    files._cleaned.discard(str(tmp_path))
    assert files.clean_stale_temps(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted([*keep, ours.name])
    files.discard(ours)


def test_clean_stale_temps_puts_back_frames_moved_aside(tmp_path):
    code = """
import os, signal, sys
from interp_cli import files
old = files.claim_temp(sys.argv[1] + "/shots", "old", directory=True, create=False)
os.rename(sys.argv[1] + "/shots", old)
os.kill(os.getpid(), signal.SIGKILL)
"""
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "frame_0000.png").write_bytes(b"x")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=60)
    assert len(_hidden(tmp_path)) == 2 and not (tmp_path / "shots").exists()
    files.clean_stale_temps(tmp_path)
    assert os.listdir(tmp_path) == ["shots"] and os.listdir(tmp_path / "shots") == ["frame_0000.png"]


def test_ffmpeg_writes_the_very_file_we_hold_locked(tmp_path, monkeypatch):
    """ffmpeg opens the temp by name (and rereads it for +faststart): it must not replace the file,
    or our lock would sit on an orphaned inode while the sweep saw an unlocked temp."""
    from interp_cli import frame_writer, write

    seen = []
    real_commit = frame_writer.commit

    def checking_commit(tmp, target):
        fd, locked = files._held[os.fspath(tmp)]
        seen.append(files._same_inode(fd, tmp) and locked == os.fspath(tmp))
        real_commit(tmp, target)

    monkeypatch.setattr(frame_writer, "commit", checking_commit)  # where FrameWriter commits
    with write.open_writer(tmp_path / "a.mp4", fps=10) as writer:
        for _ in range(5):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert seen == [True] and files._held == {}


def test_sha256_of_and_same_file(tmp_path):
    a = tmp_path / "a.png"
    a.write_bytes(b"abc")
    assert sha256_record.sha256_of(a) == hashlib.sha256(b"abc").hexdigest()
    (tmp_path / "link.png").symlink_to(a)
    os.link(a, tmp_path / "hard.png")
    (tmp_path / "copy.png").write_bytes(b"abc")
    assert files.same_file(a, tmp_path / "link.png") and files.same_file(a, tmp_path / "hard.png")
    assert not files.same_file(a, tmp_path / "copy.png")
    assert not files.same_file(a, tmp_path / "missing.png")


def test_an_input_that_is_no_regular_file_is_named_for_what_it_is(tmp_path):
    """Each path an input cannot be is refused in its own words, naming it, as an InputError (exit 2) with its
    path: a folder, a FIFO (stat()ed, never opened: opening one blocks until something writes), a device, a socket,
    a missing file and one under a file. A photo passes and is named as given."""
    import socket

    photo = tmp_path / "a.png"
    photo.write_bytes(b"x")
    os.mkfifo(tmp_path / "pipe.png")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.png"))
    try:
        expected = {
            tmp_path: "is a directory, not an image",
            tmp_path / "pipe.png": "is a FIFO (named pipe), not a regular file",
            Path(os.devnull): "is a device, not a regular file",
            tmp_path / "sock.png": "is a socket or other special file, not a regular file",
            tmp_path / "missing.png": "no such file",
            photo / "b.png": "no such file (a parent is not a directory)",
        }
        for path, said in expected.items():
            with pytest.raises(InterpError) as caught:
                files.check_input_file(path, "an image")
            assert (str(caught.value), caught.value.exit_code, caught.value.path) == (f"{path}: {said}", 2, str(path))
    finally:
        server.close()
    assert files.check_input_file(photo) == str(photo)


def test_too_long_name_counts_the_temp_name_on_the_last_part(tmp_path):
    room = os.pathconf(tmp_path, "PC_NAME_MAX") - files.TEMP_NAME_EXTRA
    assert files.too_long_name("a" * room, tmp_path) is None
    assert files.too_long_name("a" * (room + 1), tmp_path) is not None
    # The longest name taken can be written under each temp it is made in first (a frames folder's, with its lock
    # file; the old frames moved aside; a batch row's claim): a byte too few counted failed at the write instead.
    longest = tmp_path / ("a" * room)
    for made in (files.new_temp(longest, directory=True), files.claim_temp(longest, "old", directory=True)):
        files.discard(made)
    with files.claimed(longest) as mine:
        assert mine is True and len(_hidden(tmp_path)) == 1
    assert os.listdir(tmp_path) == []
    assert files.too_long_name(f"{'d' * (room + 1)}/x.gif", tmp_path) is None  # a folder has no temp name
    assert files.too_long_name(f"{'d' * 300}/x.gif", tmp_path) is not None


def test_a_sheet_onto_an_input_names_the_option(tmp_path, monkeypatch):
    # It said "a.png: is the input a.png", as if -o were the one at fault; a clash between outputs says --sheet.
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.chdir(tmp_path)
    shutil.copy(examples / "demo_a.png", "a.png")
    result = cli_runner().invoke(cli, ["a.png", str(examples / "demo_b.png"), "--weights", "demo", "--steps", "3",
                                       "-o", "s.gif", "--sheet", "a.png"])
    assert result.exit_code == 2
    assert result.stderr == "interp: error: --sheet a.png: is the input a.png; choose another output name\n"
    from interp_cli import pipeline  # the Python API's refusal reads the same, in its keywords
    from interp_cli.errors import UsageError

    with pytest.raises(UsageError, match=r'^sheet="a\.png": is the input a\.png;'):
        pipeline.morph(["a.png", examples / "demo_b.png"], "s.gif", sheet="a.png", weights="demo")
    assert sorted(os.listdir()) == ["a.png"]


def test_a_frames_folder_holding_an_input_is_refused_and_the_input_kept(tmp_path, monkeypatch):
    """`-o frames/` where frames/ holds an input: the frames output replaces the folder, which would delete the
    photo. Refused before anything is made, naming both, as is a --sheet written over an input (a hard link too);
    the photo is where it was. No test made a frames output of an input's own folder."""
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.chdir(tmp_path)
    os.mkdir("frames")
    shutil.copy(examples / "demo_a.png", "frames/a.png")
    os.link("frames/a.png", "linked.png")
    for output, said in [("frames/", "frames/: this directory holds the input frames/a.png; choose another output"),
                         ("frames", "frames: this directory holds the input frames/a.png; choose another output")]:
        result = cli_runner().invoke(cli, ["frames/a.png", str(examples / "demo_b.png"), "--weights", "demo",
                                           "--steps", "3", "-o", output])
        assert (result.exit_code, result.stderr) == (2, f"interp: error: {said}\n")
    result = cli_runner().invoke(cli, ["frames/a.png", str(examples / "demo_b.png"), "--weights", "demo", "--steps",
                                       "3", "-o", "m.gif", "--sheet", "linked.png"])
    assert (result.exit_code, result.stderr) == (
        2, "interp: error: --sheet linked.png: is the input frames/a.png; choose another output name\n")
    assert sorted(os.listdir()) == ["frames", "linked.png"] and os.listdir("frames") == ["a.png"]
    assert Path("frames/a.png").read_bytes() == (examples / "demo_a.png").read_bytes()


def _file_system_type(path: Path) -> str | None:
    """The type of the file system `path` lies on, from the kernel's own table (the longest mount point above it)."""
    best, kind = "", None
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            fields = line.split()
            point, fstype = fields[4].replace("\\040", " "), fields[fields.index("-") + 1]
            if (str(path) == point or str(path).startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, fstype
    return kind


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="project IDs are read with a Linux ioctl")
def test_project_id_reads_a_folders_project_where_its_file_system_keeps_one(tmp_path):
    """What a batch tells a project quota's folder by: ext4 and XFS answer FS_IOC_FSGETXATTR, a folder in no project
    is 0; /proc, which keeps none, and a missing folder give None, never an error."""
    kind = _file_system_type(tmp_path.resolve())
    if kind in ("ext4", "xfs"):
        assert files.project_id(tmp_path) == 0
    assert files.project_id("/proc") is None and files.project_id(tmp_path / "missing") is None


# A real SIGTERM whose handler (a Python caller's) raises, landing inside a call as it returns (tests/races.py): the
# moment between a descriptor being opened or a lock taken and the code that lets it go having it in hand.


def test_a_stop_as_a_claim_is_taken_leaves_no_claim_behind(tmp_path):
    """Landing as the claim's lock was taken: the claim file stayed beside the row, locked by the caller's process
    for the rest of its life, so every later worker (and the caller's own next batch) skipped the row as a live
    worker's. Now the claim is gone with the stop, and the next claimer has it at once."""
    import fcntl

    from tests.races import Stopped, stop_inside

    out = tmp_path / "row.gif"
    with stop_inside(fcntl, "flock"), pytest.raises(Stopped):
        with files.claimed(out):
            pytest.fail("the block ran")
    assert os.listdir(tmp_path) == []
    with files.claimed(out, wait=0) as mine:
        assert mine is True
    assert os.listdir(tmp_path) == []


def test_a_stop_as_a_sweep_locks_a_dead_writers_temp_leaves_it_to_the_next_sweep(tmp_path):
    """Landing as a sweep took a dead writer's temp's lock to judge it: the caller's process held that lock for the
    rest of its life, so every other run's sweep took the temp for a live writer's and left it. Now the lock goes
    with the stop, and the next sweep removes the temp."""
    import fcntl

    from tests.races import Stopped, stop_inside

    dead = files.temp_name(tmp_path / "m.gif")
    dead.touch()  # no one holds its lock: a killed writer's
    with stop_inside(fcntl, "flock"), pytest.raises(Stopped):
        files.clean_stale_temps(tmp_path)
    assert _sweep_elsewhere(tmp_path) == [dead.name]
    assert os.listdir(tmp_path) == []


def test_a_stop_as_a_shared_files_lock_is_opened_leaves_no_descriptor_open(tmp_path):
    """Landing as `held_lock` opened `<file>.lock`: the descriptor stayed open in the caller's process, one more
    for each stop. Now it is closed with the stop (the lock file itself is left, as always)."""
    from tests.races import Stopped, stop_inside

    def descriptors():
        return sorted(os.listdir("/proc/self/fd"))

    before = descriptors()
    target = tmp_path / "records.json"
    with stop_inside(os, "open", lambda path, *args, **kwargs: os.fspath(path).endswith(".lock")), \
            pytest.raises(Stopped):
        with files.held_lock(target, wait=0):
            pytest.fail("the block ran")
    assert descriptors() == before
    assert os.listdir(tmp_path) == ["records.json.lock"]


@pytest.mark.parametrize("how", ["atomic_write", "StagedFile"])
def test_a_stop_as_a_temp_is_made_for_a_whole_write_leaves_none_while_the_caller_goes_on(tmp_path, how):
    """Landing as `new_temp` returned, before the writer had the temp's name in hand: the hidden temp stayed
    beside the target, locked, for as long as the caller's process lived (only its exit settled it). Now it goes
    with the stop, and the target is untouched."""
    from tests.races import Stopped, stop_inside

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with stop_inside(files, "new_temp"), pytest.raises(Stopped):
        if how == "atomic_write":
            with files.atomic_write(target) as fh:
                fh.write(b"new")
        else:
            files.StagedFile(target, b"new")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"old"


def test_a_stop_as_an_outputs_folders_are_made_leaves_none(tmp_path):
    """A command's small outputs (a --sheet in a new folder) get their folders made at commit, and removed again
    if the commit fails. A stop landing as a folder was made (before it was listed as made here) left the empty
    folders behind. Now they go with the stop (a real SIGTERM, landing as `os.mkdir` returns)."""
    from tests.races import Stopped, stop_inside

    outputs = files.Outputs()
    outputs.later(tmp_path / "new" / "deeper" / "sheet.png", b"a sheet")
    with stop_inside(os, "mkdir"), pytest.raises(Stopped):
        outputs.commit()
    assert os.listdir(tmp_path) == []


def test_a_command_that_fails_after_an_output_is_finished_leaves_the_old_outputs_and_no_temp(tmp_path):
    """`Outputs` moves a command's outputs into place together or not at all: a video finished in its temp and a
    sheet still to write, then a failure (an error in the block: the next photo unreadable) leaves the old video
    and nothing new beside it. An output finished but never committed left its hidden temp beside the old one."""
    video = tmp_path / "m.gif"
    video.write_bytes(b"old")
    with pytest.raises(InterpError, match="the next photo"):
        with files.Outputs() as outputs:
            outputs.add(files.StagedFile(video, b"new"))
            outputs.later(tmp_path / "sheets" / "m.png", b"a sheet")
            raise InterpError("the next photo could not be read")
    assert os.listdir(tmp_path) == ["m.gif"] and video.read_bytes() == b"old"
    with files.Outputs() as outputs:  # and without the failure, both are written
        outputs.add(files.StagedFile(video, b"new"))
        outputs.later(tmp_path / "sheets" / "m.png", b"a sheet")
        outputs.commit()
    assert video.read_bytes() == b"new" and (tmp_path / "sheets" / "m.png").read_bytes() == b"a sheet"
    assert sorted(os.listdir(tmp_path)) == ["m.gif", "sheets"]


def test_arrays_kept_out_of_memory_come_back_as_they_went_in_any_order_and_leave_nothing(tmp_path, monkeypatch):
    """ArraySpill (the frames a morph replays, the photos a --paste morph uses again): each array read back whole,
    with its shape and dtype, in any order and as often as asked, each a fresh copy; nothing named on the disk."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    rng = np.random.default_rng(0)
    put = {"frame": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), "code": rng.standard_normal((18, 512)),
           "empty": np.zeros((0, 3), np.float32), "crop": rng.standard_normal((2, 3)).astype(np.float32).T}
    with files.ArraySpill() as spill:
        for key, array in put.items():
            spill.put(key, array)
        assert os.listdir(tmp_path) == []
        for key in [*reversed(put), *put]:
            back = spill.get(key)
            assert back.dtype == put[key].dtype and np.array_equal(back, put[key]) and "code" in spill
            back[...] = 0  # a copy: the next read is whole again
        with pytest.raises(KeyError):
            spill.get("missing")
    assert "code" not in spill


def test_a_claim_is_made_as_any_file_is_so_a_groups_workers_can_take_each_others_over(tmp_path):
    """A batch's claim file is made 0666 minus the umask, as a temp is: workers of one group under umask 002 (a shared
    project's folder) open each other's claims to take over a killed one's. A mode of 0665 passed every file."""
    old = os.umask(0o002)
    try:
        with files.claimed(tmp_path / "row.gif") as mine:
            (claim,) = _hidden(tmp_path)
            assert mine is True and os.stat(tmp_path / claim).st_mode & 0o777 == 0o664
        temp = files.new_temp(tmp_path / "out.bin")
        assert os.stat(temp).st_mode & 0o777 == 0o664
        files.discard(temp)
    finally:
        os.umask(old)


@pytest.mark.parametrize("before, after", [(0o600, 0o600), (0o640, 0o640), (0o4750, 0o750)])
def test_a_file_written_again_keeps_its_permission_bits_but_no_set_id_bit(tmp_path, before, after):
    """A clip kept private (0600) or shared with a group (0640) stays so when it is written again, as `cp` and a
    shell's `>` keep it; a set-user-id bit is not carried onto new content. Only test_outputs' morphs checked it."""
    target = tmp_path / "m.gif"
    target.write_bytes(b"old")
    os.chmod(target, before)
    with files.atomic_write(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o7777 == after
