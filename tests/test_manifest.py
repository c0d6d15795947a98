"""The batch manifest, read without a model (interp_cli.manifest): rows and their lines, headers, comments and
joins, and the manifests refused before any work (where each row writes: test_batch_plan)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interp_cli.batch_plan import plan_outputs
from interp_cli.errors import UsageError
from interp_cli.manifest import read_manifest
from tests.recipe import GOLDEN_DIR

A = GOLDEN_DIR / "golden_input_A.png"
B = GOLDEN_DIR / "golden_input_B.png"


def test_manifest_rows_lines_and_duplicates(tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"a,b,output\n# a comment\n{A},{B},x.gif\n\nc.png,d.png,e.png,sub/y.gif\n"
                        f"{B},{A},./x.gif\n{A},{B},sub/../sub/y.gif\n{A},{B},z.mp4\n{A},{B},z.sheet.png\n")
    rows = read_manifest(manifest)
    assert [(r.number, r.line) for r in rows] == [(1, 3), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9)]
    assert rows[1].inputs == tuple(str(tmp_path / n) for n in ("c.png", "d.png", "e.png"))
    with pytest.raises(UsageError) as err:
        plan_outputs(rows, tmp_path.resolve(), manifest="pairs.csv")
    assert str(err.value) == ("pairs.csv: duplicate output names: x.gif by rows 1 (line 3), 3 (line 6); "
                              "sub/y.gif by rows 2 (line 5), 4 (line 7); give each row its own name")
    with pytest.raises(UsageError, match=r"z.sheet.png by rows 5 \(line 8\), 6 \(line 9\)"):
        plan_outputs(rows[4:], tmp_path.resolve(), sheets=True)


def test_a_quote_left_open_refuses_the_manifest_instead_of_swallowing_the_rows_after_it(tmp_path):
    """csv's default reads to the end of the file for a closing quote: one typo, and every later row
    would silently become part of an output name while the batch reports success."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f'{A},{B},x.gif\n{A},{B},"q1.gif\n{B},{A},q2.gif\n{A},{B},q3.gif\n')
    shown = re.escape(str(manifest))  # as typed
    with pytest.raises(UsageError, match=rf"^{shown}:2: not a readable CSV manifest \(.*a quote left open\?\)$"):
        read_manifest(manifest)
    manifest.write_text(f'{A},{B},x.gif\n"{A}"x,{B},y.gif\n')  # text after a closing quote: once silently glued
    with pytest.raises(UsageError, match=rf"^{shown}:2: not a readable CSV manifest"):
        read_manifest(manifest)
    # A quoted cell may still span lines; its line break is no file name's, so that row fails alone.
    manifest.write_text(f'{A},{B},"x\ny.gif"\n{B},{A},z.gif\n')
    rows = read_manifest(manifest)
    assert [(r.line, r.name) for r in rows] == [(1, "x\ny.gif"), (3, "z.gif")]
    plan = plan_outputs(rows, tmp_path.resolve())
    assert "holds a control character" in plan[1].error and plan[2].error is None


def test_comments_are_lines_and_the_header_may_follow_them(tmp_path):
    """A comment's quotes and commas are prose; a header after comments is still a header; a row's
    line is the line an editor shows, also after a cell that spans lines."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f'# my batch, see "notes\n  # indented\ninput1,input2,output\n{A},"{B}\n",x.gif\n\n'
                        f'# a, b\n{B},{A},y.gif\n')
    rows = read_manifest(manifest)
    assert [(r.number, r.line, r.name) for r in rows] == [(1, 4, "x.gif"), (2, 8, "y.gif")]
    assert rows[0].inputs == (str(A), str(B))  # cells are stripped, a trailing line break too
    # After data, a header-like row is a row, failing alone as a header line (manifests joined by `cat`).
    manifest.write_text(f"{A},{B},x.gif\ninput1,input2,output\n")
    assert [(r.name, r.problem) for r in read_manifest(manifest)] == [
        ("x.gif", None), ("output", "is a header line (the rows above have none; manifests joined?): remove it")]
    # A header is read once: a second copy of it (two manifests joined by `cat`) is a row, never a line skipped
    # without a word, and it fails alone saying so (test_a_repeated_header_line_fails_alone_saying_what_it_is).
    manifest.write_text(f"input1,input2,output\ninput1,input2,output\n{A},{B},x.gif\n")
    assert [(r.line, r.name, r.problem) for r in read_manifest(manifest)] == [
        (2, "output", "repeats the header line (line 1; manifests joined?): remove it"), (3, "x.gif", None)]


def test_a_repeated_header_line_fails_alone_saying_what_it_is(tmp_path):
    """`cat mon.csv tue.csv > all.csv` carries tue's header mid-file: it failed as "output name 'output': no file
    type", the join unseen. It is still a row that fails alone (never a line skipped unsaid), saying it repeats
    the header, in any case and width of cells; another header (other column names) is said to be one; a header
    with a `tune` column repeated is that row's failure, not the whole manifest's. A data row whose output is
    named `output`, or whose inputs are files, stays a data row."""
    manifest = tmp_path / "all.csv"
    (tmp_path / "input1").write_bytes(b"a photo with no type")
    manifest.write_text(f"input1,input2,output,notes\n{A},{B},x.gif,mon\nINPUT1 , Input2,OUTPUT,notes,\n"
                        f"{B},{A},y.gif,tue\nphoto_a,photo_b,output\n{A},{B},output\ninput1,input2,output\n")
    rows = read_manifest(manifest)
    assert [(r.line, r.problem) for r in rows] == [
        (2, None), (3, "repeats the header line (line 1; manifests joined?): remove it"), (4, None),
        (5, "is a header line (the header is line 1; manifests joined?): remove it"), (6, None), (7, None)]
    plan = plan_outputs(rows, tmp_path / "out")
    assert plan[2].error == "repeats the header line (line 1; manifests joined?): remove it"  # as the batch says it
    manifest.write_text(f"input1,input2,tune,output\n{A},{B},,x.gif\ninput1,input2,tune,output\n")
    assert [r.problem for r in read_manifest(manifest)] == [
        None, "repeats the header line (line 1; manifests joined?): remove it"]


def test_under_a_header_the_output_is_the_cell_in_its_column_and_a_row_without_one_fails_alone(tmp_path):
    """A spreadsheet saves every row as wide as its widest: a two-photo row under three input columns has an
    empty cell before its output, and a row whose output cell was left empty ends in a photo. Without the
    header's column the latter morphed its first two photos into a sheet named after the third."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"input1,input2,input3,output,\n{A},{B},,ab.gif,\n{A},{B},{A},,\n{B},,{A},ba.mp4,\n"
                        f"{A},{B},ab2.gif\n{A},{B},{A},{B},abab.gif\n")
    rows = read_manifest(manifest)
    assert [(r.line, r.name, len(r.inputs), r.problem) for r in rows] == [
        (2, "ab.gif", 2, None),
        (3, "", 3, "no output name (column 4, the header's output, is empty)"),
        (4, "ba.mp4", 2, None),
        (5, "ab2.gif", 2, None),  # rows written by hand, narrower or wider than the header, end in their output
        (6, "abab.gif", 4, None)]
    plan = plan_outputs(rows, tmp_path / "out")
    assert plan[2].error == "no output name (column 4, the header's output, is empty)"  # the batch says where
    assert [plan[n].error for n in (1, 3, 4, 5)] == [None] * 4
    # Without a header a row's last cell is its output, wherever the empty cells are (the rows may differ in width).
    manifest.write_text(f"{A},{B},,ab.gif,\n{A},{B},{A},abc.mp4\n")
    assert [(r.name, len(r.inputs)) for r in read_manifest(manifest)] == [("ab.gif", 2), ("abc.mp4", 3)]


def test_a_file_with_no_usable_row_is_refused_up_front(tmp_path):
    manifest = tmp_path / "photos.csv"
    manifest.write_text(f"{A}\n{B},x.gif\n")
    shown = re.escape(str(manifest))
    with pytest.raises(UsageError, match=rf"^{shown}:1: need at least two inputs and an output name"):
        read_manifest(manifest)


@pytest.mark.parametrize("text", ["", "\n\n", "# pairs for Monday\n", "input1,input2,output\n"])
def test_a_manifest_with_no_rows_is_refused_in_one_line(tmp_path, text):
    """An empty file, blank lines, only comments or only a header: nothing to do is said, not done silently."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(text)
    with pytest.raises(UsageError) as err:
        read_manifest(manifest)
    assert str(err.value) == f"{manifest}: no rows to process"


def test_a_bom_is_not_part_of_the_first_cell(tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_bytes(b"\xef\xbb\xbfa.png,b.png,out.gif\n")
    assert read_manifest(manifest)[0].inputs == (str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    manifest.write_bytes(b"\xef\xbb\xbfinput1,input2,output\na.png,b.png,out.gif\n")  # and a header still is one
    assert [row.line for row in read_manifest(manifest)] == [2]


def test_a_manifest_that_is_not_utf8_is_refused_naming_the_line_and_saving_it_as_utf8_works(tmp_path):
    """The decoder's "can't decode byte 0xe9 in position 15" counted from the start of the 8 KB block it was
    decoding: for a Latin-1 name on line 501 it named no place in the file."""
    manifest = tmp_path / "pairs.csv"
    text = "".join(f"{A},{B},row{i}.gif\n" for i in range(500)) + f"{A},{B},café.gif\n"
    manifest.write_bytes(text.encode("latin-1"))
    with pytest.raises(UsageError) as err:
        read_manifest(manifest)
    assert str(err.value) == (f"{manifest}:501: not UTF-8 text (byte 0xe9); save the manifest as UTF-8 (in Excel: "
                              "CSV UTF-8)")
    manifest.write_bytes(text.encode("utf-16"))  # Windows tools' "Unicode", with its byte-order mark
    with pytest.raises(UsageError) as err:
        read_manifest(manifest)
    assert str(err.value) == f"{manifest}: is UTF-16 text; save the manifest as UTF-8"
    manifest.write_text(text, encoding="utf-8")  # what the message says to do
    assert read_manifest(manifest)[-1].name == "café.gif"


def test_an_image_given_as_the_manifest_is_said_to_be_one_not_told_to_be_saved_as_utf8(tmp_path):
    """`interp batch a.png --outdir out/` (a photo where the manifest goes) was told "a.png:1: not UTF-8 text
    (byte 0x89); save the manifest as UTF-8 (in Excel: CSV UTF-8)", advice no image can follow."""
    from PIL import Image

    for name, kind in (("a.png", "PNG"), ("a.jpg", "JPEG"), ("a.gif", "GIF"), ("a.webp", "WEBP")):
        photo = tmp_path / name
        Image.open(A).convert("RGB").save(photo, kind)
        with pytest.raises(UsageError) as err:
            read_manifest(photo)
        assert str(err.value) == (f"{photo}: an image, not a manifest: a manifest is text, one row per morph: "
                                  "input1,input2[,...],output_name (such as a.jpg,b.jpg,ab.mp4)")


def test_a_header_with_columns_after_the_output_is_read_by_column_and_says_it_once(tmp_path):
    """`input1,input2,output,notes`: a header still (its last column is not `output`), each row's note is
    dropped, and one warning names the column. Before, the header was a failed row and every row with a
    note took the note as its output name."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"# made in a spreadsheet\ninput1,input2,output,notes,date\n{A},{B},ab.gif,first try,"
                        f"2026-12-05\n{B},{A},ba.gif,,\n{A},{B},,forgot the name,\n,,,only a note,\n")
    rows = read_manifest(manifest)
    assert [(r.line, r.inputs, r.name, r.problem) for r in rows] == [
        (3, (str(A), str(B)), "ab.gif", None), (4, (str(B), str(A)), "ba.gif", None),
        (5, (str(A), str(B)), "", "no output name (column 3, the header's output, is empty)")]
    warnings = []
    read_manifest(manifest, warnings)
    assert warnings == [f"{manifest}:2: columns 4 'notes', 5 'date' not read: only the columns before the output "
                        "column 'output' are inputs"]
    plan = plan_outputs(rows, tmp_path / "out")
    assert [plan[n].error for n in (1, 2)] == [None, None] and "no output name" in plan[3].error
    # A first row that holds a file is data, as before, even with a cell named like a column.
    manifest.write_text(f"{A},name,x.gif\n")
    assert [(r.name, len(r.inputs)) for r in read_manifest(manifest)] == [("x.gif", 2)]


def test_a_relative_input_is_named_as_path_joins_it():
    """Read without a Path per cell (`_beside`), a relative input keeps the name rows and errors always showed."""
    from interp_cli.manifest import _beside

    cells = ["a.png", "a/b.png", "./a.png", "a//b", "a/", "a/./b", "..", "../x.png", "a/../b", ".", "x y.png",
             "\u00e9/\u00fc.png", ".hidden", "a/.b", "..."]
    for folder in (Path("."), Path("/tmp/x"), Path("rel/dir"), Path("/"), Path("..")):
        assert [_beside(folder, cell) for cell in cells] == [str(folder / cell) for cell in cells], folder


def test_a_stop_as_the_manifests_field_limit_is_raised_leaves_the_callers_csv_limit(tmp_path):
    """Reading a manifest raises the csv module's process-wide field size limit for the read and puts it back. A
    Python caller's SIGTERM handler raising its own exception as it was raised (a real SIGTERM, landing inside
    `csv.field_size_limit`) left it raised for good in the caller's process: its own csv reading took 64 MB
    cells it refuses. Now it is the caller's again."""
    import csv

    from tests.races import Stopped, stop_inside

    manifest = tmp_path / "rows.csv"
    manifest.write_text("a.png,b.png,m.gif\n")
    before = csv.field_size_limit()
    with stop_inside(csv, "field_size_limit", lambda *args: bool(args)), pytest.raises(Stopped):
        read_manifest(manifest)
    assert csv.field_size_limit() == before


def test_a_column_named_as_a_morph_option_before_the_output_is_refused_naming_the_batch_option(tmp_path):
    """`input1,input2,tune,output`: each row's `20` was read as a third input, so every row failed alone with
    "20: no such file" and the tuning the user asked for was never said to be unread. The manifest is now refused
    at once (exit 2, one line) naming the column, its cell and the batch's own option; a column so named that
    holds files (a photo column headed `face`) is read as inputs, as before."""
    import subprocess
    import sys

    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"input1,input2,tune,output\n{A},{B},20,ab.gif\n")
    with pytest.raises(UsageError) as err:
        read_manifest(manifest)
    assert str(err.value) == (f"{manifest}:2: column 3 'tune' holds '20', not an input: the columns before the output "
                              "are each row's inputs, and a row's own options are not read; set it for the whole "
                              "batch (tune=VALUE), one batch per setting")
    child = subprocess.run([sys.executable, "-m", "interp_cli", "batch", str(manifest), "--outdir", str(tmp_path / "o"),
                            "--weights", "demo"], capture_output=True, text=True, timeout=120)
    assert (child.returncode, child.stdout) == (2, "")
    assert child.stderr.splitlines() == [f"interp: error: {manifest}:2: column 3 'tune' holds '20', not an input: the "
                                         "columns before the output are each row's inputs, and a row's own options "
                                         "are not read; set it for the whole batch (--tune VALUE), one batch per "
                                         "setting"]
    assert not (tmp_path / "o").exists()
    manifest.write_text(f"face,Backdrop,output\n{A},{B},ab.gif\n")
    assert [(r.inputs, r.name) for r in read_manifest(manifest)] == [((str(A), str(B)), "ab.gif")]
    # After the output it is not read, as any column there; the warning says what sets it instead.
    manifest.write_text(f"input1,input2,output,tune,notes\n{A},{B},ab.gif,20,first\n")
    warnings = []
    assert [(r.inputs, r.name) for r in read_manifest(manifest, warnings)] == [((str(A), str(B)), "ab.gif")]
    assert warnings == [f"{manifest}:1: columns 4 'tune', 5 'notes' not read: only the columns before the output "
                        "column 'output' are inputs; a row's own options are not read: set tune=VALUE for the whole "
                        "batch"]


def test_a_bom_where_a_later_row_starts_is_not_part_of_its_first_cell(tmp_path):
    """Two manifests saved by Excel or Notepad and joined (`cat mon.csv tue.csv > week.csv`): the second's BOM made
    tue's first photo "\\ufeffb.png", a row that failed as "b.png: no such file" (the BOM unseen) while b.png was
    there (found while building benchmarks/fuzz_manifest.py). A comment after such a BOM stays a comment."""
    manifest = tmp_path / "week.csv"
    manifest.write_bytes(b"\xef\xbb\xbfa.png,b.png,mon.gif\n\xef\xbb\xbf# tuesday\n\xef\xbb\xbfb.png,a.png,tue.gif\n")
    rows = read_manifest(manifest)
    assert [(row.line, row.inputs, row.name) for row in rows] == [
        (1, (str(tmp_path / "a.png"), str(tmp_path / "b.png")), "mon.gif"),
        (3, (str(tmp_path / "b.png"), str(tmp_path / "a.png")), "tue.gif")]


def test_two_manifests_joined_without_a_newline_between_them_are_a_row_that_fails_alone_saying_so(tmp_path):
    """`cat mon.csv tue.csv` where mon.csv ends without a newline runs mon's last row into tue's first line: the row
    failed as "output name 'output': no file type" (tue's header) or "m1.gif\\ufeffb.png: no such file" (tue's BOM
    unseen), and as a first row, `...,m1.gif\\ufeffinput1,input2,output` was taken for the header, mon's row skipped
    unsaid (found by benchmarks/fuzz_manifest.py drawing joined manifests)."""
    manifest = tmp_path / "week.csv"
    said = "is two lines run together: {} (manifests joined, the first without a final newline?): put a line break " \
           "there"
    for text, line, where in (
            ("input1,input2,output\r\na.png,b.png,m1.gif\ufeffinput1,input2,output\r\nb.png,a.png,m2.gif\r\n", 2,
             "a BOM (U+FEFF) inside 'm1.gif\\ufeffinput1', where a second file began"),
            ("a.png,b.png,m1.gif\ufeffb.png,a.png,m2.gif\nb.png,a.png,m3.gif\n", 1,
             "a BOM (U+FEFF) inside 'm1.gif\\ufeffb.png', where a second file began"),
            ("a.png,b.png,m1.gif\ufeffinput1,input2,output\nb.png,a.png,m3.gif\n", 1,
             "a BOM (U+FEFF) inside 'm1.gif\\ufeffinput1', where a second file began"),
            ("Input1,Input2,Output\na.png,b.png,m1.gifinput1,input2,output\nb.png,a.png,m2.gif\n", 2,
             "it ends in the header line's cells (line 1) after 'm1.gifinput1'")):
        manifest.write_text(text, encoding="utf-8", newline="")
        rows = read_manifest(manifest)
        assert [(row.line, row.problem) for row in rows] == [(line, said.format(where)), (line + 1, None)], text
    # A row whose own cells are named like the header's is no join: it fails later, for its output's lack of a type.
    manifest.write_text("input1,input2,output\na.png,input1,input2,output\n", encoding="utf-8")
    assert [row.problem for row in read_manifest(manifest)] == [None]


def test_a_note_holding_a_bom_of_its_own_is_no_join_but_one_run_past_the_header_still_is(tmp_path):
    """A note pasted from a web page may hold a U+FEFF (a zero-width no-break space): a row of a one-row manifest
    `input1,input2,output,notes` with one in its note refused the whole manifest as "two lines run together". A
    row wider than the header with the BOM in its note is still a join (mon.csv with notes, tue.csv without a
    header)."""
    manifest = tmp_path / "week.csv"
    manifest.write_text("input1,input2,output,notes\na.png,b.png,m1.gif,from the web\ufeffpage\n", encoding="utf-8")
    assert [(row.line, row.problem, row.name) for row in read_manifest(manifest)] == [(2, None, "m1.gif")]
    manifest.write_text("input1,input2,output,notes\na.png,b.png,m1.gif,seen\ufeffb.png,a.png,m2.gif\n"
                        "b.png,a.png,m3.gif,\n", encoding="utf-8")
    assert [row.problem for row in read_manifest(manifest)] == [
        "is two lines run together: a BOM (U+FEFF) inside 'seen\\ufeffb.png', where a second file began (manifests "
        "joined, the first without a final newline?): put a line break there", None]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_manifest_split_by_semicolons_or_tabs_is_said_to_be_so(tmp_path, sep):
    """Excel saves "CSV" with semicolons where the decimal mark is a comma (and tab-separated text is one menu item
    away): each row was one cell, refused only as "need at least two inputs and an output name", beside rows that
    visibly name two photos and an output (found while building benchmarks/fuzz_manifest.py)."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"a.png{sep}b.png{sep}ab.gif\nb.png{sep}a.png{sep}ba.gif\n")
    with pytest.raises(UsageError) as err:
        read_manifest(manifest)
    assert str(err.value) == f"{manifest}:1: need at least two inputs and an output name; its cells are separated " \
                             f"by {sep!r}, not by commas: save the manifest comma-separated " \
                             f"(input1,input2[,...],output_name)"
