"""A batch's shards (interp_cli.shards): every row in one shard, the scheduler's index read, and what cannot be
read refused in one line."""

from __future__ import annotations

import pytest

from interp_cli.cli import cli
from interp_cli.errors import UsageError
from interp_cli.manifest import Row
from interp_cli.shards import Shard, parse_shard
from tests.cli_runner import cli_runner


def test_shards_cover_every_row_once_and_evenly():
    for n_rows in range(0, 14):
        rows = [Row(i, i, ("a", "b"), f"{i}.gif") for i in range(1, n_rows + 1)]
        for count in range(1, 6):
            slices = [[r.number for r in rows if Shard(k, count).takes(r)] for k in range(1, count + 1)]
            assert sorted(sum(slices, [])) == [r.number for r in rows]
            assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert [r for r in range(1, 8) if Shard(2, 3).takes(Row(r, r, (), ""))] == [2, 5]


@pytest.mark.parametrize("environ, text, expected", [
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, "auto", (1, 4)),
    ({"SLURM_ARRAY_TASK_ID": "10", "SLURM_ARRAY_TASK_MIN": "7", "SLURM_ARRAY_TASK_MAX": "10",
      "SLURM_ARRAY_TASK_COUNT": "4"}, "auto", (4, 4)),
    ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "7",
      "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "4"}, "auto/4", (3, 4)),
    # --array=1,2,5 or 3-8 with auto/8: redoing some of 8 shards, whose numbers are the task IDs
    ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "5",
      "SLURM_ARRAY_TASK_COUNT": "3"}, "auto/8", (5, 8)),
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_MAX": "8",
      "SLURM_ARRAY_TASK_COUNT": "6"}, "auto/8", (3, 8)),
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "7",
      "SLURM_ARRAY_TASK_COUNT": "8"}, "auto/8", (1, 8)),
    ({"JOB_COMPLETION_INDEX": "0"}, "auto/3", (1, 3)),
    ({"JOB_COMPLETION_INDEX": "2"}, "auto/3", (3, 3)),
    ({}, " 2/3 ", (2, 3)),
])
def test_shard_from_the_schedulers_index(environ, text, expected):
    shard = parse_shard(text, environ)
    assert (shard.index, shard.count) == expected


def test_a_one_task_array_past_1_is_a_redo_refused_without_the_shard_count():
    """`sbatch --array=5` (as Slurm 22.05 sets its variables) read as one worker: shard 1/1, every row made (all
    again without --skip-existing) where task 5 of some N was asked for. Refused, saying how to redo it; with N
    it is shard 5 of N, and a one-task array numbered 1 or 0 is still one worker."""
    def task(number: int) -> dict:
        return {f"SLURM_ARRAY_TASK_{name}": str(number) for name in ("ID", "MIN", "MAX")} | \
            {"SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_STEP": "1"}

    with pytest.raises(UsageError) as err:
        parse_shard("auto", task(5))
    assert str(err.value) == (
        'shard="auto": Slurm task 5 is its array\'s only task, which would make every row; to redo shard 5 of N '
        'pass shard="auto/N" (task IDs 1-N are then the shard numbers); for one worker over every row submit '
        '--array=1')
    assert str(parse_shard("auto/8", task(5))) == "5/8"
    assert [str(parse_shard("auto", task(n))) for n in (0, 1)] == ["1/1", "1/1"]


@pytest.mark.parametrize("environ, text, fragment", [
    ({}, "auto", "neither $SLURM_ARRAY_TASK_ID nor $JOB_COMPLETION_INDEX"),
    ({"JOB_COMPLETION_INDEX": "1"}, "auto", 'pass it as shard="auto/N"'),  # a Python caller's words
    ({"JOB_COMPLETION_INDEX": "3"}, "auto/3", "K must be between 1 and N=3"),
    ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, "auto/3",
     "K must be between 1 and N=3"),
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "5",
      "SLURM_ARRAY_TASK_COUNT": "3"}, "auto/8", "K must be between 1 and N=8"),
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9",
      "SLURM_ARRAY_TASK_COUNT": "3"}, "auto", "not an evenly spaced range"),
    # A task's environment with Slurm's variables half set or mangled (a wrapper script, a hand-made export):
    ({"SLURM_ARRAY_TASK_ID": "3"}, "auto", "$SLURM_ARRAY_TASK_ID is set but $SLURM_ARRAY_TASK_MIN is not"),
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1"}, "auto",
     "$SLURM_ARRAY_TASK_ID is set but $SLURM_ARRAY_TASK_COUNT is not"),
    ({"SLURM_ARRAY_TASK_ID": "three", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, "auto",
     "$SLURM_ARRAY_TASK_ID is not a number ('three')"),
    ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3",
      "SLURM_ARRAY_TASK_STEP": "2"}, "auto", "$SLURM_ARRAY_TASK_ID is not on the array's step"),
])
def test_shard_auto_refuses_what_it_cannot_read(environ, text, fragment):
    with pytest.raises(UsageError, match=None) as err:
        parse_shard(text, environ)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT",
                                  "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX"])
@pytest.mark.parametrize("value", ["1_0", "\u0661", "\u00b2", "0x1"])
def test_a_schedulers_index_not_in_plain_digits_is_refused_naming_the_variable(name, value):
    """Python's int() read `1_0` as 10 and Arabic-Indic `\u0661` as 1 (`--shard 1_0/2` itself is refused): a task
    index is a machine's, so such a value is a wrapper's mangling, said in one line naming the variable, never
    read as another task's shard."""
    environ = ({"JOB_COMPLETION_INDEX": "0"} if name == "JOB_COMPLETION_INDEX" else
               {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "20"})
    environ[name] = value
    with pytest.raises(UsageError) as err:
        parse_shard("auto/20", environ)
    said = str(err.value)
    assert f"${name} is not a number" in said and repr(value) in said and "\n" not in said, said
    assert ("in the digits 0-9" in said) == (value != "0x1"), said
    environ[name] = " 1 "  # padded, as `$(wc -l)` on BSD pads: still 1
    assert parse_shard("auto/20", environ).count == 20


@pytest.mark.parametrize("environ", [{}, {"JOB_COMPLETION_INDEX": "0"}, {"SLURM_ARRAY_TASK_ID": "1"}])
@pytest.mark.parametrize("text", ["auto/0", "auto/-2"])
def test_shard_auto_with_no_shards_is_refused_for_the_count_wherever_it_runs(text, environ):
    """`--shard auto/0` outside a job array was refused for the missing Slurm variables (and in a half-set
    Slurm environment for those), so fixing the environment only led to the count's refusal: N < 1 is
    wrong wherever it runs, and said first."""
    with pytest.raises(UsageError) as err:
        parse_shard(text, environ)
    assert str(err.value) == f'shard="{text}": N (the number of shards) must be at least 1'


def test_a_shard_refused_in_a_slurm_task_names_its_value_once_on_the_command_line(monkeypatch):
    """click names --shard already: the value is said once, with the task it was read from."""
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "5")
    for text, said in (("auto/3", "auto/3 (Slurm task 5; task IDs 1-3 are the shards): K must be between 1 and N=3"),
                       ("auto/0", "auto/0: N (the number of shards) must be at least 1")):
        result = cli_runner().invoke(cli, ["batch", "pairs.csv", "--outdir", "out", "--shard", text])
        assert (result.exit_code, result.stderr) == (2, f"interp: error: invalid value for '--shard': {said}\n")


@pytest.mark.parametrize("text, said", [
    ("2", "expected K/N, e.g. --shard 2/3 for the second of three, or auto"),
    ("x/3", "K must be a whole number (expected K/N, e.g. 2/3)"),
    ("2/y", "N must be a whole number (expected K/N, e.g. 2/3)"),
    ("0/3", "K must be between 1 and N=3"),
    ("4/3", "K must be between 1 and N=3"),
    ("1/0", "N (the number of shards) must be at least 1"),
])
def test_a_shard_typed_wrong_is_refused_in_one_line_saying_what_to_type(text, said):
    result = cli_runner().invoke(cli, ["batch", "pairs.csv", "--outdir", "out", "--shard", text])
    assert (result.exit_code, result.stderr) == (2, f"interp: error: invalid value for '--shard': {text}: {said}\n")


def test_a_python_callers_shard_object_is_checked_as_its_text_is():
    """`batch(shard=Shard(2, 3))` is the same as shard="2/3"; a Shard that is no shard of its count is refused as
    its text would be, and `Shard()` is the whole manifest, as the default "1/1"."""
    assert parse_shard(Shard(2, 3)) == Shard(2, 3) and str(Shard(2, 3)) == "2/3"
    assert parse_shard(Shard()) == parse_shard("1/1") and str(Shard()) == "1/1"
    with pytest.raises(UsageError) as err:
        parse_shard(Shard(5, 3))
    assert str(err.value) == 'shard="5/3": K must be between 1 and N=3'
