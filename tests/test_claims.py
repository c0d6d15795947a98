"""interp_cli.claims: one worker at a time makes a thing, a claim waited for in turn, a stalled holder taken over."""

from __future__ import annotations

import errno
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from interp_cli import claims, files
from tests.test_files import _hidden, _sweep_elsewhere


# A process that claims OUT (claims.claimed), says "ready", then waits for "go" or is SIGKILLed.
CLAIMER = """
import os, signal, sys, time
from pathlib import Path
from interp_cli import claims
out, action = sys.argv[1], sys.argv[2]
with claims.claimed(out) as mine:
    assert mine
    Path(out + ".ready").touch()
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while not Path(out + ".go").exists():
        time.sleep(0.02)
"""


# A process that claims OUT in turn (claims.claimed_in_turn), says "ready", then shows progress (as a tuning step
# does) every 0.1 s until "go".
CLAIMER_IN_TURN = """
import sys, time
from pathlib import Path
from interp_cli import claims
out = sys.argv[1]
with claims.claimed_in_turn(out) as waited:
    assert not waited
    Path(out + ".ready").touch()
    while not Path(out + ".go").exists():
        claims.show_progress()
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
            with claims.claimed(out) as mine:
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
            with claims.claimed(out) as mine:
                assert mine is True and _hidden(tmp_path) == [claim]  # the same name, now this process's
        assert os.listdir(tmp_path) == []


def test_a_claim_in_turn_waits_for_a_live_claimer_names_it_and_takes_the_claim_when_it_ends(tmp_path):
    """Two processes making one thing (a tuned-weights entry): the second waits while the first lives, told once
    who holds it (its pid and host, as the claimer wrote them), and takes the claim when the first is done or is
    killed (its lock goes with it; its claim file is taken over). Unheld, the claim is taken at once, unwaited."""
    out = tmp_path / "entry.pt"
    with claims.claimed_in_turn(out, waiting=lambda holder: pytest.fail(f"waited for {holder}")) as waited:
        assert waited is False and claims.claim_holder(out) == (os.getpid(), platform.node())
    assert os.listdir(tmp_path) == [] and claims.claim_holder(out) is None
    for end in ("done", "killed"):
        child = _claimer(out, "wait")
        (claim,) = _hidden(tmp_path)
        said, taken = [], []

        def wait_for_it(said: list = said, taken: list = taken) -> None:
            with claims.claimed_in_turn(out, waiting=said.append) as waited:
                taken.append((waited, _hidden(tmp_path), claims.claim_holder(out)))

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
from interp_cli import claims
out, name, stall = sys.argv[1], sys.argv[2], float(sys.argv[3])
say = lambda *words: print(*words, flush=True)
with claims.claimed_in_turn(out, waiting=lambda holder: say("waiting", *holder), stall=stall,
                           stalled=lambda holder, seconds: say("stalled", *holder)) as waited:
    say("in", waited, *(claims.claim_holder(out) or ("none",)))
    Path(out + "." + name).touch()
    while not Path(out + ".done").exists():
        claims.show_progress()
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
        assert claims.claim_holder(out) == (taker.pid, here) and _hidden(tmp_path) == [claim]
        third = subprocess.Popen([*run, "third", "1.5"], stdout=subprocess.PIPE, text=True)
        time.sleep(5)  # over three times its `stall`: the taker shows progress throughout
        assert third.poll() is None and not (tmp_path / "entry.pt.third").exists()
    finally:
        holder.send_signal(signal.SIGCONT)
    Path(f"{out}.go").touch()
    assert holder.wait(timeout=60) == 0
    assert claims.claim_holder(out) == (taker.pid, here) and _hidden(tmp_path) == [claim]  # left to its taker
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
from interp_cli import claims
out = sys.argv[1]
def hold():
    with claims.claimed_in_turn(out):
        Path(out + ".ready").touch()
        while True:
            claims.show_progress()
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
        with claims.claimed_in_turn(out, stall=0.5) as waited:
            taken.append((waited, claims.claim_holder(out)))
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
        assert claims.claim_holder(out) == (os.getpid(), platform.node())  # still the taker's: a third waits for it
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
            with claims.claimed_in_turn(out, stall=60.0) as waited:
                taken.append((waited, claims.claim_holder(out)))

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
        with claims.claimed_in_turn(out, waiting=said.append, stall=2.0,
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


ASKER = "import sys; from interp_cli import claims\nwith claims.claimed(sys.argv[1]) as mine: print(mine)"


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
    with claims.claimed(tmp_path / "row.gif") as mine:
        assert mine is True
    assert os.listdir(tmp_path) == []
    with claims.claimed(tmp_path / "missing" / "row.gif") as mine:
        assert mine is True
    assert os.listdir(tmp_path) == []


def test_a_stop_as_a_claim_is_taken_leaves_no_claim_behind(tmp_path):
    """Landing as the claim's lock was taken: the claim file stayed beside the row, locked by the caller's process
    for the rest of its life, so every later worker (and the caller's own next batch) skipped the row as a live
    worker's. Now the claim is gone with the stop, and the next claimer has it at once."""
    import fcntl

    from tests.races import Stopped, stop_inside

    out = tmp_path / "row.gif"
    with stop_inside(fcntl, "flock"), pytest.raises(Stopped):
        with claims.claimed(out):
            pytest.fail("the block ran")
    assert os.listdir(tmp_path) == []
    with claims.claimed(out, wait=0) as mine:
        assert mine is True
    assert os.listdir(tmp_path) == []


def test_files_settles_a_claim_at_exit_through_the_hook_claims_sets_never_importing_claims_back():
    """files.py is below claims.py: its exit hook imported `claims.let_go_claim` inside `_settle_at_exit`, a circle
    by hand. claims.py now puts it in `files.settle_at_exit`, and no import in files.py (nested ones included)
    names claims."""
    import ast

    tree = ast.parse(Path(files.__file__).read_text())
    named = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    named |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in named if name and name.split(".")[-1] == "claims"}, named
    assert files.settle_at_exit["claim"] is claims.let_go_claim
