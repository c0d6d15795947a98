"""Session-wide fixtures: checkpoints are built once per test session, in a temp dir."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.recipe import GOLDEN_DIR, build_golden_checkpoint


@pytest.fixture(scope="session")
def golden():
    """The reference outputs of the original e4e + StyleGAN2 code on the recipe weights."""
    return dict(np.load(GOLDEN_DIR / "golden_e4e64.npz"))


@pytest.fixture(scope="session")
def golden_ckpt(tmp_path_factory):
    """The size-64 recipe model saved in the e4e layout (~700 MB, built once per session)."""
    return build_golden_checkpoint(tmp_path_factory.mktemp("golden") / "e4e64_recipe.pt")


@pytest.fixture(scope="session")
def golden_model(golden_ckpt):
    from interp_cli.models.checkpoint import load_model

    return load_model(golden_ckpt)
