"""Checks on what Python callers pass: the command line's types already refuse these at parse time,
but a library call can hand over a string, nan, a bool or a single path where a list belongs.

Torch-free, so that `Session`, the verbs and `interp batch`'s planning share one wording.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
import re
import sys
from collections.abc import Iterable, Sequence

from interp_cli.errors import UsageError, option, shown, speaking_to_cli
from interp_cli.limits import (MAX_FRAMES, REFINE_MAX_STEPS, SEED_MAX, SEED_MIN, STEPS_WHY, TUNE_DEFAULT_STEPS,
                                TUNE_MAX_STEPS)


def check_number(name: str, value, low=None, high=None, integer=False) -> int | float:
    """`value` is a finite number (an int if `integer`) within [low, high]; UsageError names the option
    `name` (a keyword, `batch_size`) as its reader passes it (`errors.option`: `--batch-size` on the command line).
    Returns it as Python's own int or float, as its kind is: numpy's scalars (np.int64(60), np.float32(30)) are
    taken, but the writers and the JSON summary take only Python's."""
    name = option(name)
    # Python callers can pass anything: a str or None would fail in `<` with a TypeError, and nan passes
    # every comparison (black frames, "fps": NaN in the JSON). No option takes inf, so it is refused too.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name} must be a number (got {shown(value)})")
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



def check_positive(name: str, value) -> float:
    """A number above 0 (a learning rate): `check_number`'s checks, then "lr must be above 0 (got 0)"."""
    value = check_number(name, value)
    if value <= 0:
        raise UsageError(f"{option(name)} must be above 0 (got {value})")
    return value


def not_a_count(name: str, value) -> str:
    """What `check_count` says of a value that is not a whole number: also the command line's line for a word
    that is not one (`--steps 1.5`), so a shell's and a Python caller's same mistake read the same."""
    return f"{option(name)} must be a whole number (got {value})"


# A number typed as a word (an option's value, a --shard, --layers, --face or --backdrop part) is read in the
# ASCII digits alone. Python's int() and float() also read `1_0` as 10 and Arabic-Indic or other scripts' digits
# (`١٠`) as 10: a typo for 1.0 became ten frames, and "got 10" in a refusal named a value nobody typed. A sign, a
# point, an exponent, nan/inf (refused by check_number in its own words) and spaces around the word are taken: a
# script's `--steps "$(wc -l < list)"` is padded with spaces on BSD.
_WHOLE_WORD = re.compile(r"[+-]?[0-9]+")
_NUMBER_WORD = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
                          re.IGNORECASE)
_SPACES = " \t\n\r\f\v"


def number_word(text: str, integer: bool = True) -> int | float | None:
    """The number a word spells in ASCII digits (an int where it is whole, `integer=False` also a decimal such as
    29.97 or 3e1), else None: `1_0`, `١٠`, `0x1e` and `1.5` (as a whole number) spell none."""
    text = text.strip(_SPACES)
    if _WHOLE_WORD.fullmatch(text):
        return int(text)
    return float(text) if not integer and _NUMBER_WORD.fullmatch(text) else None


def openmp_takes(threads: str) -> bool:
    """Whether OpenMP (libgomp, which torch loads) takes `threads` for OMP_NUM_THREADS: a whole number above 0 in
    ASCII digits, or a list of them, one per nesting level (`4,2`), spaces around each. Anything else (`0`, `-1`,
    `abc`, an empty value) libgomp refuses with its own line on stderr as torch loads, and uses its default."""
    return all((number := number_word(part)) is not None and number > 0 for part in threads.split(","))


def openmp_wait_policy_takes(policy: str) -> bool:
    """Whether OpenMP (libgomp) takes `policy` for OMP_WAIT_POLICY: ACTIVE or PASSIVE in any case, C's white space
    (not Unicode's) around it, as found by trying values on torch's libgomp. Anything else, a blank value too,
    it refuses with its own line on stderr as torch loads, and uses its default (threads that spin a while)."""
    return policy.isascii() and policy.strip(" \t\n\v\f\r").lower() in ("active", "passive")


def digits_only(text: str) -> str:
    """What a refusal of a number word adds where Python would have read it (`1_0`, `١٠`): how to write it."""
    return "" if text.isascii() and "_" not in text else ", in the digits 0-9"


def whole_number(label: str, value) -> int:
    """`value` as Python's int if it is an exact integer (numpy's too; a bool, a float or a string refused), else a
    UsageError "`label` must be a whole number (got ...)": the one test of a count, its bounds the caller's."""
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise UsageError(f"{label} must be a whole number (got {shown(value)})")


def check_count(name: str, value, low: int, why: str = "") -> int:
    """A count of frames (`steps`, `hold`): a `whole_number` of at least `low`, else a UsageError naming the option,
    `why` after the bound. The one check of --steps and --hold (options.FrameCount) and of the same keywords
    (interp_cli.blend)."""
    value = whole_number(option(name), value)
    if value < low:
        raise UsageError(f"{option(name)} must be at least {low} (got {value}){why}")
    return value


def check_frame_chain(n_keyframes, steps, loop: bool, pingpong: bool, hold) -> tuple[int, int, int]:
    """A morph's frame counts checked, as ints: 2 or more keyframes, `check_count`'s steps and hold, and at most
    limits.MAX_FRAMES frames in all (`count_frames`), counted, not built. Here, not in interp_cli.blend (numpy),
    so that `interp batch` refuses a count every row would fail before it imports anything a row needs."""
    n_keyframes = whole_number("number of keyframes", n_keyframes)
    if n_keyframes < 2:
        raise UsageError(f"need at least 2 images to morph between (got {n_keyframes})")
    steps = check_count("steps", steps, 2, STEPS_WHY)  # counted, not built: linear_times(10**23) fails inside numpy
    hold = check_count("hold", hold, 0)
    if loop and pingpong:
        raise UsageError("loop and pingpong cannot be combined (pick one)")
    total = count_frames(n_keyframes, steps, hold, loop, pingpong)
    if total > MAX_FRAMES:
        asked = [option("steps", steps), *([option("hold", hold)] if hold else [])]
        asked = (" " if speaking_to_cli() else ", ").join(asked)
        raise UsageError(f"{asked} would make {total:,} frames; a morph has at most {MAX_FRAMES:,} (fewer "
                         f"{option('steps')} or {option('hold')})")
    return n_keyframes, steps, hold


def count_frames(k: int, s: int, h: int, loop: bool, pingpong: bool) -> int:
    """Frames of a morph through `k` keyframes (the formulas in interp_cli.blend's module docstring)."""
    if loop:
        return k * (s - 1) + k * h
    if pingpong:
        return 2 * (k - 1) * (s - 1) + 2 * (k - 1) * h
    return (k - 1) * (s - 1) + 1 + k * h


def check_shared_numbers(options: dict) -> None:
    """The numbers and choices among a morph's keyword `options` that no input decides (those given): steps and
    hold as the fewest frames any morph makes (two inputs) would have them, fps, quality, batch_size, truncation,
    size, sheet_frames, seed, noise, ease, interp; with the words and bounds `morph` checks them in. For `interp
    batch`, whose every row takes the same values: one that no row could take is refused once, before the rows,
    instead of failing each of them alike."""
    from interp_cli.limits import EASINGS, FPS, INTERPS, NOISE_MODES, QUALITY, SIZE, TRUNCATION

    if "steps" in options or "hold" in options:
        check_frame_chain(2, options.get("steps", 60), bool(options.get("loop")), bool(options.get("pingpong")),
                          options.get("hold", 0))
    bounds = {"fps": (*FPS, False), "quality": (*QUALITY, True), "batch_size": (1, None, True),
              "truncation": (*TRUNCATION, False), "sheet_frames": (1, None, True)}
    for name, (low, high, integer) in bounds.items():
        if name in options:
            check_number(name, options[name], low, high, integer=integer)
    if options.get("size") is not None:
        check_number("size", options["size"], *SIZE, integer=True)
    if "seed" in options:
        check_seed(options["seed"])
    for name, choices in (("noise", NOISE_MODES), ("ease", EASINGS), ("interp", INTERPS)):
        if name in options:
            check_choice(name, options[name], choices)


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
        raise UsageError(f"{name} must be a whole number (got {shown(seed)})")
    if not SEED_MIN <= seed <= SEED_MAX:
        raise UsageError(f"{name} must be between {SEED_MIN} and {SEED_MAX} (got {seed})")
    return int(seed)


# The on/off keywords that may also be None, and what None does: align's leaves it to the model (the demo takes crops
# as they are), download_weights' offline follows the environment's offline mode.
_MAYBE_FLAGS = {"align": "to leave it to the model", "offline": "to follow HF_HUB_OFFLINE"}


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    """`value` is one of `choices` (limits.NOISE_MODES, EASINGS ...), or a UsageError naming the option."""
    # A str first: `in` compares a numpy array with each choice, and raised numpy's "truth value ... is ambiguous".
    if not isinstance(value, str) or value not in choices:
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
            unset = f", or None {_MAYBE_FLAGS[name]}" if name in _MAYBE_FLAGS else ""
            raise UsageError(f"{option(name, value)}: give True or False{unset}")
    return checked


def check_function(name: str, value, optional: bool = False) -> None:
    """`value` can be called (with each line, or each row's result), or is None if `optional`: anything else
    failed as Python's own TypeError ("'int' object is not callable") at the first line, mid-morph."""
    if not (callable(value) or (optional and value is None)):
        none = " or None" if optional else ""
        raise UsageError(f"{option(name, value)}: give a function of one argument (print, for one){none}")


def refuse_one_path(inputs, what: str) -> list:
    """`inputs` as a list, each a path (a str or os.PathLike), or UsageError saying what to pass. A single path where
    a list of inputs is expected would be iterated character by character ("/: is a directory, not an image" for
    morph("/tmp/a.png", ...)); so would a photo in memory (a numpy image row by row, an open file line by line: a
    TypeError naming nothing). A generator is read here, once: its items are checked as a list's are (a non-path in
    one reached pathlib as a TypeError, and `mix` and `Session.encode_inputs` took none at all)."""
    if isinstance(inputs, (str, bytes, os.PathLike)) and not _is_data(inputs):
        raise UsageError(f"{what}: got one path ({os.fsdecode(inputs)!r}) where a list of inputs is expected; "
                         f"pass a list, e.g. [\"a.png\", \"b.png\"]")
    advice = in_memory_advice(inputs)
    if advice or callable(getattr(inputs, "read", None)) or getattr(getattr(inputs, "dtype", None), "kind", None) in (
            "u", "i", "f"):
        raise UsageError(f"{what}: got {shown(inputs)} where a list of paths is expected, e.g. [\"a.png\", "
                         f"\"b.png\"]{advice}")
    if not isinstance(inputs, Iterable):
        raise UsageError(f"{option(what, inputs)}: pass a list of paths, e.g. [\"a.png\", \"b.png\"]")
    items = list(inputs)  # a numpy array of names too, which is no Sequence and reached os.fspath as a TypeError
    for i, item in enumerate(items):
        if not isinstance(item, (str, os.PathLike)):
            advice = in_memory_advice(item) or "; pass a list of paths (each a str or os.PathLike)"
            raise UsageError(f"{what}[{i}]: {shown(item)} is not a path{advice}")
    return items


def _is_data(value) -> bool:
    """Whether `value` is bytes that cannot be a path: a file's contents (no path holds a NUL byte; PNG's and
    JPEG's first 8 bytes do)."""
    return isinstance(value, (bytes, bytearray, memoryview)) and (b"\0" in value or len(value) > 4096)


def in_memory_advice(value) -> str:
    """"; " and how to pass `value`, a photo or code held in memory, to a verb, which reads its inputs from files
    (a file is what the code cache, the summary's "inputs" and a batch row name): a line that runs as given for
    that kind of value, held under the name it uses (`pil_image_of`'s). "" for anything else."""
    if isinstance(value, (bytes, bytearray, memoryview)):  # the file's own bytes: no second JPEG compression
        return '; write the bytes to a file and pass its path, e.g. pathlib.Path("face.jpg").write_bytes(data)'
    if callable(getattr(value, "getvalue", None)):  # io.BytesIO
        return ('; write its bytes to a file and pass its path, e.g. '
                'pathlib.Path("face.jpg").write_bytes(buffer.getvalue())')
    name = getattr(value, "name", None)
    if callable(getattr(value, "read", None)) and isinstance(name, str) and os.path.isfile(name):
        return f"; the file's path is {name!r}"  # an open file
    made = pil_image_of(value)
    if made is not None:
        return f'; save it to a file and pass its path, e.g. {made}.save("face.png")'
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and len(shape) == 4 and pil_image_of(value[0]) is not None:  # [N, H, W, 3]
        return ('; save each image to a file and pass their paths, e.g. for i, array in enumerate(stack): '
                f'{pil_image_of(value[0])}.save(f"face{{i}}.png")')
    if isinstance(shape, tuple) and len(shape) in (2, 3) and getattr(value.dtype, "kind", None) == "f":  # a W+ code
        return '; save a code to a .npy file and pass its path, e.g. numpy.save("face.npy", code)'
    return ""


# PIL's modes that a PNG keeps as they are; another (CMYK, YCbCr) is converted to RGB first.
_PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")


def pil_image_of(value) -> str | None:
    """An expression that makes a PIL image (one a PNG can hold) of `value`, a photo in memory held as `image` (a PIL
    image), `array` (numpy [H, W, 3] or RGBA: uint8, or floats 0-1 as matplotlib and skimage hold them), `data`
    (a file's bytes) or `buffer` (io.BytesIO); None for anything else."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "PIL.Image.open(io.BytesIO(data))"
    if callable(getattr(value, "getvalue", None)):
        return "PIL.Image.open(io.BytesIO(buffer.getvalue()))"
    mode = getattr(value, "mode", None)
    if callable(getattr(value, "save", None)) and isinstance(mode, str) and hasattr(value, "size"):  # PIL.Image
        return "image" if mode in _PNG_MODES else 'image.convert("RGB")'  # PNG cannot hold CMYK
    shape, kind = getattr(value, "shape", None), getattr(getattr(value, "dtype", None), "kind", None)
    if not (isinstance(shape, tuple) and len(shape) == 3 and shape[-1] in (3, 4) and kind in ("u", "i", "f")):
        return None
    if kind == "f":
        return 'PIL.Image.fromarray((array.clip(0, 1) * 255).round().astype("uint8"))'
    return "PIL.Image.fromarray(array)" if value.dtype == "uint8" else 'PIL.Image.fromarray(array.astype("uint8"))'


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
            # render() reads a code from its .npy; one in memory (an array) is drawn by a Session instead
            drawn = ("; a code in memory is drawn by Session(weights).frames([code]) (uint8 [H, W, 3] images)"
                     if name == "codes" and hasattr(value, "shape") else in_memory_advice(value) if name == "image"
                     else "")
            raise UsageError(f"{option(name, value)}: give a path (a str or os.PathLike){drawn}")
