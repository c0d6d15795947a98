"""Running one piece of work in several threads at once, switching between them often, to find what they share.

A process-wide setting that a block saves and puts back (a warning filter list, a class attribute) is left
changed when two such blocks overlap and end in the wrong order; with Python's default switch interval (5 ms)
that takes luck, so threads here take turns between almost any two bytecodes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def at_once(work: Callable[[], None], check: Callable[[], None], *, threads: int = 4, rounds: int = 5) -> None:
    """`rounds` times: `threads` threads start `work` together, then `check()` runs once they have all ended
    (one overlap in the wrong order is enough: a round's check finds it before the next round hides it). What
    `work` raises in a thread is raised here, after the round: left in its thread, it was only a warning."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    raised: list[BaseException] = []
    try:
        for _ in range(rounds):
            together = threading.Barrier(threads)

            def started(barrier: threading.Barrier = together) -> None:
                barrier.wait()
                try:
                    work()
                except BaseException as err:  # handed to the test's thread
                    raised.append(err)

            workers = [threading.Thread(target=started) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            if raised:
                raise raised[0]
            check()
    finally:
        sys.setswitchinterval(interval)


class Stopped(Exception):
    """What the caller's SIGTERM handler raises in `stop_inside`."""


@contextmanager
def stop_inside(owner: object, name: str, when: Callable[..., bool] = lambda *args, **kwargs: True, *,
                signum: int = signal.SIGTERM) -> Iterator[None]:
    """A real SIGTERM (or `signum`), whose handler (the caller's, set here) raises `Stopped`, lands inside the first
    call of `owner.name` (a module's function, a class's method, a built-in object's method) for which `when(*args,
    **kwargs)` holds (replaceable ones only), once that call has done its work: as a signal that arrives during a
    call is acted on the moment the call returns, before its caller has the result in hand. That is the moment
    between something being made or changed (a thread started, a file opened, a lock taken, a setting changed) and
    the code that made it being able to undo it. One stop only: cleanup that calls the same function again runs as
    usual. Main thread only; the handler and `owner.name` are put back after, and a block that ends without the
    call having been made fails."""
    own = vars(owner).get(name, None) if hasattr(owner, "__dict__") else None  # a class's own, or inherited
    original = getattr(owner, name)
    fired: list[bool] = []

    def as_it_returns(frame, event, arg):
        # A built-in's method that cannot be replaced (ContextVar.set): the stop lands as it returns, seen by a
        # profile function, which the handler's exception leaves at the call's own line.
        if event == "c_return" and not fired and getattr(arg, "__self__", None) is owner and arg.__name__ == name:
            fired.append(True)
            os.kill(os.getpid(), signum)
            for _ in range(1_000_000):
                pass

    def then_stop(*args, **kwargs):
        result = original(*args, **kwargs)
        if not fired and when(*args, **kwargs):
            fired.append(True)
            os.kill(os.getpid(), signum)
            for _ in range(1_000_000):  # the handler runs between two of these bytecodes, inside the call
                pass
        return result

    def raise_stopped(signum, frame):
        raise Stopped(signum)

    previous = signal.signal(signum, raise_stopped)
    try:
        setattr(owner, name, then_stop)
        replaced = True
    except (AttributeError, TypeError):  # read-only: a built-in type's method
        replaced = False
        sys.setprofile(as_it_returns)
    try:
        yield
        if not fired:
            raise AssertionError(f"{name} was never called as asked: no stop landed inside it")
    finally:
        if not replaced:
            sys.setprofile(None)
        elif own is None:
            delattr(owner, name)
        else:
            setattr(owner, name, own)
        signal.signal(signum, previous)


def stop_inside_start(name: str) -> Iterator[None]:
    """`stop_inside` `Thread.start()` of the thread named `name`, once that thread runs (start waits for it)."""
    return stop_inside(threading.Thread, "start", lambda thread: thread.name == name)
