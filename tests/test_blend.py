"""interp_cli.blend: schedules hit their keyframes exactly, counts match the documented
formulas, and masks leave untouched rows bit-for-bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interp_cli.blend import (
    EASINGS,
    INTERPS,
    catmull_rom,
    ease,
    frame_count,
    first_showings,
    iter_codes,
    keyframe_path,
    layer_groups,
    lerp,
    linear_times,
    mix_codes,
    parse_layers,
    plan_frames,
    slerp,
)
from interp_cli.errors import UsageError

GOLDEN = Path(__file__).parent / "data" / "golden" / "golden_e4e64.npz"


def _codes(k: int, n: int = 18, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((k, n, 512)).astype(np.float32)


# --- times and easing ----------------------------------------------------------------------


@pytest.mark.parametrize("steps", [2, 3, 7, 60, 1001])
def test_linear_times_exact_ends(steps):
    t = linear_times(steps)
    assert len(t) == steps and t[0] == 0.0 and t[-1] == 1.0
    assert np.all(np.diff(t) > 0)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True, "4"])
def test_linear_times_rejects_bad_steps(bad):
    with pytest.raises(UsageError):
        linear_times(bad)


@pytest.mark.parametrize("kind", EASINGS)
def test_ease_endpoints_and_monotonic(kind):
    assert ease(0.0, kind) == 0.0 and ease(1.0, kind) == 1.0
    t = np.linspace(0, 1, 100_001)
    y = ease(t, kind)
    assert y[0] == 0.0 and y[-1] == 1.0
    assert np.all(np.diff(y) >= 0)
    assert np.all((y >= 0) & (y <= 1))
    if kind != "linear":  # the non-linear ones really do ease: slow start, symmetric about 1/2
        assert ease(0.1, kind) < 0.1
        assert ease(0.5, kind) == pytest.approx(0.5)


def test_ease_known_values_and_bad_name():
    assert ease(0.25, "linear") == 0.25  # --ease linear: frames evenly spaced in time
    assert ease(np.array([0.1, 0.6]), "linear").tolist() == [0.1, 0.6]
    assert ease(0.25, "smooth") == pytest.approx(0.15625)
    assert ease(0.25, "cubic") == pytest.approx(0.0625)
    assert ease(0.75, "cubic") == pytest.approx(0.9375)  # the second half mirrors the first
    assert ease(0.25, "cosine") == pytest.approx((1 - np.cos(np.pi / 4)) / 2)
    with pytest.raises(UsageError, match="unknown easing 'bounce'"):
        ease(0.5, "bounce")


# --- two-code interpolation ------------------------------------------------------------------


def test_lerp_is_the_float32_formula_bit_for_bit():
    a, b = _codes(2)
    for t in [0.0, 0.1, 1 / 3, 0.5, 0.9, 1.0]:
        t32 = np.float32(t)
        expected = (np.float32(1) - t32) * a + t32 * b
        out = lerp(a, b, t)
        assert out.dtype == np.float32
        assert np.array_equal(out, expected)
    assert np.array_equal(lerp(a, b, 0.0), a) and np.array_equal(lerp(a, b, 1.0), b)


def test_lerp_matches_golden_midpoint_code():
    golden = np.load(GOLDEN)
    assert np.array_equal(lerp(golden["w_A"][0], golden["w_B"][0], 0.5), golden["w_mix"][0])


def test_slerp_preserves_norm_between_equal_norm_rows_and_hits_ends():
    a, b = _codes(2)
    b = b / np.linalg.norm(b, axis=1, keepdims=True) * np.linalg.norm(a, axis=1, keepdims=True)
    b = b.astype(np.float32)
    assert np.array_equal(slerp(a, b, 0.0), a) and np.array_equal(slerp(a, b, 1.0), b)
    for t in [0.2, 0.5, 0.77]:
        out = slerp(a, b, t)
        assert out.dtype == np.float32 and out.shape == a.shape
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(a, axis=1), rtol=1e-5)
    # lerp would shrink the midpoint of two random (nearly orthogonal) rows by about 1/sqrt(2)
    assert np.linalg.norm(lerp(a, b, 0.5), axis=1).mean() < 0.8 * np.linalg.norm(a, axis=1).mean()


def test_slerp_midpoint_bisects_the_angle_and_falls_back_for_parallel_rows():
    a = np.zeros((3, 512), np.float32)
    b = np.zeros((3, 512), np.float32)
    a[0, 0], b[0, 1] = 1, 1  # orthogonal unit rows: midpoint is (1, 1) / sqrt(2)
    a[1, 0], b[1, 0] = 1, 3  # parallel: lerp
    b[2, 5] = 2  # zero row in a: lerp
    out = slerp(a, b, 0.5)
    np.testing.assert_allclose(out[0, :2], [2**-0.5, 2**-0.5], rtol=1e-6)
    assert np.array_equal(out[1:], lerp(a, b, 0.5)[1:])
    assert np.all(np.isfinite(out))


def test_slerp_follows_the_great_circle_past_a_right_angle_and_refuses_codes_of_other_sizes():
    a = np.zeros((2, 512), np.float32)
    b = np.zeros((2, 512), np.float32)
    a[0, 0], b[0, :2] = 1, [-0.5, 0.75**0.5]  # unit rows 120 degrees apart: the midpoint is 60 from each
    # A row morphed into itself (a face into the same face): lerp, though its unit row's dot product with
    # itself rounds to 1.0000000000000002, whose arccos is nan.
    a[1] = b[1] = np.random.default_rng(0).standard_normal(512)
    a = np.concatenate([a, a[1:]])
    b = np.concatenate([b, -b[1:]])  # and into its negation: antiparallel, lerp again (the dot is -1.0000000000000002)
    out = slerp(a, b, 0.5)
    np.testing.assert_allclose(out[0, :2], [0.5, 0.75**0.5], rtol=1e-6, atol=1e-7)
    assert np.array_equal(out[1:], lerp(a, b, 0.5)[1:])
    with pytest.raises(ValueError, match=r"shapes differ, \(1, 512\) vs \(18, 512\)"):
        slerp(np.ones((1, 512)), np.ones((18, 512)), 0.5)  # which numpy would broadcast


def test_catmull_rom_passes_through_keys_and_open_ends_are_linear():
    p0, p1, p2, p3 = _codes(4)
    assert np.array_equal(catmull_rom(p0, p1, p2, p3, 0.0), p1)
    assert np.array_equal(catmull_rom(p0, p1, p2, p3, 1.0), p2)
    for t in [0.25, 0.5, 0.8]:
        np.testing.assert_allclose(catmull_rom(None, p1, p2, None, t), lerp(p1, p2, t), atol=2e-6)
    # A real neighbour bends the curve: it no longer matches the straight line.
    assert np.abs(catmull_rom(p0, p1, p2, p3, 0.5) - lerp(p1, p2, 0.5)).max() > 0.1


# --- chains ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("steps", [2, 3, 10])
@pytest.mark.parametrize("hold", [0, 1, 4])
def test_frame_counts_follow_the_documented_formulas(k, steps, hold):
    s, h = steps, hold
    assert len(plan_frames(k, s, hold=h)) == (k - 1) * (s - 1) + 1 + k * h
    assert len(plan_frames(k, s, hold=h, loop=True)) == k * (s - 1) + k * h
    assert len(plan_frames(k, s, hold=h, pingpong=True)) == 2 * (k - 1) * (s - 1) + 2 * (k - 1) * h
    assert frame_count(k, s, hold=h, loop=True) == k * (s - 1) + k * h
    assert frame_count(k, s) == (k - 1) * (s - 1) + 1  # a Python caller's defaults: an open chain, no holds


def test_a_loop_through_two_images_is_their_pingpong_so_its_way_back_is_drawn_once():
    assert plan_frames(2, 5, loop=True, hold=1) == plan_frames(2, 5, pingpong=True, hold=1)


def test_two_image_morph_has_exactly_steps_frames_from_a_to_b():
    codes = _codes(2)
    for interp in INTERPS:
        for kind in EASINGS:
            frames = list(iter_codes(codes, plan_frames(2, 60, ease=kind), interp))
            assert len(frames) == 60
            assert np.array_equal(frames[0], codes[0]) and np.array_equal(frames[-1], codes[1])
            assert all(f.dtype == np.float32 and f.shape == (18, 512) for f in frames)


@pytest.mark.parametrize("interp", INTERPS)
def test_chain_hits_every_keyframe_exactly_once_at_the_joins(interp):
    codes = _codes(4)
    steps = 5
    frames = list(iter_codes(codes, plan_frames(4, steps, ease="smooth"), interp))
    assert len(frames) == 3 * 4 + 1
    for k in range(4):
        assert np.array_equal(frames[k * (steps - 1)], codes[k])
    matches = [sum(np.array_equal(f, codes[k]) for f in frames) for k in range(4)]
    assert matches == [1, 1, 1, 1]  # no duplicated frame at any join


@pytest.mark.parametrize("interp", INTERPS)
def test_loop_seam_is_not_duplicated(interp):
    codes = _codes(3)
    plan = plan_frames(3, 6, loop=True)
    frames = list(iter_codes(codes, plan, interp))
    assert np.array_equal(frames[0], codes[0])
    assert not np.array_equal(frames[-1], codes[0])  # the player's wrap-around supplies it
    assert plan[-1].src == 2 and plan[-1].dst == 0 and 0 < plan[-1].t < 1
    # The last frame is one step short of the first keyframe on the closing transition.
    step = np.abs(frames[-1] - codes[0]).mean()
    assert step < np.abs(codes[2] - codes[0]).mean() / 3


def test_pingpong_turns_once_and_comes_back():
    codes = _codes(3)
    steps = 4
    plan = plan_frames(3, steps, pingpong=True)
    frames = list(iter_codes(codes, plan, "lerp"))
    turn = 2 * (steps - 1)
    assert np.array_equal(frames[turn], codes[2])
    assert sum(np.array_equal(f, codes[2]) for f in frames) == 1  # no doubled turning frame
    # The way back is the way out's codes, bit for bit (computed from its own end, they were only within rounding),
    # and each is said to be one (`first_showings`), so it is drawn once and replayed.
    shown_first = first_showings(plan)
    for i in range(1, turn):
        assert np.array_equal(frames[turn + i], frames[turn - i]) and shown_first[turn + i] == turn - i
    assert not np.array_equal(frames[-1], codes[0])
    assert [f.src for f in plan if f.keyframe is not None] == [0, 1, 2, 1]


def test_hold_repeats_each_keyframe():
    codes = _codes(2)
    plan = plan_frames(2, 4, hold=2)
    frames = list(iter_codes(codes, plan))
    assert len(frames) == 4 + 2 * 2
    # Only the repeats are holds: the contact sheet (--sheet) leaves them out.
    assert [f.hold for f in plan] == [False, True, True, False, False, False, True, True]
    for i in (0, 1, 2):
        assert np.array_equal(frames[i], codes[0])
    for i in (5, 6, 7):
        assert np.array_equal(frames[i], codes[1])
    assert [f.hold for f in plan] == [False, True, True, False, False, False, True, True]


def test_spline_through_three_keys_is_smooth_at_the_middle_key():
    codes = _codes(3)
    steps = 201
    frames = np.stack(list(iter_codes(codes, plan_frames(3, steps), "spline")))
    mid = steps - 1
    assert np.array_equal(frames[mid], codes[1])
    # Nearly equal steps either side of the middle key (C1: they differ only by curvature * dt^2),
    # unlike lerp, whose direction changes abruptly there.
    before, after = frames[mid] - frames[mid - 1], frames[mid + 1] - frames[mid]
    assert np.abs(before - after).max() < 0.1 * np.abs(after).max()
    lin = np.stack(list(iter_codes(codes, plan_frames(3, steps), "lerp")))
    kink = np.abs((lin[mid] - lin[mid - 1]) - (lin[mid + 1] - lin[mid])).max()
    assert kink > 20 * np.abs(before - after).max()


@pytest.mark.parametrize("pingpong", [False, True])
def test_spline_in_betweens_bend_toward_the_keyframes_either_side(pingpong):
    """Each in-between lies on the Catmull-Rom curve through the keyframes before and after its segment, on
    the path the morph takes: an open chain's ends are straight; a pingpong's path is closed, so at both
    turns it bends toward the way back (and slows to a stop there)."""
    codes = _codes(4 if not pingpong else 3, n=2)
    path = [0, 1, 2, 3] if not pingpong else [0, 1, 2, 1]  # a pingpong's path wraps around: 0 1 2 1 0 1 ...
    plan = plan_frames(len(codes), 4, pingpong=pingpong)
    frames = list(iter_codes(codes, plan, "spline"))
    for spec, frame in zip(plan, frames):
        if spec.keyframe is None:
            seg = path.index(spec.src)
            if pingpong:
                before, after = codes[path[seg - 1]], codes[path[(seg + 2) % len(path)]]
            else:
                before = codes[path[seg - 1]] if seg > 0 else None
                after = codes[path[seg + 2]] if seg + 2 < len(path) else None
            np.testing.assert_allclose(frame, catmull_rom(before, codes[spec.src], codes[spec.dst], after, spec.t),
                                       rtol=1e-5, atol=1e-6)


def test_spline_with_two_keys_is_lerp_bit_for_bit_even_looping():
    codes = _codes(2)
    for kw in ({}, {"loop": True}, {"pingpong": True}):
        plan = plan_frames(2, 9, **kw)
        for via_spline, via_lerp in zip(iter_codes(codes, plan, "spline"), iter_codes(codes, plan, "lerp")):
            assert np.array_equal(via_spline, via_lerp)


def test_iter_codes_streams_and_yields_independent_arrays():
    codes = _codes(2)
    it = iter_codes(codes, plan_frames(2, 5))
    first = next(it)
    first[:] = 0  # the caller may scribble on a frame's code ...
    rest = list(it)
    assert len(rest) == 4 and np.array_equal(rest[-1], codes[1])
    assert not np.array_equal(codes[0], 0)  # ... without touching the keyframes


def test_chain_argument_errors():
    with pytest.raises(UsageError, match="at least 2 images"):
        plan_frames(1, 10)
    with pytest.raises(UsageError, match="cannot be combined"):
        plan_frames(2, 10, loop=True, pingpong=True)
    with pytest.raises(UsageError, match="hold"):
        plan_frames(2, 10, hold=-1)
    with pytest.raises(UsageError, match="steps must be at least 2"):
        plan_frames(2, 1)
    with pytest.raises(UsageError, match="unknown interpolation"):
        iter_codes(_codes(2), plan_frames(2, 3), "cubic")  # raised eagerly, not at first frame
    with pytest.raises(ValueError, match=r"codes must be \[K, n_styles, 512\], got shape \(18, 512\)"):
        iter_codes(_codes(1)[0], plan_frames(2, 3))  # one code, not a stack of keyframes
    with pytest.raises(ValueError, match="plan uses keyframe 2 but only 2 codes were given"):
        iter_codes(_codes(2), plan_frames(3, 3))


def test_slerp_and_spline_morphs_show_their_own_in_betweens():
    codes = _codes(3)
    plan = plan_frames(3, 5)
    for interp, between in (("slerp", lambda f: slerp(codes[f.src], codes[f.dst], f.t)),
                            ("lerp", lambda f: lerp(codes[f.src], codes[f.dst], f.t))):
        for spec, frame in zip(plan, iter_codes(codes, plan, interp)):
            assert np.array_equal(frame, between(spec) if spec.keyframe is None else codes[spec.keyframe])
    spline = list(iter_codes(codes, plan, "spline"))
    assert not np.array_equal(spline[2], list(iter_codes(codes, plan, "slerp"))[2])


def test_keyframe_path_visits_the_keyframes_as_the_morph_shows_them():
    codes = _codes(3, n=10)
    assert np.array_equal(keyframe_path(codes), codes)
    looped = keyframe_path(codes, loop=True)
    assert looped.shape == (4, 10, 512) and np.array_equal(looped[3], codes[0])
    mask = parse_layers("fine", 10)  # rows 4-9 morph; the others stay the first face's
    shown = keyframe_path(codes, layer_mask=mask)
    assert np.array_equal(shown[:, mask], codes[:, mask])
    assert all(np.array_equal(shown[k, ~mask], codes[0, ~mask]) for k in range(3))


# --- layers ---------------------------------------------------------------------------------


def test_layer_groups_for_1024_and_scaled_sizes():
    assert layer_groups(3) == {"coarse": (0, 1), "middle": (1, 2), "fine": (2, 3), "all": (0, 3)}  # the fewest
    with pytest.raises(ValueError, match="n_styles must be at least 3"):
        layer_groups(2)
    assert layer_groups(18) == {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 18), "all": (0, 18)}
    assert layer_groups(16) == {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 16), "all": (0, 16)}
    assert layer_groups(14) == {"coarse": (0, 4), "middle": (4, 6), "fine": (6, 14), "all": (0, 14)}
    assert layer_groups(12) == {"coarse": (0, 2), "middle": (2, 6), "fine": (6, 12), "all": (0, 12)}
    assert layer_groups(10) == {"coarse": (0, 2), "middle": (2, 4), "fine": (4, 10), "all": (0, 10)}
    for n in range(3, 40):
        g = layer_groups(n)
        assert 0 < g["coarse"][1] < g["middle"][1] < n and g["middle"][0] == g["coarse"][1]


def test_parse_layers_good_specs():
    assert np.flatnonzero(parse_layers("coarse", 18)).tolist() == [0, 1, 2, 3]
    assert np.flatnonzero(parse_layers("Middle", 18)).tolist() == [4, 5, 6, 7]
    assert np.flatnonzero(parse_layers("fine", 18)).tolist() == list(range(8, 18))
    assert parse_layers("all", 18).all()
    assert np.flatnonzero(parse_layers("0-7", 18)).tolist() == list(range(8))
    assert np.flatnonzero(parse_layers("0-3, 8-17", 18)).tolist() == [0, 1, 2, 3, *range(8, 18)]
    assert np.flatnonzero(parse_layers("5", 18)).tolist() == [5]
    assert np.flatnonzero(parse_layers("coarse,9", 10)).tolist() == [0, 1, 9]


@pytest.mark.parametrize("spec", ["", "0-18", "7-3", "x", "1,,2", "-2", "0-3;5", "fine-ish", "1.5"])
def test_parse_layers_bad_specs_one_line(spec):
    with pytest.raises(UsageError) as err:
        parse_layers(spec, 18)
    assert "\n" not in str(err.value) and str(err.value).startswith(f'layers="{spec}": ')  # names the keyword


def test_masked_rows_stay_at_first_keyframe_bit_for_bit():
    codes = _codes(3)
    mask = parse_layers("fine", 18)
    for interp in INTERPS:
        frames = list(iter_codes(codes, plan_frames(3, 7, loop=True, hold=1, ease="cosine"), interp, mask))
        for f in frames:
            assert np.array_equal(f[~mask], codes[0][~mask])
        assert np.array_equal(frames[7][mask], codes[1][mask])  # keyframe 1 after 6 steps + 1 hold
        assert any(not np.array_equal(f[mask], codes[0][mask]) for f in frames)


def test_mix_codes_takes_each_group_from_its_source():
    c, m, f = _codes(3, n=14)
    out = mix_codes(c, m, f, 14)
    assert out.dtype == np.float32 and out.shape == (14, 512)
    assert np.array_equal(out[:4], c[:4]) and np.array_equal(out[4:6], m[4:6]) and np.array_equal(out[6:], f[6:])
    with pytest.raises(ValueError):
        mix_codes(c, m, f[:10], 14)


@pytest.mark.parametrize("options", [{"hold": 2}, {"pingpong": True, "hold": 1}, {"loop": True, "hold": 3},
                                     {"pingpong": True, "ease": "cosine"}])
@pytest.mark.parametrize("interp", INTERPS)
def test_a_frame_said_to_show_an_earlier_frames_code_shows_it_bit_for_bit(options, interp):
    codes = _codes(3)
    mask = np.arange(18) < 6  # --layers: the rows outside keep the first code's
    plan = plan_frames(3, 5, **options)
    frames = list(iter_codes(codes, plan, interp, layer_mask=mask))
    shown_first = first_showings(plan)
    for i, first in enumerate(shown_first):
        assert first <= i and np.array_equal(frames[i], frames[first])
        # ... and a frame said to be new is no earlier frame's code
        assert first < i or not any(np.array_equal(frames[i], frames[j]) for j in range(i))
