"""benchmarks/fuzz_manifest.py still runs and still judges: one fixed case of good and bad rows through two shards at
once and a rerun, and its verdict on worker output whose faults are known.

The fuzzer itself is no part of `make test` (seconds a case); this keeps it from rotting as interp changes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import fuzz_manifest  # noqa: E402


def test_a_fixed_case_of_bad_rows_beside_good_ones_in_two_shards_finds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    case = fuzz_manifest.draw(23, 5)  # a spoilt PNG into deep/er/, an output leaving --outdir, a good row in deep/er/
    assert case.workers == "shards" and [line.good for line in case.rows] == [False, False, True]
    result = fuzz_manifest.run_case(case, tmp_path / "case", fuzz_manifest._photo_bytes(), timeout=240)
    assert result["problems"] == [], json.dumps(result, indent=1)[-3000:]
    # Both shards hold a bad row, again on the rerun; once the spoilt PNG is put right, only shard 2 holds one.
    assert [run["rc"] for run in result["reruns"]] == [1, 1, 0, 1]


def test_the_judge_names_a_bad_row_said_nowhere_and_an_exit_code_that_hides_it(tmp_path):
    case = fuzz_manifest.Case(1, False, [fuzz_manifest.Line(["a.png", "b.png", "ok.gif"], True, output="ok.gif"),
                                         fuzz_manifest.Line(["gone.png", "b.png", "x.gif"], False, "missing",
                                                            names="gone.png")], form={})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ok.gif").write_bytes((ROOT / "examples" / "demo.gif").read_bytes())
    (tmp_path / "out" / ".x.tmp-0123456789abcdef.gif").write_bytes(b"half")
    rows = [{"row": 1, "ok": True, "skipped": False}, {"row": 2, "ok": True, "skipped": False}]
    stdout = "\n".join(json.dumps(doc) for doc in [*rows, {"summary": True, "rows": 2, "made": 2, "skipped": 0,
                                                           "failed": 0}])
    problems = fuzz_manifest.judge(case, tmp_path, [{"shard": "1/1", "rc": 0, "stdout": stdout, "stderr": ""}],
                                   fuzz_manifest._tree(tmp_path), False, None)
    assert problems == ["[shard 1/1] exit 0, expected 1 (1 bad rows)",
                        "[shard 1/1] bad row 2 (missing) named by 0 stderr lines, not one",
                        "[shard 1/1] row 2 (missing): JSON ok=True: None",
                        "[shard 1/1] summary {'summary': True, 'rows': 2, 'made': 2, 'skipped': 0, 'failed': 0} for 1 "
                        "good and 1 bad rows",
                        "a failed row left out/.x.tmp-0123456789abcdef.gif in --outdir",
                        "left behind: out/.x.tmp-0123456789abcdef.gif"]


def test_manifests_joined_by_cat_are_drawn_and_their_joins_fail_alone_saying_so(tmp_path, monkeypatch):
    """Two saved manifests joined by `cat`: the second's header repeated (case 727), and the first without a final
    newline, its last row running into the second's header (case 815). Each join is one row that fails alone, its line
    saying what it is; the rows around it are made."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    repeated, run_on = fuzz_manifest.draw(727, 4), fuzz_manifest.draw(815, 4)
    assert fuzz_manifest.manifest_bytes(repeated).endswith(
        b"\n# made by benchmarks/fuzz_manifest.py, seed 727\ninput1,input2,output\na.png,b.png,x2.csv\n")
    assert [(line.fault, line.names) for line in repeated.rows] == [
        ("good", None), ("joined_header", "header line"), ("unsupported_type", None)]
    assert fuzz_manifest.manifest_bytes(run_on) == \
        b"input1,input2,output\r\na.png,code.npy,m1/input1,input2,output\r\na.png,b.png,deep/m2.html\r\n"
    assert [(line.fault, line.names) for line in run_on.rows] == [
        ("joined_run_on", "two lines run together"), ("good", None)]
    for n, case in enumerate((repeated, run_on)):
        result = fuzz_manifest.run_case(case, tmp_path / f"case{n}", fuzz_manifest._photo_bytes(), timeout=240)
        assert result["problems"] == [], json.dumps(result, indent=1)[-3000:]
        assert [run["rc"] for run in result["runs"] + result["reruns"]] == [1, 1]
