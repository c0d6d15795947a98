"""Which input an option names (`--backdrop b`, `--coarse 2`), which face each input gives (`--face`),
and the name of the crop `--save-aligned` keeps of it.

Torch-free, so that `interp batch` can plan every row's crops before it loads a model, by the same
rules a morph applies when it runs, and `interp align` checks its photo without loading torch at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from interp_cli.checks import refuse_one_path
from interp_cli.errors import InputError, UsageError, option
from interp_cli.files import check_input_file, refuse_overwriting_inputs

Faces = int | None | Sequence[int | None]  # --face: one for every input, or one per input

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def check_inputs(inputs: Sequence[str | os.PathLike], outputs: Sequence = ()) -> list[Path]:
    """Refuse unusable inputs, and outputs that would overwrite one of them, before any heavy work (`outputs`
    as `files.refuse_overwriting_inputs` takes them: a path, None, or (option, path))."""
    from interp_cli.images import check_image  # numpy and PIL: not for the callers that only pick inputs

    paths = check_input_files(inputs, outputs)
    for path in paths:
        if path.suffix.lower() != ".npy":
            check_image(path)  # fail fast on a bad image before loading 1 GB of weights
        elif os.path.getsize(path) == 0:
            raise InputError(f"{path}: not a readable .npy code file (the file is empty)", path)
    return paths


def check_input_files(inputs: Sequence[str | os.PathLike], outputs: Sequence = ()) -> list[Path]:
    """What `check_inputs` checks first, from a stat of each input (none is opened): each is a file, and no
    output overwrites one. `interp batch` checks a row so before it loads a model for it."""
    refuse_one_path(inputs, "inputs")
    paths = [Path(p) for p in inputs]
    for path in paths:
        check_input_file(path, "an image")  # stat only: a FIFO or device is refused, never opened
    refuse_overwriting_inputs(paths, outputs)
    return paths


def pick_input(name: str, value: str | int, count: int) -> int:
    """The 0-based index of the input (of `count`) that `value` names: a letter (a, b, c ...) or a 1-based number;
    `name` is the option's keyword (`backdrop`), said as `errors.option` says it."""
    v = str(value).strip().lower()
    index = ord(v) - ord("a") if len(v) == 1 and v.isalpha() else int(v) - 1 if v.isdigit() else -1
    if not 0 <= index < count:
        raise UsageError(f"{option(name, value)}: name one of the inputs ({', '.join(LETTERS[:count])}, "
                         f"or 1 to {count})")
    return index


def crop_name(stem: str, number: int | None = None) -> str:
    """The file `--save-aligned` saves an input's crop as: NAME_aligned.png, or NAME_aligned_N.png where
    several inputs share a NAME (a morph numbers them by place, a batch by first appearance)."""
    return f"{stem}_aligned.png" if number is None else f"{stem}_aligned_{number}.png"


def faces_per_input(face: Faces, count: int, backdrop_index: int | None = None) -> list[int | None]:
    """The face each of `count` inputs gives (None: its largest): `face` is one number for every input,
    or one per input. With --paste (`backdrop_index`) a single number picks the face in the backdrop
    only; the others give their largest face (a group photo as the backdrop would otherwise need as
    many faces in every input)."""
    if face is None or isinstance(face, int):
        faces = [face if backdrop_index is None or i == backdrop_index else None for i in range(count)]
    else:
        faces = list(face)
        if len(faces) != count:
            raise UsageError(f"{option('face', tuple(faces))}: {len(faces)} "
                             f"value{'s' if len(faces) != 1 else ''} for {count} inputs; give one number for every "
                             f"input, or one per input (an empty place: the largest face), "
                             f"e.g. {option('face', (None, 1))}")
    for value in faces:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise UsageError(f"{option('face')}: {value!r} is not a face number (0 = leftmost)")
    return faces
