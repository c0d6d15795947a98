"""A batch's plan, made without a model (interp_cli.batch_plan): where each row writes over every shard, its
crops, --outdir proved, and the manifests refused before any work for what their rows would write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from interp_cli.batch_plan import place_output, plan_batch, plan_outputs
from interp_cli.errors import UsageError
from interp_cli.manifest import Row, read_manifest
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
    from interp_cli.batch_plan import _Lookups

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
    from interp_cli.batch_plan import make_outdir

    make_outdir(tmp_path / "new" / "deeper" / "out", keep=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "afile").write_bytes(b"x")
    with pytest.raises(UsageError) as err:
        make_outdir(tmp_path / "afile" / "out", keep=False)
    assert str(err.value) == f'outdir="{tmp_path / "afile" / "out"}": cannot create it (Not a directory)'
    assert make_outdir(tmp_path / "made" / "out").is_dir()


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


def test_a_stop_as_a_batch_proves_its_outdir_leaves_no_folder(tmp_path):
    """`interp batch` proves --outdir can be made before loading anything, then removes the folders it made, "so a
    batch stopped before its first row leaves nothing behind". A stop landing as a folder was made (a real SIGTERM,
    landing as `os.mkdir` returns; here a Python caller's handler raising) left it there. Now it goes too."""
    from interp_cli.batch_plan import make_outdir
    from tests.races import Stopped, stop_inside

    with stop_inside(os, "mkdir"), pytest.raises(Stopped):
        make_outdir(tmp_path / "new" / "out", keep=False)
    assert os.listdir(tmp_path) == []


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
