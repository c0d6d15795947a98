"""The e4e encoder (interp_cli/models/e4e.py) as a Python caller builds and runs it.

The golden comparison with the original e4e code is tests/test_models.py's; the fast shortcut's is
tests/test_stylegan2_fast.py's. Here: what a caller gets from the documented defaults and arguments.
"""

from __future__ import annotations

import pytest
import torch

from interp_cli.models.e4e import Encoder4Editing, EncoderConfig
from tests.recipe import read_manifest


def test_the_default_encoder_has_the_published_ffhq_checkpoints_layout():
    # EncoderConfig's defaults are documented as e4e's IR-SE-50 at FFHQ 1024: a caller building one with no
    # arguments must get a network the published checkpoint's encoder half loads into (18 W+ rows, not 16).
    expected = {row["key"][len("encoder."):]: row["shape"] for row in read_manifest("e4e_ffhq_keys.tsv")
                if row["key"].startswith("encoder.")}
    with torch.device("meta"):
        encoder = Encoder4Editing(EncoderConfig())
    got = {key: tuple(value.shape) for key, value in encoder.state_dict().items()}
    assert got == expected
    assert encoder.style_count == 18


@pytest.mark.parametrize("shape", [dict(widths=(64, 128, 256)), dict(units=(3, 4, 14)),
                                   dict(widths=(64, 128, 256, 512, 512), units=(3, 4, 14, 3, 1))])
def test_a_backbone_of_other_than_four_stages_is_refused_when_configured(shape):
    # The encoder taps its last three stages' ends: a caller's three-stage list (of widths, or of unit counts)
    # built a network that failed only at its first forward pass, unpacking its taps.
    with pytest.raises(ValueError, match="^the encoder backbone has exactly four stages$"):
        EncoderConfig(**shape)
