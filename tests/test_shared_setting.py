"""A process-wide setting held by count (`interp_cli.shared_setting`), with holders in real threads; the torch
flags built on it are in tests/test_torch_flags.py."""

from __future__ import annotations

import threading

import pytest

from interp_cli.shared_setting import SharedSetting, written


class _Process:
    """A stand-in for a process-wide value (a torch flag, a logger's level) and the reads and writes it saw."""

    def __init__(self, value):
        self.value = value
        self.writes = []

    def read(self):
        return self.value

    def write(self, value):
        self.writes.append(value)
        self.value = value


def test_a_holder_leaving_while_another_thread_still_holds_leaves_the_setting_changed():
    """A in, B in, A out, B out, in two threads: B must run with the setting changed until it leaves, and the
    caller's value comes back once, after the last holder."""
    process, setting = _Process("caller's"), SharedSetting()
    change = written(process.read, process.write, "interp's")
    b_in, a_out = threading.Event(), threading.Event()
    seen_by_b = []

    def b():
        with setting.held(change):
            b_in.set()
            assert a_out.wait(30)
            seen_by_b.append(process.value)

    with setting.held(change):
        thread = threading.Thread(target=b)
        thread.start()
        assert b_in.wait(30)
    a_out.set()
    thread.join(30)
    assert seen_by_b == ["interp's"]
    assert process.value == "caller's"
    assert process.writes == ["interp's", "caller's"]


def test_a_change_with_nothing_to_undo_is_held_and_left_alike():
    made = []
    setting = SharedSetting()
    for _ in range(2):
        with setting.held(lambda: made.append(1)):  # returns None: nothing to undo
            pass
    assert made == [1, 1]


def test_a_change_that_fails_is_counted_as_no_holder_and_the_next_holder_makes_it():
    """A change that raises (a flag torch refuses to set) reaches the caller; the next holder in is then the first
    again: it makes the change and the last one out undoes it."""
    process, setting = _Process("caller's"), SharedSetting()

    def failing():
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        with setting.held(failing):
            pass
    with setting.held(written(process.read, process.write, "interp's")):
        assert process.value == "interp's"
    assert process.value == "caller's"
