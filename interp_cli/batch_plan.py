"""A batch's plan: pick one shard's rows (`manifest` reads them), place each row's outputs inside --outdir.

    plan = plan_outputs(rows, "out/", sheets=False) # {row number: Placement}, duplicates refused
    batch = plan_batch("pairs.csv", "out/", shard="2/3") # all of the above and the shard's rows (`shards`),
                                                    # as `interp batch` checks it

No torch here: `interp batch` refuses a bad shard or duplicate names before loading anything.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from interp_cli.checks import check_paths
from interp_cli.errors import UsageError, option
from interp_cli.manifest import Row, read_manifest
from interp_cli.shards import Shard, parse_shard
from interp_cli.files import name_max, remove_folders, same_file, temp_like, too_long_name
from interp_cli.inputs import Faces, check_crop_folder, crop_name, faces_per_input, is_code, pick_input
from interp_cli.stops import deferred
from interp_cli.output_paths import (TEMP_LIKE, check_output_path, missing_file_type, odd_mp4_size, unwritable_type,
                                     why_missing)

_CONTROL = re.compile("[\x00-\x1f\x7f]")
# The morph options that decide a batch's --save-aligned crops, planned for the whole manifest (`plan_crops`).
CROP_CHOICES = ("save_aligned", "face", "paste", "backdrop")
# The morph options `plan_batch` checks the whole manifest against: the crops', and --size (an odd one for an .mp4 row).
PLANNED_CHOICES = (*CROP_CHOICES, "size")


@dataclass(frozen=True)
class Placement:
    """Where a row writes: `output` is handed to the morph (a trailing "/" kept: a frames directory),
    `targets` are the resolved files it makes (the output, then `--sheets`' contact sheet), or
    `error` says why the row may not write at all."""

    output: str = ""
    targets: tuple[Path, ...] = ()
    error: str | None = None
    sources: tuple[Path, ...] = ()  # the row's inputs, resolved
    crops: tuple[Path | None, ...] | None = None  # with --save-aligned: each input's crop (None for a code)


def sheet_name(output: str) -> str | None:
    """Where `--sheets` puts a row's contact sheet: NAME.sheet.png beside the output (a.mp4 ->
    a.sheet.png, frames/ -> frames.sheet.png); None when the output is a .png sheet already."""
    bare = output.rstrip("/" + os.sep)
    suffix = Path(bare).suffix.lower()
    if suffix == ".png" and bare == output:
        return None
    stem = bare[: -len(suffix)] if suffix and bare == output else bare
    return f"{stem}.sheet.png"


class _Lookups:
    """What placing many rows in one --outdir would otherwise ask the file system again for every
    row: the folder's longest name, each distinct input's resolved path (most manifests name the
    same photos in many rows), and each folder's resolved path (100,000 outputs in one folder: one
    walk up the folder's symlinks, then one lstat a name instead of a full `Path.resolve` each)."""

    def __init__(self, outdir: Path):
        self.name_max = name_max(outdir)
        self.inputs: dict[str, Path | BaseException] = {}
        self.folders: dict[str, Path | None] = {}

    def resolve(self, source: str) -> Path:
        found = self.inputs.get(source)
        if found is None:
            try:
                found = self.real(source)
            except (OSError, RuntimeError) as err:
                found = err
            self.inputs[source] = found
        if isinstance(found, BaseException):
            raise found
        return found

    def real(self, path: str) -> Path:
        """`Path(path).resolve()`, the same path and the same errors, with the folder's part looked up once.

        POSIX realpath resolves a name's parts left to right, so a last part that is not a symlink (nor
        "." or "..") lands in the resolved folder under its own name; anything else (a link, a folder
        that cannot be resolved, another OS's rules) goes the whole way, as before."""
        folder, name = os.path.split(path.rstrip("/")) if os.name == "posix" else ("", "")
        if not folder or name in ("", ".", ".."):
            return Path(path).resolve()
        real_folder = self.folders.get(folder, False)
        if real_folder is False:
            try:
                real_folder = Path(folder).resolve()
            except (OSError, RuntimeError):
                real_folder = None  # said by the whole walk below, for this path
            self.folders[folder] = real_folder
        if real_folder is not None:
            joined = os.path.join(real_folder, name)
            try:
                is_link = stat.S_ISLNK(os.lstat(joined).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                is_link = False  # realpath goes on past a missing name as if it were no link
            except (OSError, ValueError):
                is_link = True  # too long, a NUL ...: the whole walk says what it says
            if not is_link:
                return real_folder / name  # parses only the name
        return Path(path).resolve()


def place_output(outdir: Path, name: str, inputs: Sequence[str], *, sheets: bool = False,
                 lookups: _Lookups | None = None) -> Placement:
    """Resolve a row's output name inside `outdir` (already resolved). Symlinks are followed before
    the containment check, so a link inside outdir that points elsewhere cannot carry a write out.
    Whatever a row's cells hold (a NUL byte, a symlink loop, an overlong name), the answer is a
    Placement, never an exception: a bad row fails alone. `lookups` carries what rows share."""
    lookups = lookups or _Lookups(outdir)
    for cell in (name, *inputs):
        if "\0" in cell:
            return Placement(error=f"{cell!r}: holds a NUL byte, which no file name can")
    if _CONTROL.search(name):  # a line break from a quoted cell, a tab ...
        return Placement(error=f"output name {name!r} holds a control character")
    if os.path.isabs(name):
        return Placement(error=f"output name {name!r} must be relative to {option('outdir')}")
    too_long = too_long_name(name, outdir, limit=lookups.name_max)
    if too_long is not None:
        return Placement(error=f"output name {name!r}: {too_long}")
    swept = temp_like(name)
    if swept is not None:
        return Placement(error=f"output name {name!r}: {TEMP_LIKE.format(part=swept)}")
    try:
        output, targets = _targets(outdir, name, sheets, lookups)
        resolved = targets[0]
    except (OSError, RuntimeError) as err:  # a symlink loop: RuntimeError before Python 3.13, OSError since
        return Placement(error=f"output name {name!r} cannot be resolved ({_reason(err)})")
    # `m2`, as with `-o out/m2`: most likely a typo for m2.mp4, refused rather than made a frames folder.
    # A type no morph writes (`notes.csv`, `codes.npy`) fails its row here, as the morph would: not skipped by
    # --skip-existing for a file of that name being there, and before the model loads for it.
    no_type = missing_file_type(name, resolved) or unwritable_type(name, resolved)
    if no_type is not None:
        return Placement(error=f"output name {name!r}: {no_type}")
    sources = []
    for source in inputs:
        try:
            sources.append(lookups.resolve(source))
        except (OSError, RuntimeError) as err:
            return Placement(error=f"{source}: cannot be resolved ({_reason(err)})")
    # Compared as text, once each (a batch places every row): resolved paths, so one text is one path, and
    # what only a case-blind file system calls one file is found by same_file.
    top, inside, named = str(outdir), os.path.join(outdir, ""), [str(source) for source in sources]
    for target in targets:
        text = str(target)
        if text == top or not text.startswith(inside):  # a prefix test: outdir is resolved
            return Placement(error=f"output name {name!r} leads outside {option('outdir')}")
        folder = os.path.join(text, "")
        exists = os.path.lexists(text)  # most outputs are not made yet: no same_file() per input then
        for source, source_text in zip(sources, named):
            if source_text == text or source_text.startswith(folder) or (exists and same_file(text, source_text)):
                return Placement(error=f"output name {name!r} would overwrite its input {source.name}")
    return Placement(output, targets, sources=tuple(sources))


def _targets(outdir: Path, name: str, sheets: bool, lookups: _Lookups) -> tuple[str, tuple[Path, ...]]:
    """The output a row's `name` hands to the morph, and the files it makes there, resolved: the output, then
    with `sheets` its contact sheet. OSError or RuntimeError (a symlink loop) where a name cannot be resolved."""
    resolved = lookups.real(os.path.join(outdir, name))
    output = f"{resolved}{os.sep}" if name.endswith(("/", os.sep)) else str(resolved)
    sheet = sheet_name(output) if sheets else None
    return output, (resolved, lookups.real(sheet)) if sheet is not None else (resolved,)


def _claim(outdir: Path, row: Row, sheets: bool, lookups: _Lookups) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """What a row stakes out, for the checks over the whole manifest without placing the row in full: the files
    it would write (none where its name cannot be resolved inside --outdir) and its inputs that resolve. For a
    row that `place_output` places, these are its Placement's `targets` and `sources`, found the same way; for
    one it refuses, they may say more (it is then placed in full wherever a clash names it)."""
    sources = []
    for source in row.inputs:
        try:
            sources.append(lookups.resolve(source))
        except (OSError, RuntimeError, ValueError):  # ValueError: a NUL byte
            continue
    name = row.name
    if row.problem or "\0" in name or os.path.isabs(name):
        return (), tuple(sources)
    try:
        targets = _targets(outdir, name, sheets, lookups)[1]
    except (OSError, RuntimeError, ValueError):
        return (), tuple(sources)
    inside = os.path.join(outdir, "")
    return (targets if all(str(t).startswith(inside) for t in targets) else ()), tuple(sources)


def _reason(err: BaseException) -> str:
    if isinstance(err, RuntimeError) or getattr(err, "errno", None) == errno.ELOOP:
        return "a symlink loop"
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def same_name_key(path: Path) -> str:
    """Two outputs that are one file on *some* file system get one key: case folded and Unicode
    normalised, because a job array's --outdir is often a share (SMB, a Mac's APFS) that ignores
    case or normalises names, where `A.mp4` and `a.mp4` would silently overwrite each other.

    Those file systems fold case one character to one (Unicode's simple folding): `Straße.mp4` and
    `Strasse.mp4` are two files there, which `str.casefold` (full folding, ß to ss) would call one."""
    text = str(path)
    if text.isascii():  # most names, a row at a time over the whole manifest: one C call, the same key
        return text.lower()
    text = unicodedata.normalize("NFC", text)
    return "".join(folded if len(folded := c.casefold()) == 1 else c.lower() for c in text)


def plan_outputs(rows: Sequence[Row], outdir: Path, *, sheets: bool = False, manifest: str | None = None,
                 only: Collection[int] | None = None) -> dict[int, Placement]:
    """Place every row (with `only`, a shard's row numbers: those rows) and refuse, before any work, two rows
    that would write the same file, or one whose output would spoil another row's input.

    Those clashes are judged over the whole manifest, alike in every shard, and only between rows that are
    placed (a row that fails alone, for a NUL in an input or a name leading outside --outdir, clashes with
    nothing). A shard need not place every row in full for that: each row's outputs and inputs are resolved
    (`_claim`, the same files as its placement for a row that is placed), and only the rows a clash among
    those names are placed in full, to tell whether the clash counts. The verdict is that of placing every
    row; the rows placed are this shard's, and the few a clash named. `manifest`: the file the rows were read
    from, which a refusal names (as its `path` too)."""
    where = "manifest" if manifest is None else manifest
    lookups = _Lookups(outdir)
    plan: dict[int, Placement] = {}

    def placed(row: Row) -> Placement:
        if row.number not in plan:
            place = Placement(error=row.problem) if row.problem else \
                place_output(outdir, row.name, row.inputs, sheets=sheets, lookups=lookups)
            if row.beside is not None and place.error is None and _lost_output(row, place):
                place = Placement(error=(
                    f"its last cell {row.name} is a photo beside the manifest, and "
                    "the row ends in an empty cell: is its output name missing? (under a header row "
                    "input1,input2,...,output rows are read by column)"))
            plan[row.number] = place
        return plan[row.number]

    if only is None:
        claims = {row.number: (placed(row).targets, placed(row).sources) for row in rows}
    else:
        wanted = set(only)
        claims = {row.number: (placed(row).targets, placed(row).sources) if row.number in wanted else
                  _claim(outdir, row, sheets, lookups) for row in rows}

    def counts(row: Row) -> bool:  # whether a row named by a clash among claims is placed, so that it counts
        return placed(row).error is None

    writers: dict[str, list[tuple[Path, Row]]] = {}
    for row in rows:
        for target in claims[row.number][0]:
            writers.setdefault(same_name_key(target), []).append((target, row))
    if only is not None:  # a clash among claims counts between placed rows only
        for key in [key for key, found in writers.items() if len(found) > 1]:
            writers[key] = [(target, row) for target, row in writers[key] if counts(row)]
    clashes = [found for found in writers.values() if len(found) > 1]
    if clashes:
        def names(found: list[tuple[Path, Row]]) -> str:
            distinct = list(dict.fromkeys(str(path.relative_to(outdir)) for path, _ in found))
            return distinct[0] if len(distinct) == 1 else \
                " and ".join(distinct) + " (one file where case or Unicode normalisation is ignored)"

        shown = "; ".join(f"{names(found)} by rows " + ", ".join(f"{r.number} (line {r.line})" for _, r in found)
                          for found in clashes[:5])
        raise UsageError(f"{where}: duplicate output names: {shown}{_more(clashes)}; give each row its own name",
                         path=manifest)
    crossed = [said for writer, reader, said in _crossed_rows(rows, claims, writers, outdir)
               if only is None or (counts(writer) and counts(reader))]
    if crossed:
        raise UsageError(f"{where}: {'; '.join(crossed[:5])}{_more(crossed)}; give those outputs other names",
                         path=manifest)
    return plan if only is None else {number: plan[number] for number in sorted(wanted)}


def _lost_output(row: Row, placement: Placement) -> bool:
    """Whether a padded row's last name is a photo beside the manifest rather than its output.

    A spreadsheet with no header saves `a.png,b.png,c.png,` for a row whose output cell was left empty
    and `a.png,b.png,ab.gif,` for a two-photo row: alike but for the last name. Only a `.png` is both
    an output (a contact sheet) and a photo, and it morphed a to b into a sheet named c.png. A file
    that is the row's own output (a rerun into the manifest's folder) may be last run's sheet, not a
    photo, so it is left alone."""
    if Path(row.name).suffix.lower() != ".png":
        return False
    try:
        return os.path.isfile(row.beside) and not same_file(row.beside, placement.output)
    except (OSError, ValueError):  # a NUL byte or an overlong name: placing the row said so already
        return False


def _more(found: Sequence) -> str:
    return f"; and {len(found) - 5} more" if len(found) > 5 else ""


def _crossed_rows(rows: Sequence[Row], claims: Mapping[int, tuple[tuple[Path, ...], tuple[Path, ...]]],
                  writers: Mapping[str, list[tuple[Path, Row]]], outdir: Path) -> list[tuple[Row, Row, str]]:
    """Rows whose outputs would spoil another row's work, in whatever order the shards run them: an
    output that is another row's input or a folder holding one (the morph would replace the photo),
    or one inside another row's output (`frames/` and `frames/frame_0001.png`, `x.gif` and `x.gif/y.gif`).
    Symlinks are resolved already; a hard link is left alone, as outputs are renamed into place. `claims`:
    each row's (targets, sources). Each as (the row that writes, the row it spoils, what to say)."""
    prefix = os.path.join(outdir, "")

    def inside(path: Path) -> list[Path]:  # path and the folders above it, below --outdir
        if not str(path).startswith(prefix):  # most inputs: a string test, not a walk up
            return []
        spots = [path]
        while spots[-1].parent != outdir:
            spots.append(spots[-1].parent)
        return spots

    found: dict[Path, list[tuple[Path, Row]]] = {}

    def written(path: Path) -> list[tuple[Path, Row]]:
        """(spot, its writer) for `path` and each folder above it below --outdir, in that order: once per
        path, since a manifest names the same photos, and puts its outputs in the same folders, row after row."""
        if path not in found:
            found[path] = [(spot, writer) for spot in inside(path)
                           for _, writer in writers.get(same_name_key(spot), ())]
        return found[path]

    crossed = []
    for row in rows:
        targets, sources = claims[row.number]
        for source in sources:
            for spot, writer in written(source):
                if writer.number != row.number:
                    what = "an input" if spot == source else f"the folder of {source.name}, an input"
                    crossed.append((writer, row, f"row {writer.number} (line {writer.line}) would overwrite "
                                    f"{spot.relative_to(outdir)}, {what} of row {row.number} (line {row.line})"))
        for target in targets:
            # The folders above it, below --outdir: those above its folder, and that folder unless it is --outdir.
            for spot, other in written(target.parent):
                    crossed.append((row, other, f"row {row.number} (line {row.line}) writes "
                                    f"{target.relative_to(outdir)} inside {spot.relative_to(outdir)}, row "
                                    f"{other.number}'s output (line {other.line})"))
    return crossed


def plan_crops(rows: Sequence[Row], plan: Mapping[int, Placement], folder: str | os.PathLike, *, face: Faces = None,
               paste: bool = False, backdrop: str | int | None = None,
               manifest: str = "manifest") -> dict[int, Placement]:
    """`plan` with each row's `--save-aligned` crops: one name per photo (and face) across the whole
    manifest, so that rows in different folders whose photos share a name keep both crops, and the
    same photo in many rows is one file. Names are NAME_aligned.png, numbered NAME_aligned_1.png,
    NAME_aligned_2.png ... in the order the manifest first names them when several photos (or faces
    of one photo) share a NAME. A crop that would replace any row's input or land on or in any row's
    output refuses the manifest, as crossed outputs do; a row whose --face or --backdrop does not fit
    its inputs fails alone."""
    folder = Path(folder)
    check_crop_folder(folder)
    keys: dict[int, list] = {}
    placed = dict(plan)
    for row in rows:
        place = plan[row.number]
        if place.error is not None:
            continue
        count = len(row.inputs)
        try:
            chosen = pick_input("backdrop", 1 if backdrop is None else backdrop, count) \
                if paste or backdrop is not None else None
            faces = faces_per_input(face, count, chosen)
        except UsageError as err:
            placed[row.number] = replace(place, error=str(err))
            continue
        keys[row.number] = [None if is_code(typed) else (source, faces[i], Path(typed).stem)
                            for i, (typed, source) in enumerate(zip(row.inputs, place.sources))]
    # The distinct (photo, face) pairs under each name, in manifest order: a dict, not a list, since a
    # manifest of 20,000 rows may name 20,000 photos called face.png.
    by_stem: dict[str, dict[tuple, None]] = {}
    for found in keys.values():
        for key in found:
            if key is not None:
                by_stem.setdefault(same_name_key(Path(key[2])), {}).setdefault(key[:2])
    names: dict[tuple, int | None] = {}  # a pair's number among those sharing its name (None: the only one)
    for pairs in by_stem.values():
        for number, pair in enumerate(pairs, 1):
            names[pair] = number if len(pairs) > 1 else None
    probed = False
    for number, found in keys.items():
        crops = []
        for key in found:
            if key is None:
                crops.append(None)
                continue
            crops.append(folder / crop_name(key[2], names[key[:2]]))
        if not probed and any(crops):  # one folder: proven writable (or makeable) once, not per crop
            try:
                check_output_path(next(c for c in crops if c is not None))
            except UsageError as err:
                raise UsageError(f"{option('save_aligned', str(folder))}: {err}") from None
            probed = True
        placed[number] = replace(placed[number], crops=tuple(crops))
    crossed = _crops_crossing(rows, placed, folder)
    if crossed:
        raise UsageError(f"{manifest}: {'; '.join(crossed[:5])}{_more(crossed)}; choose another "
                         f"{option('save_aligned')} folder")
    return placed


def _crops_crossing(rows: Sequence[Row], plan: Mapping[int, Placement], folder: Path) -> list[str]:
    """Crops that would replace a row's input (by name, or as a hard link to it), or land on or inside
    a row's output."""
    try:
        where = folder.resolve()
    except (OSError, RuntimeError) as err:
        raise UsageError(f"{option('save_aligned', str(folder))}: cannot be used ({_reason(err)})") from None
    inputs: dict[str, list[tuple[Path, Row]]] = {}
    outputs: dict[str, list[Row]] = {}
    for row in rows:
        for source in plan[row.number].sources:
            inputs.setdefault(same_name_key(source), []).append((source, row))
        for target in plan[row.number].targets:
            outputs.setdefault(same_name_key(target), []).append(row)
    inodes: dict[tuple[int, int], Row] | None = None

    def linked(spot: Path) -> list[tuple[Path, Row]]:  # an existing crop file that is a hard link to an input
        nonlocal inodes
        if inodes is None:  # only once some crop exists already: one stat per distinct input
            inodes = {}
            for found in inputs.values():
                try:
                    st = os.stat(found[0][0])
                except OSError:
                    continue
                inodes.setdefault((st.st_dev, st.st_ino), found[0][1])
        try:
            st = os.stat(spot)
        except OSError:
            return []
        row = inodes.get((st.st_dev, st.st_ino))
        return [(spot, row)] if row is not None else []

    crossed, seen = [], set()
    for row in rows:
        for crop in plan[row.number].crops or ():
            if crop is None or crop.name in seen:
                continue
            seen.add(crop.name)
            spot = where / crop.name
            hit = inputs.get(same_name_key(spot)) or (linked(spot) if os.path.lexists(spot) else [])
            if hit:
                other = hit[0][1]
                crossed.append(f"row {row.number}'s crop {crop.name} would overwrite an input of row {other.number} "
                               f"(line {other.line})")
            for above in (spot, *spot.parents):
                for other in outputs.get(same_name_key(above), ()):
                    crossed.append(f"row {row.number}'s crop {crop.name} would land "
                                   f"{'on' if above == spot else 'inside'} row {other.number}'s output "
                                   f"(line {other.line})")
    return crossed


@dataclass(frozen=True)
class BatchPlan:
    """A checked batch: this `shard`, every manifest row, `placements` (of each row of `mine`, at least), and
    `mine`, the shard's rows in manifest order."""

    shard: Shard
    rows: list[Row]
    placements: dict[int, Placement]
    mine: list[Row]
    warnings: tuple[str, ...] = ()  # about the manifest (a column not read), for the batch's log


def plan_batch(manifest: str | os.PathLike, outdir: str | os.PathLike, *, shard: str | Shard = "1/1",
               sheets: bool = False, save_aligned: str | os.PathLike | None = None, face: Faces = None,
               paste: bool = False, backdrop: str | int | None = None, size: int | None = None) -> BatchPlan:
    """Everything `interp batch` checks before it loads a model: the shard, the manifest, --outdir, the
    output names, an odd `size` against the .mp4 rows (`output_paths.odd_mp4_size`: every such row would fail alike)
    and, with `save_aligned`, every row's crop (`plan_crops`; `face`, `paste` and `backdrop`
    decide which face each input gives). UsageError, exit 2, on the first problem. Cheap and torch-free,
    so the command line runs it before importing the pipeline and a bad manifest is refused at once."""
    check_paths(manifest=manifest, outdir=outdir, save_aligned=save_aligned)
    shard = parse_shard(shard)
    warnings: list[str] = []
    rows = read_manifest(manifest, warnings)
    odd = odd_mp4_size(size)
    if odd is not None:
        for row in rows:
            if row.problem is None and row.name.lower().endswith(".mp4"):
                raise UsageError(f"{os.fspath(manifest)}:{row.line}: {row.name}: {odd}")
    outdir = Path(outdir)
    too_long = too_long_name(outdir / "x")  # the folder itself is made in place, not through a temp
    if too_long is not None:
        raise UsageError(f"{option('outdir', str(outdir))}: {too_long}", path=outdir)
    try:
        # One look, not exists() then is_dir(): another shard starting at once makes and removes --outdir between
        # the two (`make_outdir(keep=False)`), which read as "exists and is not a directory".
        try:
            a_file = not stat.S_ISDIR(os.stat(outdir).st_mode)
        except OSError:  # not there (made later), or a symlink loop (said by resolve, below)
            a_file = False
        if a_file:
            raise UsageError(f"{option('outdir', str(outdir))}: exists and is not a directory", path=outdir)
        resolved = outdir.resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop, a part that is a file ...
        raise UsageError(f"{option('outdir', str(outdir))}: cannot be used ({_reason(err)})", path=outdir) from None
    mine = [row for row in rows if shard.takes(row)]
    # --save-aligned names each photo's crop over the rows that are placed, in manifest order: every row then.
    only = None if save_aligned is not None else [row.number for row in mine]
    placements = plan_outputs(rows, resolved, sheets=sheets, manifest=os.fspath(manifest), only=only)
    if save_aligned is not None:
        placements = plan_crops(rows, placements, save_aligned, face=face, paste=paste, backdrop=backdrop,
                                manifest=os.fspath(manifest))
    return BatchPlan(shard, rows, placements, mine, tuple(warnings))


def make_outdir(outdir: str | os.PathLike, *, keep: bool = True) -> Path:
    """Create --outdir (and its parents); UsageError, one line, if it cannot be. `keep=False` only proves
    it can be: the folders it made are removed again (as `output_paths.check_output_path` proves a folder
    writable with a temp), so a batch stopped before its first row leaves nothing behind.

    `interp batch` proves it before it imports the pipeline: a parent that is a file or a read-only
    place is said at once, not after torch has loaded (a second and more, in each task of an array)."""
    outdir = Path(outdir)
    missing = missing_folders(outdir)
    with deferred():  # made and (unless kept) removed in one go: a stop landing between left the folders
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            # "File exists" for a folder that is a symlink to nothing, on the way to --outdir or --outdir itself.
            dangling = next((f for f in (outdir, *outdir.parents) if os.path.islink(f) and not f.exists()), None)
            reason = f"'{dangling}' {why_missing(dangling)}" if dangling is not None else \
                f"cannot create it ({err.strerror})"
            raise UsageError(f"{option('outdir', str(outdir))}: {reason}", path=outdir) from None
        if not keep:
            remove_folders(missing)
    return outdir


def missing_folders(outdir: str | os.PathLike) -> list[Path]:
    """`outdir` and the folders above it that do not exist yet, outermost first: what `make_outdir` will make,
    for `files.remove_folders` to take away again."""
    missing = []
    for folder in (Path(outdir), *Path(outdir).parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    return missing[::-1]
