"""Checks on what Python callers pass: the command line's types already refuse these at parse time,
but a library call can hand over a string, nan, a bool or a single path where a list belongs.

Torch-free, so that `Session`, the verbs and `interp batch`'s planning share one wording.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
import sys
from collections.abc import Iterable, Sequence

from interp_cli.errors import UsageError, option
from interp_cli.limits import REFINE_MAX_STEPS, SEED_MAX, SEED_MIN, TUNE_DEFAULT_STEPS, TUNE_MAX_STEPS


def check_number(name: str, value, low=None, high=None, integer=False) -> int | float:
    """`value` is a finite number (an int if `integer`) within [low, high]; UsageError names the option
    `name` (a keyword, `batch_size`) as its reader passes it (`errors.option`: `--batch-size` on the command line).
    Returns it as Python's own int or float, as its kind is: numpy's scalars (np.int64(60), np.float32(30)) are
    taken, but the writers and the JSON summary take only Python's."""
    name = option(name)
    # Python callers can pass anything: a str or None would fail in `<` with a TypeError, and nan passes
    # every comparison (black frames, "fps": NaN in the JSON). No option takes inf, so it is refused too.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number (got {value})")
    if integer and int(value) != value:
        raise UsageError(f"{name} must be a whole number (got {value})")
    if integer and not isinstance(value, numbers.Integral):
        # 60.0 is refused as steps=60.0 and seed=1.0 always were (and as range(60.0) is): a float where a
        # count belongs is usually a computed value, whole this time by chance.
        raise UsageError(f"{name} must be an int (got {value!r}, a float)")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise UsageError(f"{name} must be {bounds} (got {value})")
    return int(value) if isinstance(value, numbers.Integral) else float(value)  # fps=60 stays 60 in messages



def not_a_count(name: str, value) -> str:
    """What `check_count` says of a value that is not a whole number: also the command line's line for a word
    that is not one (`--steps 1.5`), so a shell's and a Python caller's same mistake read the same."""
    return f"{option(name)} must be a whole number (got {value})"


def check_count(name: str, value, low: int, why: str = "") -> int:
    """A count of frames (`steps`, `hold`): an exact integer (numpy's too; a bool, a float or a string refused)
    of at least `low`, returned as Python's int, else a UsageError naming the option, `why` after the bound. The
    one check of --steps and --hold (options.FrameCount) and of the same keywords (interp_cli.blend)."""
    if isinstance(value, bool):
        raise UsageError(not_a_count(name, repr(value)))
    try:
        value = operator.index(value)
    except TypeError:
        raise UsageError(not_a_count(name, repr(value))) from None
    if value < low:
        raise UsageError(f"{option(name)} must be at least {low} (got {value}){why}")
    return value


def check_refine_steps(steps, name: str = "refine") -> int:
    """--refine's step count, returned as an int: a whole number from 0 (e4e's code as it is) to
    limits.REFINE_MAX_STEPS."""
    return check_number(name, steps, low=0, high=REFINE_MAX_STEPS, integer=True)


def check_tune_steps(steps, name: str = "tune") -> int:
    """--tune's step count, returned as an int: a whole number from 0 (untuned) to limits.TUNE_MAX_STEPS, as
    --refine's is; True (a bare --tune) is limits.TUNE_DEFAULT_STEPS, and False or None no tuning. tune=1.5 is
    refused, as refine=2.5 is. The one check `morph`, `batch`, `Session.tune` and `tune_generator` make."""
    steps = TUNE_DEFAULT_STEPS if steps is True else 0 if steps is None or steps is False else steps
    return check_number(name, steps, low=0, high=TUNE_MAX_STEPS, integer=True)


def check_seed(seed, name: str = "seed") -> int:
    """A seed torch's generators take (limits.SEED_MIN..SEED_MAX); beyond it Generator.manual_seed raises
    "Overflow when unpacking long long" once the model has loaded. `name` as for `check_number`."""
    name = option(name)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise UsageError(f"{name} must be a whole number (got {seed!r})")
    if not SEED_MIN <= seed <= SEED_MAX:
        raise UsageError(f"{name} must be between {SEED_MIN} and {SEED_MAX} (got {seed})")
    return int(seed)


# The on/off keywords that may also be None: align's None leaves it to the model (the demo takes crops as they are).
_MAYBE_FLAGS = ("align",)


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    """`value` is one of `choices` (limits.NOISE_MODES, EASINGS ...), or a UsageError naming the option."""
    if value not in choices:
        raise UsageError(f"{option(name, value)}: choose one of {', '.join(choices)}")


def check_flags(**flags) -> dict:
    """Each keyword's value is True or False (numpy's bools too), or None where it is one of `_MAYBE_FLAGS`;
    returned as Python's bools, in the order given (`align is False` is how a refusal tells "off" from "unset").
    A string was read as true whatever it said: align="no" aligned, loop="false" looped, silently the
    opposite of what a caller reading a config file or argparse's strings asked for."""
    numpy = sys.modules.get("numpy")  # a numpy bool comes only from a caller that imported numpy: not imported here
    bools = (bool, numpy.bool_) if numpy else (bool,)
    checked = {}
    for name, value in flags.items():
        if value is None and name in _MAYBE_FLAGS:
            checked[name] = None
        elif isinstance(value, bools):
            checked[name] = bool(value)
        else:
            unset = ", or None to leave it to the model" if name in _MAYBE_FLAGS else ""
            raise UsageError(f"{option(name, value)}: give True or False{unset}")
    return checked


def check_function(name: str, value, optional: bool = False) -> None:
    """`value` can be called (with each line, or each row's result), or is None if `optional`: anything else
    failed as Python's own TypeError ("'int' object is not callable") at the first line, mid-morph."""
    if not (callable(value) or (optional and value is None)):
        none = " or None" if optional else ""
        raise UsageError(f"{option(name, value)}: give a function of one argument (print, for one){none}")


def refuse_one_path(inputs, what: str) -> None:
    """A single path where a list of inputs is expected would be iterated character by character
    ("/: is a directory, not an image" for morph("/tmp/a.png", ...)): refused, saying what to pass. So are
    None, and a list holding something other than a path (`check_paths`)."""
    if isinstance(inputs, (str, bytes, os.PathLike)):
        raise UsageError(f"{what}: got one path ({os.fsdecode(inputs)!r}) where a list of inputs is expected; "
                         f"pass a list, e.g. [\"a.png\", \"b.png\"]")
    if not isinstance(inputs, Iterable):
        raise UsageError(f"{option(what, inputs)}: pass a list of paths, e.g. [\"a.png\", \"b.png\"]")
    if isinstance(inputs, Sequence):  # a generator is read once, by the caller of this check
        for item in inputs:
            if not isinstance(item, (str, os.PathLike)):
                raise UsageError(f"{what}: {item!r} is not a path; pass a list of paths (each a str or os.PathLike)")


# The path arguments a verb cannot do without; the others (sheet, save_aligned, cache_dir) may be None.
_REQUIRED_PATHS = ("output", "image", "codes", "manifest", "outdir")


def check_paths(**paths) -> None:
    """Each keyword's value names a file or folder: a str or os.PathLike, or None where it is not one of
    `_REQUIRED_PATHS`. Anything else reached os.fspath deep inside as a TypeError naming no argument ("expected
    str, bytes or os.PathLike object, not int"); the keyword is named as `check_number` names it."""
    for name, value in paths.items():
        if value is None and name not in _REQUIRED_PATHS:
            continue
        if not isinstance(value, (str, os.PathLike)):
            raise UsageError(f"{option(name, value)}: give a path (a str or os.PathLike)")
