"""Which input an option names and which face each input gives, and the quick check of inputs (interp_cli.inputs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interp_cli.errors import UsageError, cli_words
from interp_cli.inputs import faces_per_input, mix_sources, pick_input


def test_an_input_is_named_by_letter_or_one_based_number():
    assert [pick_input("backdrop", v, 3) for v in ("a", "B", " c ", 1, "2", 3)] == [0, 1, 2, 0, 1, 2]
    for wrong in ("d", 4, 0, "-1", "ab", ""):
        with pytest.raises(UsageError, match=r"^backdrop=.*: name one of the inputs \(a, b, c, or 1 to 3\)"):
            pick_input("backdrop", wrong, 3)
        with cli_words(), pytest.raises(UsageError, match=r"^--backdrop .*: name one of the inputs"):
            pick_input("backdrop", wrong, 3)


def test_one_face_number_applies_to_every_input_or_only_to_the_backdrop():
    assert faces_per_input(None, 3) == [None, None, None]
    assert faces_per_input(1, 3) == [1, 1, 1]
    assert faces_per_input(1, 3, backdrop_index=2) == [None, None, 1]  # --paste: the others give their largest


def test_a_mix_with_two_inputs_unnamed_is_shown_a_line_naming_both():
    """`interp mix a b c --coarse a --fine a` was told `e.g. --middle b`, which is refused again for c."""
    paths = [Path("a.png"), Path("b.png"), Path("c.png")]
    with cli_words(), pytest.raises(UsageError, match="^b.png: input b is .*; name it [(]e.g. --middle b --fine c[)]$"):
        mix_sources(paths, "a", None, "a")
    with pytest.raises(UsageError, match=r'[(]e.g. middle="b", fine="c"[)]$'):
        mix_sources(paths, "a", "a", "a")
    assert mix_sources(paths, "a", "b", "c") == {"coarse": 0, "middle": 1, "fine": 2}  # the line it shows works
    with cli_words(), pytest.raises(UsageError, match="[(]e.g. --middle c[)] or leave it out$"):
        mix_sources(paths, "a", None, "b")  # one unnamed: one to name


def test_faces_per_input_take_one_place_each():
    assert faces_per_input((None, 1), 2) == [None, 1]
    assert faces_per_input((0, 1), 2, backdrop_index=0) == [0, 1]
    # The example has as many places as there are inputs: `--face ,1` was offered for three, refusing that very line.
    with cli_words(), pytest.raises(UsageError, match="^--face ,1: 2 values for 3 inputs; .* e.g. --face ,1,$"):
        faces_per_input((None, 1), 3)
    with pytest.raises(UsageError, match=r"^face=\(None, 1\): 2 values for 3 inputs; .* e.g. face=\(None, 1, None\)$"):
        faces_per_input((None, 1), 3)
    with cli_words(), pytest.raises(UsageError, match="^--face ,1: 2 values for 1 input; .* e.g. --face 1$"):
        faces_per_input((None, 1), 1)  # encode's one photo
    for bad in ((-1, 0), (True, 0), (0.5, 0)):
        with pytest.raises(UsageError, match="is not a face number"):
            faces_per_input(bad, 2)


def test_the_quick_check_decodes_a_profiled_photo_but_does_not_convert_its_colours(tmp_path):
    """The check before the model loads refuses what the morph would (here a truncated photo), but a profile
    only ever warns, so it is not applied there: converting a 12 MP photo to sRGB took longer than decoding it.
    Seen from outside, in a fresh process: LittleCMS (PIL.ImageCms) is never imported."""
    import numpy as np
    from PIL import Image

    from tests.icc import rgb_profile

    photo = tmp_path / "p3.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photo, icc_profile=rgb_profile("display-p3"))
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(photo.read_bytes()[:-200])
    code = ("import json, sys\nfrom interp_cli.errors import UsageError\nfrom interp_cli.inputs import check_inputs\n"
            "check_inputs([sys.argv[1]])\ntry:\n    check_inputs([sys.argv[2]])\n    refused = None\n"
            "except UsageError as err:\n    refused = str(err)\n"
            "print(json.dumps([refused, 'PIL.ImageCms' in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(photo), str(truncated)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, check=True)
    refused, converted = json.loads(done.stdout)
    assert refused.startswith(f"{truncated}: truncated or corrupt image"), refused
    assert not converted


def test_a_save_aligned_folder_that_is_a_dangling_or_looping_symlink_is_named_as_such(tmp_path):
    """`ls` shows the folder, so "exists and is not a directory" sent the user looking at it: a link to
    nothing says where it leads, a loop says it is one, a file is "not a directory", in Python's words
    (save_aligned=) here."""
    from interp_cli.inputs import check_crop_folder

    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "afile").write_bytes(b"x")
    said = {}
    for name in ("dangling", "loop", "afile"):
        with pytest.raises(UsageError) as refused:
            check_crop_folder(tmp_path / name)
        said[name] = str(refused.value)
    assert said == {
        "dangling": f'save_aligned="{tmp_path}/dangling": is a symlink to \'{tmp_path}/gone\', which does not exist',
        "loop": f'save_aligned="{tmp_path}/loop": cannot be reached (a symlink loop)',
        "afile": f'save_aligned="{tmp_path}/afile": exists and is not a directory'}
    check_crop_folder(tmp_path / "missing")  # made at the end: not refused
    assert not (tmp_path / "missing").exists()


def test_an_empty_code_among_the_inputs_is_refused_before_the_model_loads(tmp_path):
    """An empty .npy (a save that was cut short) is told by its size, where a photo is decoded: one line naming it,
    and the input at fault as `.path`, for a batch's row and --json."""
    from interp_cli.errors import InputError
    from interp_cli.inputs import check_inputs

    code = tmp_path / "face.npy"
    code.write_bytes(b"")
    with pytest.raises(InputError) as caught:
        check_inputs([code])
    assert str(caught.value) == f"{code}: not a readable .npy code file (the file is empty)"
    assert caught.value.path == str(code)


@pytest.mark.parametrize("locked", ["file", "folder"])
def test_a_photo_this_user_may_not_read_is_one_line_and_exit_2(tmp_path, locked):
    """A photo of mode 000, or one in a folder of mode 600 (listed, not searched): one line naming it, exit 2, no
    output. Untested before (root reads anything): run with file modes binding (as root: under setpriv)."""
    from tests.file_modes import file_modes_binding

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = folder / "a.png"
    photo.write_bytes((root / "examples" / "demo_a.png").read_bytes())
    locking = photo if locked == "file" else folder
    prefix = file_modes_binding()
    locking.chmod(0o000 if locked == "file" else 0o600)
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "interp_cli", str(photo),
                               str(root / "examples" / "demo_b.png"), "--weights", "demo", "--steps", "2", "-o",
                               str(tmp_path / "out.gif")], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(root),
                                       INTERP_CACHE_DIR=str(tmp_path / "cache")))
    finally:
        locking.chmod(0o644 if locked == "file" else 0o755)
    assert (done.returncode, done.stderr) == (2, f"interp: error: {photo}: permission denied\n")
    assert not (tmp_path / "out.gif").exists()
