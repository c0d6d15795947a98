"""Claims: one process at a time makes a thing (a batch row's output, a tuned entry); the others skip it or wait.

    with claimed("out.mp4") as mine:             # one worker at a time makes out.mp4 (a batch row); False:
        ...                                      # a live process holds its claim (`.out.claim-<hex>.mp4`)
    with claimed_in_turn("k.pt", waiting=f) as waited:  # the same claim, waited for while a live process holds
        ...                                      # it (f(claim_holder) said once): one process at a time makes k.pt
        show_progress()                          # each step of the work: a waiter given `stall=` s sees it live
    claim_holder("out.mp4") -> (pid, host) | None  # who holds a claim, as its claimer wrote in it

A claim file is a temp of `interp_cli.files` whose name every process computes alike, owned by its lock as every
temp is (see that module's doc): recorded in `files.held_temps`, so the sweep leaves it alone and an exit settles it
(`let_go_claim`, which this module puts in `files.settle_at_exit`: files.py never imports claims.py).
"""

from __future__ import annotations

import hashlib
import os
import platform
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from interp_cli.errors import InterpError
from interp_cli.files import (PathLike, claim_temp, discard, held_temps, lock_within, release, same_inode,
                              settle_at_exit, temp_name)
from interp_cli.stops import deferred

# How long a claim waits for a lock held only for a moment: a sweep judging the file, or a claimer that opened it
# first and is about to lock it. Longer than either; nothing like a row, which holds it for minutes.
_CLAIM_WAIT_SECONDS = 0.5


@contextmanager
def claimed(target: PathLike, *, wait: float = _CLAIM_WAIT_SECONDS) -> Iterator[bool]:
    """Claim the making of `target` for the block: yields False while another live process holds the claim (the
    caller leaves `target` to it), else True.

    Two workers given the same rows (a resubmitted array task, a requeued Slurm job whose first copy still
    runs) would otherwise both make each one. The claim is a file beside `target` whose name every worker
    computes alike, `.NAME.claim-<16 hex digits of NAME's hash>SUFFIX`, owned as a temp is (see the module
    doc): locked from creation, and removed, still locked, when the block ends. A claimer that died let go of
    its lock with its life, so the next one takes its claim over, or a sweep removes it as a dead writer's
    temp. Another user's claim that this process may read but not write is judged by its lock alone. Where
    nothing can be claimed (a folder this process cannot write in, a file system without flock, another user's
    claim that it cannot read, or a dead one's, not its to take over) it yields True: the caller goes on as before,
    whatever it then meets there is its own error, never a wait or a failure of the claim's.
    """
    path = _claim_path(target)
    key = os.fspath(path)
    ours = False
    try:
        # Taken and recorded as ours in one go (a stop waits at most `wait`, for a lock held a moment): a stop
        # between (a caller's SIGTERM handler's) left the claim file behind, locked by this process for its life,
        # so every later worker took the row for a live worker's.
        with deferred():
            free, fd = _take_claim(path, wait)
            if fd is not None:
                held_temps[key] = (fd, key)  # the sweep leaves it alone, an exit removes it
                ours = True
        yield free
    finally:
        if ours and key in held_temps:  # not where `claimed_in_turn` let go of it (a stalled holder's, taken over)
            discard(path)  # removed while still locked, then let go: a waiter sees the name lead elsewhere


def _claim_path(target: PathLike) -> Path:
    """The claim file of `target`, named alike by every process: `.NAME.claim-<16 hex digits of NAME's hash>SUFFIX`."""
    return temp_name(target, "claim", hashlib.sha256(os.fsencode(Path(os.fspath(target)).name)).hexdigest()[:16])


# How often a wait for another process's claim (`claimed_in_turn`) looks again: short beside the minutes of work a
# claim is held for, long beside the moment a look takes (an open, a flock tried, a close).
_CLAIM_POLL_SECONDS = 0.1


# The claims this thread holds in turn (`claimed_in_turn`), whose time stamps `show_progress` refreshes: a thread's
# own, so that a Python caller's threads tuning other keys each show only their own work.
_in_turn = threading.local()


@contextmanager
def claimed_in_turn(target: PathLike, *, waiting: Callable[[tuple[int, str] | None], None] | None = None,
                    stall: float | None = None,
                    stalled: Callable[[tuple[int, str] | None, float], None] | None = None) -> Iterator[bool]:
    """`claimed`, waited for: while another live process holds `target`'s claim, `waiting(claim_holder(target))` is
    called once and the claim is looked at again every `_CLAIM_POLL_SECONDS` until its holder lets go of it (done,
    failed, or killed: its lock goes with its life), then taken for the block. Yields whether it waited, so the
    block can look for what the other made. Where nothing can be claimed (see `claimed`: a folder this process
    cannot write in, a file system without flock) the block runs at once, as with no claim at all.

    A holder that is alive but never goes on (suspended: Ctrl-Z, SIGSTOP, a cluster's pre-emption) keeps its lock, so
    the wait would last forever. With `stall`, the holder shows its work goes on by calling `show_progress` (each
    step, which refreshes its claim's time stamp), and a waiter that sees the stamp unchanged for `stall` seconds of
    its own clock calls `stalled(claim_holder(target), seconds)` once and runs the block without the claim (yielding
    True). Its own monotonic clock, not the stamp's time: another host's clock may differ, and a laptop's sleep,
    which stops both, counts on neither. The waiter takes the stalled claim over (`_take_over`) where it can, so a
    third process waits for it, the live one, not for the suspended one again; else it runs the block without a
    claim. Either way the block makes the thing beside the holder, which must be made whole and atomically by
    either (an `atomic_write`), as the holder may go on later; resumed, it never removes its taker's claim.

    The wait sleeps with no stop held (`claimed` holds one for a single look): Ctrl-C or SIGTERM ends it at once.
    Nothing else is held meanwhile, so two waits never wait on each other: whoever holds a claim is working, not
    waiting (a batch's row claims are never waited for)."""
    waited = False
    seen, since = None, time.monotonic()
    while True:
        # The first look allows a lock held for a moment (a sweep judging the file); a waiter's later looks need not.
        with claimed(target, wait=0.0 if waited else _CLAIM_WAIT_SECONDS) as ours:
            if ours:
                with _holding_in_turn(target):
                    yield waited
                return
        if not waited and waiting is not None:
            waiting(claim_holder(target))
        waited = True
        if stall is not None:
            stamp, now = _claim_stamp(target), time.monotonic()
            if stamp != seen:  # a step shown, or another claim (a new holder's): counted from now...
                seen, since = stamp, now - _stopped_for(target, stamp, stall)  # ...or from when it was stopped
            elif now - since >= stall:
                holder = claim_holder(target)
                taken = _take_over(target, seen)
                if taken is False:  # another waiter took it over a moment ago: wait for that one, from now
                    seen, since = None, now
                    continue
                if stalled is not None:
                    stalled(holder, now - since)
                if taken is None:  # nothing to take it over with: the block runs without a claim
                    yield True
                    return
                with _holding_in_turn(target):
                    yield True
                return
        time.sleep(_CLAIM_POLL_SECONDS)


@contextmanager
def _holding_in_turn(target: PathLike) -> Iterator[None]:
    """Over the block, `target`'s claim (held by this thread) is one `show_progress` refreshes; at its end it is let
    go as `_let_go_in_turn` says, never by removing a name that now leads to its taker's claim."""
    held = getattr(_in_turn, "claims", None)
    if held is None:
        held = _in_turn.claims = []
    key = os.fspath(_claim_path(target))
    held.append(key)
    try:
        yield
    finally:
        held.remove(key)
        _let_go_in_turn(target)


def _let_go_in_turn(target: PathLike) -> None:
    """Remove `target`'s claim, held in turn by this process, and let go of it (`let_go_claim`)."""
    let_go_claim(_claim_path(target))


def let_go_claim(path: Path) -> None:
    """Remove the claim file `path`, held by this process, and let go of it; if a waiter took it over meanwhile
    (this process suspended past its `stall`), only let go: the name is the taker's now. Judged and removed under the
    claim's takeover lock (`_takeover_lock`), so that a takeover never lands between the look and the removal. Never
    raises."""
    key = os.fspath(path)
    held = held_temps.get(key)
    if held is None:
        return
    with deferred():
        try:
            with _takeover_lock(path) as locked:
                if locked is not False and same_inode(held[0], path):
                    os.unlink(path)  # still locked: a waiter sees the name lead elsewhere
        except OSError:
            pass
        finally:
            release(key)


settle_at_exit["claim"] = let_go_claim  # files' exit hook: a claim still held is let go as above, never raced


@contextmanager
def _takeover_lock(path: Path) -> Iterator[bool | None]:
    """The lock under which a claim in turn changes hands by a takeover or is removed by its holder: a claim of the
    claim (`claimed`'s file and habit: taken over from a dead taker, removed when let go), held for a moment.
    Yields True when held, False while another holds it (more than `_CLAIM_WAIT_SECONDS`), None where there is
    nothing to lock with (then no takeover is tried)."""
    lock = _claim_path(path)
    fd = None
    try:
        with deferred():
            free, fd = _take_claim(lock, _CLAIM_WAIT_SECONDS)
            if fd is not None:
                held_temps[os.fspath(lock)] = (fd, os.fspath(lock))
        yield True if fd is not None else (None if free else False)
    finally:
        if fd is not None:
            discard(lock)


def _take_over(target: PathLike, stale: tuple[int, int, int] | None) -> bool | None:
    """Take over `target`'s claim from a holder that showed no progress (its stamp still `stale`): a new claim file,
    locked and signed by this process, renamed over the name, so that later waiters wait for this process. True when
    taken; False when it is no longer the stalled one (another waiter took it over, its holder went on or let go);
    None where nothing can be taken over (no takeover lock here, a claim file not ours to replace, a claim another
    thread of this process holds)."""
    path = _claim_path(target)
    if os.fspath(path) in held_temps:  # another thread of this process holds it (one record a name): not taken over
        return None
    with deferred():  # made, renamed and recorded as ours in one go
        with _takeover_lock(path) as locked:
            if locked is not True:
                return locked
            if stale is None or _claim_stamp(target) != stale:
                return False
            try:
                new = claim_temp(path)
            except (OSError, InterpError):
                return None
            fd = held_temps[os.fspath(new)][0]
            _sign_claim(fd)
            try:
                os.rename(new, path)
            except OSError:
                discard(new)
                return None
            del held_temps[os.fspath(new)]
            held_temps[os.fspath(path)] = (fd, os.fspath(path))
            return True


def _stopped_for(target: PathLike, stamp: tuple[int, int, int] | None, most: float) -> float:
    """How long `target`'s claim (its `_claim_stamp`) has shown no progress, up to `most` seconds, where that can be
    known: its holder is a process of this host that is stopped (Linux's /proc: Ctrl-Z, SIGSTOP), so the stamp is as
    old as its last step and both clocks are this host's. Else 0: a holder elsewhere, or one that runs again after a
    laptop's sleep (whose stamp is old, its next step near), is counted from the waiter's first look, as before.
    A waiter coming to a holder stopped for hours thus takes over at once, not after the whole bound."""
    holder = claim_holder(target)
    if stamp is None or holder is None or holder[1] != platform.node() or holder[0] == os.getpid():
        return 0.0
    try:
        with open(f"/proc/{holder[0]}/stat", "rb") as fh:
            state = fh.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return 0.0
    if state != [b"T"]:  # "t" (stopped by a debugger) and every running or sleeping state: no credit
        return 0.0
    return min(max(time.time() - stamp[2] / 1e9, 0.0), most)


def _claim_stamp(target: PathLike) -> tuple[int, int, int] | None:
    """What changes when `target`'s claim shows progress (`show_progress`) or changes hands: its file's identity and
    modification time; None where there is none to see."""
    try:
        info = os.stat(_claim_path(target), follow_symlinks=False)
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_mtime_ns


def show_progress() -> None:
    """Show the claims this thread holds in turn (`claimed_in_turn`) alive: their modification time set to now, one
    system call each (one a tuning step), so that a waiter tells a slow holder from a suspended one. Never raises:
    a stamp not refreshed costs at worst a waiter that stops waiting."""
    for key in getattr(_in_turn, "claims", ()):
        held = held_temps.get(key)
        if held is not None:
            try:
                os.utime(held[0])
            except (OSError, NotImplementedError):  # NotImplementedError: a platform with no futimens
                pass


def claim_holder(target: PathLike) -> tuple[int, str] | None:
    """Who holds `target`'s claim (`claimed`), as its claimer wrote in it: (pid, host name). None where there is
    none to read: no claim, one made a moment ago and not yet signed, or not a file of ours."""
    try:
        fd = os.open(_claim_path(target), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 512).decode("utf-8", "replace") if stat.S_ISREG(os.fstat(fd).st_mode) else ""
    except OSError:
        text = ""
    finally:
        os.close(fd)
    pid, _, host = text.strip().partition(" ")
    return (int(pid), host) if pid.isdigit() and pid.isascii() else None


def _sign_claim(fd: int) -> None:
    """Write this process's id and host into a claim just taken (over a dead claimer's), for `claim_holder`: a
    process waiting for it can then say whom it waits for. Best effort: a claim holds by its lock, not its words."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {platform.node()}\n".encode(), 0)
    except OSError:
        pass


def _take_claim(path: Path, wait: float) -> tuple[bool, int | None]:
    """`claimed`'s claim file `path`, taken: (True, fd holding its lock), (False, None) while a live claimer holds
    it, or (True, None) where nothing can be claimed with."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        try:
            fd, made = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
        except FileExistsError:
            try:
                fd, made = os.open(path, flags), False
            except FileNotFoundError:
                continue  # removed meanwhile: look again
            except PermissionError:
                return _anothers_claim(path, wait)
            except OSError:
                return True, None  # not ours to open: nothing to claim with
        except OSError:
            return True, None  # nothing to claim with here
        state = lock_within(fd, wait)
        if state and same_inode(fd, path):
            _sign_claim(fd)
            return True, fd
        os.close(fd)
        if state is False:  # a live claimer's
            return False, None
        if state is None:  # no flock here: nothing to claim with, and nothing of ours left
            if made:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            return True, None
        # Locked, but the name no longer leads to it: its claimer finished (or a sweep took a dead one's) and
        # removed it between our open and our lock. Look again.
    return True, None  # pragma: no cover - the name changed hands 100 times in a row


def _anothers_claim(path: Path, wait: float) -> tuple[bool, None]:
    """A claim file this process may read but not write (another user's, mode 644 under umask 022): (False, None)
    while its claimer lives, found by its lock through a read-only descriptor, else (True, None), nothing to claim
    with (it is not ours to take over or remove). Taken for "nothing to claim with" at once, a second user's worker
    on the same rows made each row again beside the live one, to fail at the end in a shared sticky folder
    (/scratch: "operation not permitted", the first one's output being another user's)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return True, None
    try:  # a lock taken here is let go at once; where read-only descriptors take no flock (NFS), None: go on
        return lock_within(fd, wait) is not False, None
    finally:
        os.close(fd)
