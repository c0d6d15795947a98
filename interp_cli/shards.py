"""A batch's shards: which of a manifest's rows this worker makes, from `--shard K/N` or a scheduler's index.

    shard = parse_shard("2/3")                      # or "auto", "auto/8" (scheduler's index)
    mine = [r for r in rows if shard.takes(r)]      # rows: `manifest.read_manifest`'s

Shard rule: data row i (1-based, manifest order, comments and the header not counted) belongs to
shard ((i - 1) mod N) + 1. Round robin rather than a hash of the output name because it splits
any manifest evenly (shard sizes differ by at most one, also for 5 rows over 4 workers) and a
person can say which shard made a row. A hash would keep a row's shard when rows are inserted,
but nothing depends on that: `--skip-existing` decides by the output file, not by the shard.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interp_cli.checks import digits_only, number_word
from interp_cli.errors import UsageError, option

if TYPE_CHECKING:
    from interp_cli.manifest import Row


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1 <= index <= count)."""

    index: int = 1
    count: int = 1

    def takes(self, row: Row) -> bool:
        return (row.number - 1) % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str | Shard, environ: Mapping[str, str] | None = None) -> Shard:
    """`K/N` (1 <= K <= N), `auto` (a Slurm array task) or `auto/N` (a Kubernetes indexed Job, or
    Slurm with the count checked). Raises UsageError with a one-line reason."""
    if isinstance(text, Shard):
        return _checked(text.index, text.count, str(text))
    text = str(text).strip()
    head, slash, tail = text.partition("/")
    if head == "auto":
        count = _whole(tail, text, "N") if slash else None
        if count is not None and count < 1:  # wrong wherever it runs: said before what the environment lacks
            _checked(1, count, text)
        return _from_environment(os.environ if environ is None else environ, count, text)
    if not slash:
        raise UsageError(f"{option('shard', text)}: expected K/N, e.g. {option('shard', '2/3')} for the second of "
                         "three, or auto")
    return _checked(_whole(head, text, "K"), _whole(tail, text, "N"), text)


def _whole(value: str, text: str, what: str) -> int:
    number = number_word(value)  # ASCII digits: `1_0/2` and `١/٢` are no shard
    if number is None:
        raise UsageError(f"{option('shard', text)}: {what} must be a whole number (expected K/N, e.g. 2/3)")
    return number


def _checked(index: int, count: int, text: str) -> Shard:
    if count < 1:
        raise UsageError(f"{option('shard', text)}: N (the number of shards) must be at least 1")
    if not 1 <= index <= count:
        raise UsageError(f"{option('shard', text)}: K must be between 1 and N={count}")
    return Shard(index, count)


def _from_environment(environ: Mapping[str, str], count: int | None, text: str) -> Shard:
    """Slurm numbers array tasks from --array's first value (0-9, 1-10 or 5-14, maybe with a :step):
    `auto` takes a task's place in that range. To redo some shards of N (--array=2,5 or 3-8), `auto/N`
    takes the task ID itself as the shard number, so the first submission must count from 1 (1-N). A one-task
    array numbered past 1 (--array=5) is such a redo, never one worker: `auto` without N refuses it.
    Kubernetes numbers completions from 0 and tells the pod nothing of their count."""
    def number(name: str) -> int:
        # ASCII digits, as --shard K/N's own (`number_word`): int() also read `1_0` as 10 and `١` as 1.
        value = number_word(environ[name])
        if value is None:
            raise UsageError(f"{option('shard', text)}: ${name} is not a number{digits_only(environ[name])} "
                             f"({environ[name]!r})")
        return value

    if "SLURM_ARRAY_TASK_ID" in environ:
        for name in ("SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT"):
            if name not in environ:
                raise UsageError(f"{option('shard', text)}: $SLURM_ARRAY_TASK_ID is set but ${name} is not")
        step = number("SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in environ else 1
        first, tasks, task = number("SLURM_ARRAY_TASK_MIN"), number("SLURM_ARRAY_TASK_COUNT"), \
            number("SLURM_ARRAY_TASK_ID")
        offset = task - first
        spaced = not ("SLURM_ARRAY_TASK_MAX" in environ
                      and (number("SLURM_ARRAY_TASK_MAX") - first) != (tasks - 1) * max(step, 1))
        if count is not None and not (spaced and tasks == count):
            # A list of tasks (--array=2,5) or part of the first array (3-8): redoing some shards of N.
            # Their IDs are the shard numbers, as in a first submission numbered from 1 (--array=1-N).
            return _checked(task, count, f"{text} (Slurm task {task}; task IDs 1-{count} are the shards)")
        if count is None and tasks == 1 and task > 1:
            # --array=5 alone is a redo of task 5 (a first array numbers from 0 or 1): read as one worker, it made
            # every row, 1/1, N times the work asked for (all of it again without --skip-existing).
            raise UsageError(f"{option('shard', text)}: Slurm task {task} is its array's only task, which would make "
                             f"every row; to redo shard {task} of N pass {option('shard', 'auto/N')} (task IDs "
                             f"1-N are then the shard numbers); for one worker over every row submit --array=1")
        if not spaced:
            raise UsageError(f"{option('shard', text)}: the Slurm array is not an evenly spaced range, so the number "
                             f"of shards is unknown; pass {option('shard', 'auto/N')} (task IDs 1-N are then the shard "
                             "numbers)")
        if step < 1 or offset % step:
            raise UsageError(f"{option('shard', text)}: $SLURM_ARRAY_TASK_ID is not on the array's step")
        return _checked(offset // step + 1, tasks, f"{text} (Slurm task {task})")
    if "JOB_COMPLETION_INDEX" in environ:
        if count is None:
            raise UsageError(f"{option('shard', text)}: a Kubernetes indexed Job does not tell its pods the number of "
                             f"completions; pass it as {option('shard', 'auto/N')}")
        return _checked(number("JOB_COMPLETION_INDEX") + 1, count, f"{text} (JOB_COMPLETION_INDEX)")
    raise UsageError(f"{option('shard', text)}: neither $SLURM_ARRAY_TASK_ID nor $JOB_COMPLETION_INDEX is set "
                     f"(not in a job array?); pass {option('shard', 'K/N')}")
