"""benchmarks/interactions.py still covers and still judges: its pairs cover every allowed pair of feature
values (and no pair interp refuses), and a small fixed sample of its commands holds every invariant it
checks, on the demo model (a few seconds each; the whole array is the benchmark's, see benchmarks/README.md)."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import interactions  # noqa: E402


def _pairs(row: dict) -> set:
    return {(a, row[a], b, row[b]) for a, b in itertools.combinations(interactions.FACTORS, 2)}


def test_the_rows_cover_every_allowed_pair_and_no_refused_one():
    rows = interactions.all_pairs(interactions.FACTORS, forbidden=interactions.FORBIDDEN)
    covered = set().union(*map(_pairs, rows))
    every = _pairs_of_all_values(interactions.FACTORS)
    assert covered == every - interactions.FORBIDDEN
    # A covering array, not every combination: a few dozen rows for 17 features.
    assert len(rows) < 40


def _pairs_of_all_values(factors: dict) -> set:
    return {(a, va, b, vb) for a, b in itertools.combinations(factors, 2) for va in factors[a] for vb in factors[b]}


def test_a_greedy_row_never_holds_a_refused_pair_even_when_asked_for_one_value():
    factors = {"kind": ["mp4", "gif"], "size": [96, 97], "quiet": [False, True]}
    rows = interactions.all_pairs(factors, forbidden={("kind", "mp4", "size", 97)})
    assert ("mp4", 97) not in {(r["kind"], r["size"]) for r in rows}
    assert {(r["kind"], r["size"]) for r in rows} == {("mp4", 96), ("gif", 96), ("gif", 97)}


def test_the_frame_arithmetic_matches_the_help():
    # --help/README: an open chain of two images is exactly S frames; --loop K(S-1); --pingpong 2(K-1)(S-1);
    # --hold H adds H per keyframe reached.
    assert interactions.expected_frames(2, 5, "open", 0) == 5
    assert interactions.expected_frames(3, 3, "loop", 1) == 3 * 2 + 3
    assert interactions.expected_frames(3, 3, "pingpong", 1) == 2 * 2 * 2 + 2 * 2


def _env(tmp_path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("INTERP_WEIGHTS", None)
    return env


def test_a_sample_row_and_a_refusal_hold_their_invariants(tmp_path):
    rows = interactions.all_pairs(interactions.FACTORS, forbidden=interactions.FORBIDDEN)
    # One cheap row (no --tune, no --refine) run twice over an existing output: the most checks per second.
    row = next(r for r in rows if not r["tune"] and not r["refine"] and r["twice"] and r["existing"])
    assert interactions.check_row(0, row, tmp_path, _env(tmp_path)) == [], row
    same_photo_twice = interactions.REFUSALS[2]  # a frames folder already there, --json
    assert interactions.check_refusal(0, same_photo_twice, tmp_path, _env(tmp_path)) == []


def test_a_broken_invariant_is_reported(tmp_path):
    """The checker can fail: a row interp refuses (an .mp4 at an odd --size) is reported, not passed."""
    row = dict(next(r for r in interactions.all_pairs(interactions.FACTORS, forbidden=interactions.FORBIDDEN)
                    if r["kind"] == "mp4"), size=97, twice=False)
    problems = interactions.check_row(0, row, tmp_path, _env(tmp_path))
    assert len(problems) == 1 and problems[0].startswith("exit 2: interp: error: --size 97"), problems
