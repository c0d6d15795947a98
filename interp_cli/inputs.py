"""Which input an option names (`--backdrop b`, `--coarse 2`), which face each input gives (`--face`),
where `--save-aligned` keeps each crop, and the other choices about the inputs a verb refuses before
it loads a model (`morph_choices`, `mix_sources`, `code_input`).

Torch-free, so that `interp batch` can plan every row's crops before it loads a model, by the same
rules a morph applies when it runs, `interp align` checks its photo without loading torch at all, and
the command line refuses a bad `--backdrop` or `--face` before torch's import (1-2 s, 15 s on a busy
machine) with the line the pipeline's verbs give a Python caller.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from interp_cli.checks import refuse_one_path
from interp_cli.errors import InputError, UsageError, face_without_alignment, option, shown, speaking_to_cli, verb
from interp_cli.files import check_input_file, refuse_overwriting_inputs

Faces = int | None | Sequence[int | None]  # --face: one for every input, or one per input

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def is_code(path: str | os.PathLike) -> bool:
    """Whether an input is a saved code (`.npy`, from `interp encode`) rather than a photo: told by its name alone,
    as every verb tells it, so a misnamed file is refused when it is read as the kind its name says."""
    return Path(path).suffix.lower() == ".npy"


# How PNG, JPEG, GIF and TIFF files begin (WebP: RIFF....WEBP), and a .npy array.
_IMAGE_STARTS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\0", b"MM\0*")


def input_kind(head: bytes) -> str | None:
    """What an input file is, told by its first 12 bytes where a file given as another kind (a manifest, a
    checkpoint) is one of interp's inputs: "an image", "a .npy array (such as a code `interp encode` writes)",
    else None. Its reader's own refusal ("not UTF-8 text", "truncated or corrupt") would send the user to mend a
    file that is whole."""
    if head.startswith(_IMAGE_STARTS) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return "an image"
    if head.startswith(b"\x93NUMPY"):
        return f"a .npy array (such as a code {verb('encode')} writes)"
    return None


def check_inputs(inputs: Sequence[str | os.PathLike], outputs: Sequence = ()) -> list[Path]:
    """Refuse unusable inputs, and outputs that would overwrite one of them, before any heavy work (`outputs`
    as `files.refuse_overwriting_inputs` takes them: a path, None, or (option, path))."""
    paths = check_input_files(inputs, outputs)
    check_input_contents(paths)
    return paths


def check_input_contents(paths: Sequence[Path]) -> None:
    """What `check_inputs` checks second, by reading each input: a photo decodes (`images.check_image`, 0.3-0.5 ms
    a small one), a code is not empty. A morph refuses what it can from the names and the files' bytes alone
    (`morph_choices`) between the two, so that a slip it refuses costs no decoding: a manifest row naming one photo
    200,000 times took a minute to be told it is a still."""
    from interp_cli.images import check_image  # numpy and PIL: not for the callers that only pick inputs

    for path in paths:
        if not is_code(path):
            check_image(path)  # fail fast on a bad image before loading 1 GB of weights
        elif os.path.getsize(path) == 0:
            raise InputError(f"{path}: not a readable .npy code file (the file is empty)", path)


def check_input_files(inputs: Sequence[str | os.PathLike], outputs: Sequence = ()) -> list[Path]:
    """What `check_inputs` checks first, from a stat of each input (none is opened): each is a file, and no
    output overwrites one. `interp batch` checks a row so before it loads a model for it."""
    paths = [Path(p) for p in refuse_one_path(inputs, "inputs")]
    for path in paths:
        check_input_file(path, "an image")  # stat only: a FIFO or device is refused, never opened
    refuse_overwriting_inputs(paths, outputs)
    return paths


def pick_input(name: str, value: str | int, count: int) -> int:
    """The 0-based index of the input (of `count`) that `value` names: a letter (a, b, c ...) or a 1-based number;
    `name` is the option's keyword (`backdrop`), said as `errors.option` says it."""
    v = str(value).strip().lower()
    index = ord(v) - ord("a") if len(v) == 1 and v.isalpha() else int(v) - 1 if v.isascii() and v.isdigit() else -1
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
    elif isinstance(face, (str, bytes)) or not isinstance(face, Iterable):  # face="1" was read as one value per letter
        raise UsageError(f"{option('face', face)}: give a face number (0 = leftmost), None for the largest, or one "
                         f"per input, e.g. {option('face', (None, 1))}")
    else:
        faces = list(face)
        if len(faces) != count:
            # The example has this line's count of places (`--face ,1` was offered to a morph of four inputs, and
            # to encode's one input, refusing that very `--face ,1`): the second input's face 1, or the one's.
            example = (None, 1) + (None,) * (count - 2) if count > 1 else (1,)
            raise UsageError(f"{option('face', tuple(faces))}: {len(faces)} "
                             f"value{'s' if len(faces) != 1 else ''} for {count} input{'s' if count != 1 else ''}; "
                             f"give one number for every input, or one per input (an empty place: the largest "
                             f"face), e.g. {option('face', example)}")
    for value in faces:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise UsageError(f"{option('face')}: {shown(value)} is not a face number (0 = leftmost)")
    return faces


def faces_for(paths: Sequence[Path], face: Faces, align: bool | None, backdrop_index: int | None = None
              ) -> list[int | None]:
    """`faces_per_input`, refusing a face picked in a photo that is not to be aligned (`align` False): --face picks
    among the faces alignment finds. A model's own default (the demo takes its inputs as they are) is known only
    once it loads (`Session`)."""
    faces = faces_per_input(face, len(paths), backdrop_index)
    if align is False:
        for path, chosen in zip(paths, faces):
            if chosen is not None and not is_code(path):
                raise UsageError(face_without_alignment(str(path), explicit=True))
    return faces


def paste_without_alignment() -> str:
    """Why --paste and --no-align cannot go together (a morph's refusal, and a batch's before any row)."""
    return (f"{option('paste', True)} puts the face back where alignment found it in the photo: it cannot be "
            f"combined with {option('align', False)}")


def backdrop_input(paths: Sequence[Path], paste: bool, backdrop: str | int | None, align: bool | None) -> int | None:
    """The index of the photo `--paste` composites into (None without --paste), refusing what cannot paste."""
    if not (paste or backdrop is not None):
        return None
    if align is False:
        raise UsageError(paste_without_alignment())
    index = pick_input("backdrop", 1 if backdrop is None else backdrop, len(paths))
    if is_code(paths[index]):
        chosen = option("backdrop") if backdrop is not None else \
            f"{option('paste', True)} (the first input is the backdrop)"
        raise UsageError(f"{chosen}: {paths[index]} is a code, not a photo; choose a photo input with "
                         f"{option('backdrop')}", path=paths[index])
    from interp_cli import align as alignment

    alignment.require_alignment(option("paste", True))  # the general hint (--no-align) does not apply here
    return index


def refuse_stills(paths: Sequence[Path], loop: bool, faces: Sequence[int | None] | None = None) -> None:
    """Two neighbouring inputs that are the same image (one file named twice, or a byte-identical copy)
    would make that whole transition one still frame repeated: almost always a slip for another name,
    so it is refused before the model loads (a deliberate pause is --hold). Unless they pick different
    `faces` (each input's, `faces_per_input`): one group photo twice, `--face 0,1`, morphs one person
    into the other (with --paste, inside that photo)."""
    faces = list(faces) if faces is not None else [None] * len(paths)
    for i, j in _neighbours(len(paths), loop):
        a, b = paths[i], paths[j]
        if not is_code(a) and faces[i] != faces[j]:
            continue  # two faces of one photo
        if _one_image(a, b):
            same = f"{a} follows itself" if str(a) == str(b) else f"{a} and {b} are the same image, one after the other"
            wrap = f" ({option('loop', True)} goes from the last input back to the first)" if j == 0 else ""
            raise UsageError(f"{same}{wrap}, so the morph between them would be a still; name two different "
                             f"images ({option('hold', 'N', placeholder=True)} pauses on each face)", path=b)


def refuse_same_faces(paths: Sequence[Path], loop: bool, found: Sequence) -> None:
    """`refuse_stills` once the faces are found: one photo twice whose two picks come to the same face (`--face ,0`
    where the largest face is also the leftmost) would be a still as well. `found`: each input's `AlignedFace`
    (None for a code or an unaligned image)."""
    for i, j in _neighbours(len(paths), loop):
        a, b = found[i], found[j]
        if a is None or b is None or a.face_index != b.face_index or not _one_image(paths[i], paths[j]):
            continue
        if a.n_faces > 1:
            picks = [None] * len(paths)
            picks[i], picks[j] = 0, 1
            fix = f"pick two different faces, e.g. {option('face', tuple(picks))}"
        else:
            fix = "name two different images"
        raise UsageError(f"{paths[j]} follows itself and both picks came to the same face ({a.face_index}, counting "
                         f"from the left), so the morph between them would be a still; {fix}", path=paths[j])


def _neighbours(count: int, loop: bool) -> list[tuple[int, int]]:
    """The inputs a morph goes between, as (from, to) indexes: each to the next, and with --loop the last back to
    the first (two inputs already go there and back)."""
    return [(i, i + 1) for i in range(count - 1)] + ([(count - 1, 0)] if loop and count > 2 else [])


def _one_image(a: Path, b: Path) -> bool:
    """Whether two inputs are one image: one file named twice, or a byte-identical copy. A photo and a code are
    read differently, so never one (a misnamed file is named when it is read)."""
    import filecmp

    if is_code(a) != is_code(b):
        return False
    return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)


def refuse_one_face_mix(paths: Sequence[Path], sources: dict[str, int]) -> None:
    """A mix whose inputs are all one image (`mix_sources`' choice) draws that face alone, as `refuse_stills`'
    morph would be a still: a slip for another name, refused before the model loads."""
    used = sorted(set(sources.values()))
    first = paths[used[0]]
    if all(_one_image(first, paths[i]) for i in used[1:]):
        other = paths[used[-1]]
        same = f"{first} is named twice" if str(first) == str(other) else f"{first} and {other} are the same image"
        raise UsageError(f"{same}, so the mix would be that one face; name two different images", path=other)


def morph_choices(paths: Sequence[Path], *, steps: int = 60, loop: bool = False, pingpong: bool = False,
                  hold: int = 0, paste: bool = False, backdrop: str | int | None = None, align: bool | None = None,
                  face: Faces = None) -> tuple[int | None, list[int | None]]:
    """What a morph of `paths` refuses about its inputs and their frames before it loads a model: too many frames
    (`blend.frame_count`), two neighbours that are one image, a --backdrop or --face that does not fit, --paste
    without alignment. Returns (the backdrop's index or None, each input's face)."""
    from interp_cli.blend import frame_count  # numpy, not torch

    frame_count(len(paths), steps, loop=loop, pingpong=pingpong, hold=hold)
    index = backdrop_input(paths, paste, backdrop, align)
    faces = faces_for(paths, face, True if index is not None else align, index)
    refuse_stills(paths, loop, faces)
    return index, faces


def refuse_oversized_frames(paths: Sequence[Path], backdrop_index: int | None, output: str | os.PathLike, kind: str,
                            size: int | None, fps: float) -> None:
    """Refuse a --paste morph whose frames (the backdrop photo's size, or `size` px wide at its aspect ratio) the
    output of `kind` cannot hold (`frame_writer.frames_too_large`), from the photo's header: before the model
    loads, not after every frame is rendered. Frames not pasted are at most --size's bound, which every output
    holds."""
    if backdrop_index is None:
        return
    from interp_cli.frame_writer import frames_too_large
    from interp_cli.images import upright_size
    from interp_cli.paste import pasted_size

    photo = upright_size(paths[backdrop_index])
    if not min(photo):
        return  # no size to tell: check_image refuses the file
    problem = frames_too_large(kind, output, pasted_size(photo, size), fps, lambda width: pasted_size(photo, width),
                               f"{option('paste', True)} into {paths[backdrop_index]}")
    if problem:
        raise UsageError(problem)


def mix_sources(paths: Sequence[Path], coarse: str | int, middle: str | int | None, fine: str | int
                ) -> dict[str, int]:
    """Which input (0-based) gives a mix's coarse, middle and fine rows; two or three inputs, each named by one."""
    if not 2 <= len(paths) <= 3:  # three row groups take at most three faces; one is no mix
        usage = " (interp mix A B [C])" if speaking_to_cli() else ""
        raise UsageError(f"mix takes two or three inputs{usage}, got {len(paths)}")
    sources = {"coarse": pick_input("coarse", coarse, len(paths)),
               "middle": pick_input("middle", middle or coarse, len(paths)),
               "fine": pick_input("fine", fine, len(paths))}
    unused = [i for i in range(len(paths)) if i not in sources.values()]
    if unused:
        i = unused[0]
        # Leaving it out works only for a third input: without the first or second, the letters after it
        # shift, and two inputs less one is no mix.
        drop = " or leave it out" if len(paths) == 3 and i == 2 else ""
        # Three inputs with every row from one leave two unnamed: naming only the first (`--middle b`) was refused
        # again for the other, so the example names both.
        example = option("middle", LETTERS[i])
        if len(unused) == 2:
            example += (" " if speaking_to_cli() else ", ") + option("fine", LETTERS[unused[1]])
        raise UsageError(f"{paths[i]}: input {LETTERS[i]} is named by none of {option('coarse')}, "
                         f"{option('middle')} and {option('fine')}; name it (e.g. {example}){drop}", path=paths[i])
    return sources


def code_input(path: Path, command: str) -> None:
    """`encode` takes a photo and `render` a `.npy` code (`command`): the other kind is refused, as the input at
    fault (`InputError`: its `.path`, and --json's "path", name it)."""
    code = is_code(path)
    if command == "encode" and code:
        raise InputError(f"{path}: already a code file; encode takes an image", path)
    if command == "render" and not code:
        raise InputError(f"{path}: render takes a .npy code file (from {verb('encode')})", path)


def check_crop_folder(folder: Path) -> None:
    """Refuse a `--save-aligned` folder that is a file, or a symlink that loops or leads to nothing ("exists and
    is not a directory" sent the user to a folder `ls` shows); a missing one is made at the end."""
    from interp_cli.output_paths import why_missing

    if os.path.lexists(folder) and not folder.is_dir():
        shown = option("save_aligned", os.fspath(folder))
        if os.path.islink(folder) and not folder.exists():
            raise UsageError(f"{shown}: {why_missing(folder)}", path=folder)
        raise UsageError(f"{shown}: exists and is not a directory", path=folder)


def plan_aligned(paths: Sequence[Path], save_aligned: str | os.PathLike | None,
                 outputs: Sequence[tuple[str, str | os.PathLike | None]] = (),
                 planned: Sequence[Path | None] | None = None) -> list[Path | None]:
    """Where `--save-aligned DIR` saves each input's crop (None for a `.npy` code, which has none), checked
    before any work as an output is: never an input (symlinks and hard links too), never one of the
    command's `outputs` ((option, path) pairs) nor inside its frames folder, one name per crop, and a
    folder that is writable or can be made. A crop is NAME_aligned.png; inputs that share a NAME are
    numbered by their place among the inputs (NAME_aligned_1.png, NAME_aligned_2.png). A batch row's
    crops are `planned` across its whole manifest instead (`batch_plan.plan_crops`) and checked here alike."""
    from interp_cli import output_paths  # not for the callers that only pick inputs

    if save_aligned is None:
        output_paths.refuse_clashes(outputs)
        return [None] * len(paths)
    folder = Path(save_aligned)
    check_crop_folder(folder)
    photos = [i for i, path in enumerate(paths) if not is_code(path)]
    stems = [paths[i].stem for i in photos]
    # Two crops under one name would leave only the last: number them rather than lose one (the same
    # photo twice may well be two faces, --face 0,1, so it is not refused).
    names = {i: crop_name(paths[i].stem, None if stems.count(paths[i].stem) == 1 else i + 1) for i in photos}
    targets: list[Path | None] = [folder / names[i] if i in names else None for i in range(len(paths))] \
        if planned is None else list(planned)
    planned = [t for t in targets if t is not None]
    shown = option("save_aligned", os.fspath(save_aligned))
    for target in planned:
        try:
            output_paths.check_output_path(target)
            refuse_overwriting_inputs(paths, [target])
        except UsageError as err:
            raise UsageError(f"{shown}: {err}") from None
    # A crop is named by its own path and the option that makes it: "--save-aligned demo_a_aligned.png" read
    # as if the user had typed that name.
    output_paths.refuse_clashes([*outputs, *(("save_aligned", t, f"{os.fspath(t)} (the crop {shown} saves)")
                                             for t in planned)])
    return targets
