"""A batch manifest: read the CSV into rows (`batch_plan` places each row's outputs inside --outdir).

    rows = read_manifest("pairs.csv")               # [Row(number, line, inputs, name)]

No torch here: `interp batch` refuses a bad manifest before loading anything.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from interp_cli.errors import UsageError, option
from interp_cli.options import MORPH_OPTION_NAMES
from interp_cli.files import check_input_file
from interp_cli.inputs import input_kind

HEADER_NAMES = ("output", "output_name", "name")


@dataclass(frozen=True)
class Row:
    """One data row: `number` counts data rows from 1 (the same in every shard), `line` is the CSV line."""

    number: int
    line: int
    inputs: tuple[str, ...]
    name: str
    problem: str | None = None  # why this row cannot run (it then fails alone, as its JSON line says)
    # A row with no header to read it by that ends in an empty cell: its name as an input would be
    # read (beside the manifest), for `plan_outputs` to tell a lost output name from a padded row.
    beside: str | None = None


def read_manifest(path: str | os.PathLike, warnings: list[str] | None = None) -> list[Row]:
    """A batch CSV: each row `input1,input2[,input3...],output_name`; `#` comment lines and a header
    row (the first row whose last cell is `output`, or that names an `output` column among other column
    names, none of them a file) are skipped. A header's named columns after its output (notes, a date)
    are not read: each row's cells there are dropped, said once as a line added to `warnings`. Empty
    cells are dropped; a row at least
    as wide as a header, with nothing after the header's output column, has its output there (empty: the
    row fails alone). Relative inputs are relative to the CSV. `Row.line` is the physical line the row
    starts on, as an editor numbers it. Only the first row may be a header: a header line further down
    (manifests joined by `cat`) is a row that fails alone, saying it is one (`_header_again`), as is a
    row run into the next file's first line by a missing final newline (`_run_together`)."""
    # Named as typed in every message (jobs/2024/pairs.csv:12, not pairs.csv:12), as an input photo is: two
    # manifests of one name in different folders, or a scheduler's log of many, would read alike.
    shown = check_input_file(path, "a CSV file")  # a FIFO is refused, never opened
    path = Path(shown)
    folder = path.parent
    rows: list[Row] = []
    # A huge cell is one bad row (no file name is that long), not a manifest csv cannot read.
    field_limit = csv.field_size_limit()
    try:  # raised inside: a stop landing as it is raised (a caller's SIGTERM handler's) still puts it back
        csv.field_size_limit(max(field_limit, 1 << 26))
        # utf-8-sig: a BOM (Excel's "CSV UTF-8", Notepad) is not part of the first cell.
        with open(path, newline="", encoding="utf-8-sig") as f:
            records, first = _Records(f), True
            output_column = None  # with a header: where its output column stands
            header: tuple[int, list[str]] | None = None  # with a header: its line and its cells, lower-case
            settings: dict[int, str] = {}  # with a header: its columns before the output named as a morph option
            ignored: set[int] = set()  # with a header: its named columns after the output one
            # strict: a quote left open is an error, not a cell that swallows the rest of the file.
            for cells in csv.reader(records, strict=True):
                line_no = records.row_start()
                cells = [c.strip() for c in cells]
                filled = [c for c in cells if c]
                if not filled:
                    continue
                if first and _is_header(filled):  # a header, after any comments
                    first = False
                    header = line_no, [c.lower() for c in filled]
                    output_column = max(i for i, c in enumerate(cells) if c.lower() in HEADER_NAMES)
                    ignored = {i for i, c in enumerate(cells) if i > output_column and c}
                    settings = {i: c for i, c in enumerate(cells[:output_column]) if _option_name(c)}
                    if ignored and warnings is not None:
                        named = ", ".join(f"{i + 1} {cells[i]!r}" for i in sorted(ignored))
                        # `...,output,tune`: said why 20 in it tunes no row, and what does
                        settings_after = [option(_option_name(cells[i]), "VALUE", placeholder=True)
                                          for i in sorted(ignored) if _option_name(cells[i])]
                        instead = f"; a row's own options are not read: set {', '.join(settings_after)} for the " \
                                  f"whole batch" if settings_after else ""
                        warnings.append(f"{shown}:{line_no}: column{'s' if len(ignored) > 1 else ''} {named} "
                                        f"not read: only the columns before the output column "
                                        f"{cells[output_column]!r} are inputs{instead}")
                    continue
                first = False
                again = _run_together(cells, header, ignored) or _header_again(filled, header, folder)
                if again is None:  # a repeated header's `tune` cell is no setting given: that row fails alone
                    _refuse_a_setting_as_input(cells, settings, folder, shown, line_no)
                if ignored:  # notes beside each row: the row is what stands in the other columns
                    cells = [c for i, c in enumerate(cells) if i not in ignored]
                    filled = [c for c in cells if c]
                    if not filled:
                        continue
                name, problem, beside = filled[-1], None, None
                if output_column is not None and output_column < len(cells) and not any(cells[output_column + 1:]):
                    # A spreadsheet pads every row to the header's width, so a row with fewer inputs has
                    # empty cells before the output column, and one whose output was left empty ends in a
                    # photo: "a.png,b.png,c.png," under input1,input2,input3,output morphed a to b into a
                    # sheet named c.png (replacing a photo c.png in --outdir). Such a row's output is the
                    # cell under the header's; rows written by hand, narrower or wider, end in theirs.
                    name = cells[output_column]
                    filled = [c for c in cells[:output_column] if c] + [name]
                    if not name:
                        problem = f"no output name (column {output_column + 1}, the header's output, is empty)"
                elif not cells[-1]:
                    beside = name if os.path.isabs(name) else _beside(folder, name)
                inputs = tuple(c if os.path.isabs(c) else _beside(folder, c) for c in filled[:-1])
                if problem is None and len(filled) < 3:
                    problem = "need at least two inputs and an output name"
                    # Excel saves "CSV" with semicolons where the decimal mark is a comma: one cell a row.
                    split = next((sep for sep in (";", "\t") if len(filled) == 1 and sep in filled[0]), None)
                    if split is not None:
                        problem += f"; its cells are separated by {split!r}, not by commas: save the manifest " \
                                   f"comma-separated"
                rows.append(Row(len(rows) + 1, line_no, inputs, name, again or problem, beside))
    except UnicodeDecodeError:
        raise UsageError(_not_utf8(path, shown), path=shown) from None
    except (csv.Error, ValueError) as err:  # ValueError: a NUL byte, before Python 3.11
        where = f":{records.row_line}" if isinstance(err, csv.Error) else ""  # the row with the stray quote
        hint = "; a quote left open?" if "unexpected end of data" in str(err) else ""
        raise UsageError(f"{shown}{where}: not a readable CSV manifest ({' '.join(str(err).split())}{hint})",
                         path=shown) from None
    finally:
        csv.field_size_limit(field_limit)
    if not rows:
        raise UsageError(f"{shown}: no rows to process", path=shown)
    if all(row.problem for row in rows):  # not a manifest at all (a list of photos?): refused up front
        raise UsageError(f"{shown}:{rows[0].line}: {rows[0].problem} (input1,input2[,...],output_name)", path=shown)
    return rows


def _option_name(cell: str) -> str | None:
    """The morph option a header cell names (`tune`, `--refine`, `Truncation`), or None."""
    name = cell.lower().lstrip("-").replace("-", "_")
    return name if name in MORPH_OPTION_NAMES else None


def _refuse_a_setting_as_input(cells: list[str], settings: dict[int, str], folder: Path, shown: str,
                               line_no: int) -> None:
    """A header `input1,input2,tune,output` read each row's 20 as an input: every row failed alone with "20: no
    such file", its tuning never asked for. A cell under a column named as a morph option that is no file is
    refused at once, naming the option that sets it for the whole batch (a row's own options are not read)."""
    for i, header in settings.items():
        cell = cells[i] if i < len(cells) else ""
        if cell and not os.path.lexists(cell if os.path.isabs(cell) else _beside(folder, cell)):
            raise UsageError(f"{shown}:{line_no}: column {i + 1} {header!r} holds {cell!r}, not an input: the columns "
                             f"before the output are each row's inputs, and a row's own options are not read; set "
                             f"it for the whole batch ({option(_option_name(header), 'VALUE', placeholder=True)}), "
                             f"one batch per setting", path=shown)


def _beside(folder: Path, cell: str) -> str:
    """`str(folder / cell)`, the name a relative input is shown by, without building a Path for each cell
    of a big manifest where the cell is already in Path's form (no "//", no "." part, no trailing "/")."""
    parts = cell.split("/")
    if os.sep != "/" or "" in parts or "." in parts:
        return str(folder / cell)
    return cell if folder == _HERE else os.path.join(folder, cell)


_HERE = Path(".")


def _is_header(filled: Sequence[str]) -> bool:
    """Whether a manifest's first row is column names: it ends in `output` (or `output_name`, `name`), or it
    names such a column among others after it (`input1,input2,output,notes`) and none of its cells is a file
    (a data row's output has a type, x.gif or x/, so "." or a slash)."""
    names = [cell.lower() for cell in filled]
    if any("\ufeff" in name for name in names):  # a row and a joined manifest's header run together: a row
        return False
    if names[-1] in HEADER_NAMES:
        return True
    return any(name in HEADER_NAMES for name in names) and \
        not any("." in cell or "/" in cell or os.sep in cell for cell in filled)


def _run_together(cells: Sequence[str], header: tuple[int, list[str]] | None, notes: set[int]) -> str | None:
    """Why a row is two lines run together, or None. `cat mon.csv tue.csv` where mon.csv has no final newline
    joins mon's last row and tue's first line: read as one row, it failed as "output name 'output': no file type"
    (tue's header) or "m1.gif\ufeffa.png: no such file" (tue's BOM), the join unseen. Seen by tue's BOM inside a
    cell (a row's own leading one is dropped, `_Records`), or by the row ending in the header's cells. A note (a
    column the header names after its output, `notes`) may hold a U+FEFF of its own, pasted from a web page: in a
    row no wider than the header, that is no join."""
    filled = [cell for cell in cells if cell]
    fits = bool(notes) and not any(cells[max(notes) + 1:])
    joined = next((cell for i, cell in enumerate(cells) if "\ufeff" in cell and not (fits and i in notes)), None)
    line, names = header if header is not None else (0, [])
    # The row's last cells, as many as the header has, when the row has more: the first of them is a cell of the
    # row run into the header's first name (`m1.gifinput1`), the rest the header's other names.
    tail = [cell.lower() for cell in filled[-len(names):]] if names and len(filled) > len(names) else []
    if joined is not None:
        where = f"a BOM (U+FEFF) inside {joined!r}, where a second file began"
    elif tail and tail[1:] == names[1:] and tail[0] != names[0] and tail[0].endswith(names[0]):
        where = f"it ends in the header line's cells (line {line}) after {filled[-len(names)]!r}"
    else:
        return None
    return f"is two lines run together: {where} (manifests joined, the first without a final newline?): " \
           "put a line break there"


def _header_again(filled: Sequence[str], header: tuple[int, list[str]] | None, folder: Path) -> str | None:
    """Why a row past the first is a header line again, or None. Manifests joined (`cat mon.csv tue.csv`) carry
    the second's header mid-file: read as data, it failed as "output name 'output': no file type", the join
    unseen. It still fails alone, as a row (never a line skipped unsaid), saying what it is: a copy of the
    header, or a header-like row (`_is_header`, no cell with a type or a folder, no input a file) where the
    first rows were data or another header."""
    if not _is_header(filled):
        return None
    if header is not None and [cell.lower() for cell in filled] == header[1]:
        return f"repeats the header line (line {header[0]}; manifests joined?): remove it"
    if any("." in cell or "/" in cell or os.sep in cell for cell in filled) or \
            any(os.path.lexists(_beside(folder, cell)) for cell in filled[:-1]):
        return None  # a data row whose output is named `output` (it fails for having no type)
    where = f"the header is line {header[0]}" if header is not None else "the rows above have none"
    return f"is a header line ({where}; manifests joined?): remove it"


_SAVE_AS_UTF8 = "save the manifest as UTF-8 (in Excel: CSV UTF-8)"


def _not_utf8(path: Path, shown: str) -> str:
    """Where a manifest stops being UTF-8 text, by line: the decoder's own "position 15" counts from the start
    of the 8 KB block it was decoding, which is no place in the file. `shown`: the manifest's name as typed."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode Text", Windows tools' "Unicode"
        return f"{shown}: is UTF-16 text; save the manifest as UTF-8"
    kind = input_kind(data[:12])
    if kind:  # a photo where the manifest goes (`interp batch a.png ...`): no saving as UTF-8 makes it one
        return (f"{shown}: {kind}, not a manifest: a manifest is text, one row per morph: "
                "input1,input2[,...],output_name (such as a.jpg,b.jpg,ab.mp4)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return f"{shown}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}); {_SAVE_AS_UTF8}"
    return f"{shown}: not UTF-8 text; {_SAVE_AS_UTF8}"  # changed while it was read


class _Records:
    """The manifest's lines for csv.reader, less `#` comment lines, counting physical lines.

    A comment is skipped as a line, before csv sees it: its quotes and commas are prose (`# see, "notes`
    must not open a quoted cell). A line that continues a quoted cell is never a comment: csv asks
    for it before the row it belongs to is returned, which is how `row_start` can tell."""

    def __init__(self, lines):
        self._lines = lines
        self.line = 0  # the physical line last handed to csv
        self.row_line = 0  # where the row being read began
        self._between_rows = True

    def __iter__(self):
        for text in self._lines:
            self.line += 1
            if self._between_rows:
                # A BOM where a row starts: two saved manifests joined (`cat mon.csv tue.csv`) keep the second's,
                # which named tue's first photo "\ufeffa.png", "no such file" with the BOM unseen in the line.
                text = text.removeprefix("\ufeff")
                if text.lstrip().startswith("#"):
                    continue
                self.row_line, self._between_rows = self.line, False
            yield text

    def row_start(self) -> int:
        """The line the row csv just returned began on; the next line starts a new row."""
        self._between_rows = True
        return self.row_line
