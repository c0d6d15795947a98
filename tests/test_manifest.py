"""The batch manifest, read and planned without a model (interp_cli.manifest): rows and their lines,
where each row writes over every shard, and the manifests refused before any work."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from interp_cli.errors import UsageError
from interp_cli.manifest import Row, place_output, plan_batch, plan_outputs, read_manifest
from interp_cli.shards import Shard
from tests.recipe import GOLDEN_DIR

A = GOLDEN_DIR / "golden_input_A.png"
B = GOLDEN_DIR / "golden_input_B.png"


def test_output_names_that_leave_outdir_or_hit_an_input_have_no_placement(tmp_path):
    outdir = tmp_path / "out"
    (outdir / "inside").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (outdir / "link").symlink_to(tmp_path / "elsewhere")
    (outdir / "a.png").write_bytes(b"input")
    (outdir / "old.gif").symlink_to(tmp_path / "elsewhere" / "victim.gif")
    os.link(outdir / "a.png", outdir / "hard.png")
    root = outdir.resolve()
    for name, fragment in [("/tmp/x.gif", "must be relative"), ("../x.gif", "leads outside"),
                           ("old.gif", "leads outside"),
                           ("inside/../../x.gif", "leads outside"), ("link/x.gif", "leads outside"),
                           (".", "leads outside"), ("a.png", "would overwrite its input a.png"),
                           ("hard.png", "would overwrite its input a.png"),
                           ("", "leads outside")]:
        place = place_output(root, name, [str(outdir / "a.png"), str(B)])
        assert place.targets == () and fragment in place.error, name
    place = place_output(root, "inside/../deep/x.mp4", [str(A), str(B)], sheets=True)
    assert place.error is None and place.targets == (root / "deep/x.mp4", root / "deep/x.sheet.png")
    frames = place_output(root, "clip.v2/", [str(A), str(B)], sheets=True)
    assert frames.output.endswith("clip.v2" + os.sep) and frames.targets[1] == root / "clip.v2.sheet.png"
    # A name with no type is refused, as `-o out/m2` is, unless it is a folder already (a rerun's frames).
    assert "no file type" in place_output(root, "inside/m2", [str(A), str(B)]).error
    assert place_output(root, "inside", [str(A), str(B)]).targets == (root / "inside",)


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


def test_names_one_file_system_would_merge_are_duplicates(tmp_path):
    """Case and Unicode normalisation: one file on an SMB share or a Mac, so refused everywhere."""
    manifest = tmp_path / "pairs.csv"
    nfc, nfd = "caf\u00e9.gif", "cafe\u0301.gif"
    manifest.write_text(f"{A},{B},Clip.GIF\n{A},{B},clip.gif\n{A},{B},{nfc}\n{A},{B},{nfd}\n{A},{B},other.gif\n",
                        encoding="utf-8")
    with pytest.raises(UsageError) as err:
        plan_outputs(read_manifest(manifest), tmp_path.resolve(), manifest="pairs.csv")
    assert str(err.value).startswith("pairs.csv: duplicate output names: Clip.GIF and clip.gif (one file where "
                                     "case or Unicode normalisation is ignored) by rows 1 (line 1), 2 (line 2); ")
    assert "by rows 3 (line 3), 4 (line 4)" in str(err.value) and "other.gif" not in str(err.value)


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


def test_an_output_that_is_another_rows_input_or_inside_another_output_refuses_the_manifest(tmp_path):
    """Whatever order the rows or shards run in, no row may replace another's photo, nor write into
    (or replace) another row's output: refused before any work, like a duplicate name."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "src.png").write_bytes(A.read_bytes())
    (outdir / "photos").mkdir()
    (outdir / "photos" / "b.png").write_bytes(B.read_bytes())
    manifest = tmp_path / "pairs.csv"
    cases = [
        (f"{outdir}/src.png,{B},first.gif\n{B},{A},src.png\n",
         "row 2 (line 2) would overwrite src.png, an input of row 1 (line 1)"),
        (f"{A},{outdir}/photos/b.png,first.gif\n{B},{A},photos/\n",
         "row 2 (line 2) would overwrite photos, the folder of b.png, an input of row 1 (line 1)"),
        (f"{A},{B},frames/\n{B},{A},frames/frame_0001.png\n",
         "row 2 (line 2) writes frames/frame_0001.png inside frames, row 1's output (line 1)"),
        (f"{A},{B},x.gif/y.gif\n{B},{A},x.gif\n",
         "row 1 (line 1) writes x.gif/y.gif inside x.gif, row 2's output (line 2)"),
    ]
    for text, fragment in cases:
        manifest.write_text(text)
        with pytest.raises(UsageError) as err:
            plan_outputs(read_manifest(manifest), outdir.resolve(), manifest="pairs.csv")
        assert str(err.value) == f"pairs.csv: {fragment}; give those outputs other names", text
    manifest.write_text(f"{A},{B},frames/\n{B},{A},frames.gif\n{outdir}/src.png,{B},sub/x.gif\n")
    assert all(p.error is None for p in plan_outputs(read_manifest(manifest), outdir.resolve()).values())


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


def test_a_python_batch_whose_outdir_is_a_file_names_the_keyword_and_leaves_the_file(tmp_path):
    """`interp batch --outdir FILE` is refused by click; a Python caller's outdir=FILE reached the planner,
    which said only "FILE: exists and is not a directory" where every other refusal of the folder names
    outdir=, as README's Python section promises."""
    from interp_cli import pipeline

    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n")
    afile = tmp_path / "afile"
    afile.write_bytes(b"keep")
    with pytest.raises(UsageError) as err:
        pipeline.batch(manifest, afile, weights="demo")
    assert str(err.value) == f'outdir="{afile}": exists and is not a directory'
    assert afile.read_bytes() == b"keep" and sorted(p.name for p in tmp_path.iterdir()) == ["afile", "pairs.csv"]


def test_a_bom_is_not_part_of_the_first_cell(tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_bytes(b"\xef\xbb\xbfa.png,b.png,out.gif\n")
    assert read_manifest(manifest)[0].inputs == (str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    manifest.write_bytes(b"\xef\xbb\xbfinput1,input2,output\na.png,b.png,out.gif\n")  # and a header still is one
    assert [row.line for row in read_manifest(manifest)] == [2]


def test_outputs_that_one_case_insensitive_file_system_would_merge_are_refused_and_only_those(tmp_path):
    """APFS, NTFS and SMB shares fold case one character to one: `A.gif`/`a.gif` and a decomposed `é`
    are one file there, so refused; `Straße.gif`/`Strasse.gif` are two, so both are made."""
    def plan(*names):
        rows = [Row(i, i, (str(A), str(B)), name) for i, name in enumerate(names, 1)]
        return plan_outputs(rows, tmp_path)

    for pair in (("A.gif", "a.gif"), ("Caf\u00e9.gif", "cafe\u0301.gif"), ("STRASSE.gif", "strasse.gif"),
                 ("\u1e9e.gif", "\u00df.gif")):
        with pytest.raises(UsageError, match="duplicate output names"):
            plan(*pair)
    assert [p.error for p in plan("Stra\u00dfe.gif", "Strasse.gif").values()] == [None, None]


def test_with_no_header_a_padded_row_ending_in_a_photo_fails_alone(tmp_path):
    """`a.png,b.png,c.png,` with no header: a spreadsheet's row whose output cell was left empty. Its last
    name is a photo beside the manifest, not a sheet to write (the morph of a to b went into out/c.png).
    A padded two-photo row (`a,b,ab.gif,`), a row written by hand and a rerun into the manifest's own
    folder, where the .png is last run's sheet, are read as before."""
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(A.read_bytes())
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("a.png,b.png,c.png,\na.png,b.png,ab.gif,\nb.png,a.png,c.png\na.png,b.png,new.png,\n")
    rows = read_manifest(manifest)
    plan = plan_outputs(rows, tmp_path / "out")
    assert plan[1].error.startswith("its last cell c.png is a photo beside the manifest")
    assert [plan[n].error for n in (2, 3, 4)] == [None, None, None]
    assert plan[3].output == str((tmp_path / "out" / "c.png").resolve())
    (tmp_path / "sheet.png").write_bytes(A.read_bytes())  # as if written by an earlier run into this folder
    manifest.write_text("a.png,b.png,sheet.png,\n")
    assert plan_outputs(read_manifest(manifest), tmp_path)[1].error is None


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


def test_a_batch_plan_carries_the_manifests_warning_for_the_log(tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"input1,input2,output,notes\n{A},{B},ab.gif,n\n")
    checked = plan_batch(manifest, tmp_path / "out")
    assert [r.name for r in checked.mine] == ["ab.gif"] and len(checked.warnings) == 1
    assert "column 4 'notes' not read" in checked.warnings[0]


def test_every_shard_judges_duplicates_over_the_whole_manifest_and_a_bad_row_elsewhere_fails_only_there(tmp_path):
    """Rows 1 and 4 name one file (in shards 1 and 4 of 4, both in shard 1 of 3): every shard refuses the
    manifest alike, also one that holds neither row, since two shards must never write one file. A bad
    row fails only where it runs: shard 2 of 2 plans rows 2 and 4 as the whole manifest does."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n{A},{B},y.gif\n{A},{B},z.gif\n{B},{A},sub/../X.gif\n")
    for shard in ("1/3", "2/3", "3/3", "1/4", "4/4"):
        with pytest.raises(UsageError, match=r"duplicate output names: x.gif and X.gif .* by rows 1 \(line 1\), "
                                             r"4 \(line 4\)"):
            plan_batch(manifest, tmp_path / "out", shard=shard)
    manifest.write_text(f"{A},{B},x.gif\n{A},{B},y.gif\n{A},{B},/abs.gif\n{B},{A},w.gif\n")
    whole = plan_batch(manifest, tmp_path / "out")
    mine = plan_batch(manifest, tmp_path / "out", shard="2/2")
    assert [r.number for r in mine.mine] == [2, 4] and len(mine.rows) == 4
    assert {n: mine.placements[n] for n in (2, 4)} == {n: whole.placements[n] for n in (2, 4)}
    assert [mine.placements[n].error for n in (2, 4)] == [None, None]
    assert "must be relative" in plan_batch(manifest, tmp_path / "out", shard="1/2").placements[3].error


def test_placing_resolves_every_name_as_path_resolve_does(tmp_path):
    """Placing looks each folder up once (`_Lookups.real`); what it gives must be `Path.resolve`'s answer, links
    in the last part, "..", missing folders, a file as a folder and loops included."""
    from interp_cli.manifest import _Lookups

    out = tmp_path / "out"
    (out / "real").mkdir(parents=True)
    (out / "linkdir").symlink_to(out / "real")
    (out / "real" / "file").write_bytes(b"x")
    (out / "real" / "l.gif").symlink_to(tmp_path / "elsewhere.gif")
    (out / "loop").symlink_to("loop")
    lookups = _Lookups(out)
    for name in ("x.gif", "real/x.gif", "linkdir/x.gif", "linkdir/l.gif", "real/l.gif", "missing/deeper/x.gif",
                 "real/file/x.gif", "real/../x.gif", "real/..", "real/.", "frames/", "linkdir//y.gif", "linkdir"):
        path = os.path.join(out, name)
        assert lookups.real(path) == Path(path).resolve(), name
        assert lookups.real(path) == Path(path).resolve(), name  # the folder now from the lookups
    for name in ("loop/x.gif", "loop"):
        with pytest.raises((OSError, RuntimeError)):
            Path(out / name).resolve()
        with pytest.raises((OSError, RuntimeError)):
            lookups.real(os.path.join(out, name))


def test_proving_an_outdir_leaves_no_folder_and_a_file_in_the_way_is_one_line(tmp_path):
    from interp_cli.manifest import make_outdir

    make_outdir(tmp_path / "new" / "deeper" / "out", keep=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "afile").write_bytes(b"x")
    with pytest.raises(UsageError) as err:
        make_outdir(tmp_path / "afile" / "out", keep=False)
    assert str(err.value) == f'outdir="{tmp_path / "afile" / "out"}": cannot create it (Not a directory)'
    assert make_outdir(tmp_path / "made" / "out").is_dir()


def test_a_relative_input_is_named_as_path_joins_it():
    """Read without a Path per cell (`_beside`), a relative input keeps the name rows and errors always showed."""
    from interp_cli.manifest import _beside

    cells = ["a.png", "a/b.png", "./a.png", "a//b", "a/", "a/./b", "..", "../x.png", "a/../b", ".", "x y.png",
             "\u00e9/\u00fc.png", ".hidden", "a/.b", "..."]
    for folder in (Path("."), Path("/tmp/x"), Path("rel/dir"), Path("/"), Path("..")):
        assert [_beside(folder, cell) for cell in cells] == [str(folder / cell) for cell in cells], folder


def _verdict(rows, outdir, **options):
    """What planning says: the refusal's message, or each row's placement."""
    try:
        return plan_outputs(rows, outdir, **options)
    except UsageError as err:
        return str(err)


def test_a_shard_that_places_only_its_rows_gives_the_verdict_of_placing_every_row(tmp_path):
    """A shard places its own rows in full, and of the others only those that a clash names (each row's files
    are resolved): its refusal, or its rows' placements, must be those of placing every row, in each shard,
    for clashes through a symlinked folder, case, a contact sheet, a folder holding an input, and rows that
    fail alone (a NUL in an input, a name leading outside --outdir, a missing file type), which clash with
    nothing."""
    outdir = tmp_path / "out"
    (outdir / "real").mkdir(parents=True)
    (outdir / "link").symlink_to("real")
    (outdir / "photo.png").write_bytes(A.read_bytes())
    photo, nul = str(outdir / "photo.png"), f"{A}\0"
    manifests = {
        "a symlinked folder": [(A, B, "real/x.gif"), (A, B, "y.gif"), (A, B, "z.gif"), (B, A, "link/X.gif")],
        "a bad row names a taken output": [(A, B, "x.gif"), (A, B, "y.gif"), (nul, B, "x.gif"), (A, B, "w.gif")],
        "a bad row writes a row's input": [(photo, B, "a.gif"), (nul, B, "photo.png"), (A, B, "b.gif")],
        "a row writes a row's input": [(photo, B, "a.gif"), (A, B, "c.gif"), (A, B, "photo.png")],
        "a folder holding an input": [(A, B, "d.gif"), (f"{outdir}/real/in.png", B, "e.gif"), (A, B, "real/")],
        "a contact sheet": [(A, B, "s.gif"), (A, B, "t.gif"), (A, B, "s.sheet.png")],
        "inside an output": [(A, B, "f/"), (A, B, "g.gif"), (A, B, "f/frame.png/")],
        "outside and untyped": [(A, B, "../x.gif"), (A, B, "x"), (B, A, "x/"), (A, B, "v.gif")],
        "clean": [(A, B, f"{i}.gif") for i in range(7)],
    }
    for what, cells in manifests.items():
        rows = [Row(i, i, tuple(map(str, row[:-1])), row[-1]) for i, row in enumerate(cells, 1)]
        for sheets in (False, True):
            whole = _verdict(rows, outdir.resolve(), sheets=sheets)
            for count in (1, 2, 3):
                for index in range(1, count + 1):
                    mine = [row.number for row in rows if Shard(index, count).takes(row)]
                    shard = _verdict(rows, outdir.resolve(), sheets=sheets, only=mine)
                    expected = whole if isinstance(whole, str) else {number: whole[number] for number in mine}
                    assert shard == expected, (what, sheets, f"{index}/{count}")
    # Each kind was met: the test proves nothing if no manifest is refused, or every one is.
    verdicts = {what: _verdict([Row(i, i, tuple(map(str, row[:-1])), row[-1]) for i, row in enumerate(cells, 1)],
                               outdir.resolve()) for what, cells in manifests.items()}
    assert sorted(what for what, said in verdicts.items() if isinstance(said, str)) == [
        "a folder holding an input", "a row writes a row's input", "a symlinked folder", "inside an output"]


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


def test_a_stop_as_a_batch_proves_its_outdir_leaves_no_folder(tmp_path):
    """`interp batch` proves --outdir can be made before loading anything, then removes the folders it made, "so a
    batch stopped before its first row leaves nothing behind". A stop landing as a folder was made (a real SIGTERM,
    landing as `os.mkdir` returns; here a Python caller's handler raising) left it there. Now it goes too."""
    from interp_cli.manifest import make_outdir
    from tests.races import Stopped, stop_inside

    with stop_inside(os, "mkdir"), pytest.raises(Stopped):
        make_outdir(tmp_path / "new" / "out", keep=False)
    assert os.listdir(tmp_path) == []


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


def test_an_output_name_through_a_symlink_loop_fails_its_row_alone(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "loop").symlink_to("loop")
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},loop/x.gif\n{B},{A},ok.gif\n")
    plan = plan_outputs(read_manifest(manifest), outdir.resolve())
    assert [plan[1].error, plan[2].error] == ["output name 'loop/x.gif' cannot be resolved (a symlink loop)", None]


def test_a_batch_that_pastes_saves_each_rows_crops_and_a_backdrop_a_row_lacks_fails_that_row_alone(tmp_path):
    """--paste without --backdrop pastes onto each row's first input, and `face` picks the face in that backdrop
    only: photo A as the backdrop (face 0) and A as a third input (its largest face) are two crops. With --backdrop
    3 a two-photo row has no third input to paste onto and fails alone, in the option's words."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},two.gif\n{A},{B},{A},three.gif\n")
    crops = tmp_path / "crops"
    plan = plan_batch(manifest, tmp_path / "out", save_aligned=crops, paste=True, face=0).placements
    a_face_0, b, a_largest = (crops / f"golden_input_{n}.png" for n in ("A_aligned_1", "B_aligned", "A_aligned_2"))
    assert [(p.error, p.crops) for p in plan.values()] == [(None, (a_face_0, b)), (None, (a_face_0, b, a_largest))]
    plan = plan_batch(manifest, tmp_path / "out", save_aligned=crops, paste=True, backdrop=3).placements
    assert [p.error for p in plan.values()] == ['backdrop=3: name one of the inputs (a, b, or 1 to 2)', None]


def test_a_batch_whose_crops_folder_cannot_be_made_is_refused_before_any_work(tmp_path):
    """A --save-aligned folder below a file is refused by the plan, before any work, naming the option as a
    morph's refusal does, and nothing is made."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n")
    (tmp_path / "afile").write_bytes(b"keep")
    crops = tmp_path / "afile" / "crops"
    with pytest.raises(UsageError) as err:
        plan_batch(manifest, tmp_path / "out", save_aligned=crops)
    assert str(err.value) == (f'save_aligned="{crops}": {crops}/golden_input_A_aligned.png: '
                              f"'{tmp_path}/afile' is not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "pairs.csv"]


@pytest.mark.parametrize("sheets", [False, True])
def test_an_output_named_without_a_type_is_a_folder_of_frames_only_where_that_folder_exists(tmp_path, sheets):
    """`m2` is refused as a likely typo for m2.mp4, but an existing folder `frames` is a frames folder, as for
    `-o out/frames`: with --sheets too, whose contact sheet beside it has a type of its own."""
    root = (tmp_path / "out").resolve()
    (root / "frames").mkdir(parents=True)
    place = place_output(root, "frames", [str(A), str(B)], sheets=sheets)
    assert place.error is None and place.targets == (root / "frames", root / "frames.sheet.png")[:1 + sheets]
    assert "no file type" in place_output(root, "m2", [str(A), str(B)], sheets=sheets).error


def test_an_outdir_with_a_name_too_long_is_refused_by_the_plan_naming_the_keyword(tmp_path):
    """Said before any row is placed (each of which would fail alike), in a Python caller's words, and nothing made."""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{A},{B},x.gif\n")
    with pytest.raises(UsageError) as err:
        plan_batch(manifest, tmp_path / ("d" * 300) / "out")
    said = str(err.value)
    assert said.startswith(f'outdir="{tmp_path}/') and "is 300 bytes; the most this file system allows" in said
    assert os.listdir(tmp_path) == ["pairs.csv"]


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
