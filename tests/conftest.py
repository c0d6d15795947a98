"""Session-wide fixtures: checkpoints are built once per test session, in a temp dir."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A suite started in the background (`make test &`, nohup) inherits SIGINT ignored, and an ignored
# signal stays ignored across exec, so the children that the Ctrl-C tests signal would never see it.
# A handled one is reset to the default in a child: handle it here, as an interactive run does.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# One cache dir for the whole session (the parsed landmark model, sha256 records, latents), never
# the user's home; tests about the latent cache give themselves an empty one. Removed at exit (below), and,
# where a session ended without its atexit callbacks, by a later session (`_remove_dead_sessions_caches`).
CACHE_PREFIX = "interp-test-cache-"
# In each session's cache dir: a file the session holds an flock on for its life; the kernel lets go when it dies.
CACHE_OWNER = ".session"


def _remove_dead_sessions_caches():
    """Remove the cache dirs that sessions killed by a signal (CI's timeout, SIGKILL) or ended by `os._exit` left in
    the temp folder: 85 MB each, kept for good otherwise. Only those whose owner file is there and not locked (its
    session is dead); one without it (a session about to lock it, or one of an older checkout) is left alone."""
    top = tempfile.gettempdir()
    try:
        names = [name for name in os.listdir(top) if name.startswith(CACHE_PREFIX)]
    except OSError:
        return
    from interp_cli.files import taken_lock

    for name in names:
        with taken_lock(os.path.join(top, name, CACHE_OWNER)) as fd:
            if fd is not None:
                shutil.rmtree(os.path.join(top, name), ignore_errors=True)


def _own_cache_dir():
    """A new cache dir and the descriptor that holds its owner file's lock (kept open for the session's life). The
    owner file is locked under another name and then renamed: a sweep never sees it unlocked."""
    import fcntl

    folder = tempfile.mkdtemp(prefix=CACHE_PREFIX)
    fd, name = tempfile.mkstemp(dir=folder)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(name, os.path.join(folder, CACHE_OWNER))
    return folder, fd


_remove_dead_sessions_caches()
os.environ["INTERP_CACHE_DIR"], _CACHE_LOCK = _own_cache_dir()
# GNU parallel (examples/parallel.sh's tests) keeps its state in $PARALLEL_HOME, else ~/.parallel: the user's home.
os.environ["PARALLEL_HOME"] = os.path.join(os.environ["INTERP_CACHE_DIR"], "parallel")
# torch.compile's (inductor's) cache, else $TMPDIR/torchinductor_$USER, kept there after the run.
os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(os.environ["INTERP_CACHE_DIR"], "torchinductor")
# The suite runs most morphs in its own process, as a Python caller does. `interp` makes its OpenMP threads
# wait passively for itself (cli._tune_own_process) and the README tells a Python caller to do the same: a
# spinning worker thread burns a core whenever the main thread runs Python between torch's ops, and on a busy
# machine (the suite's own children, CI's other jobs) it takes the core those need. test_pipeline alone took
# 96 s of CPU spinning and 22 s passive at load 7-9; on an idle machine the same CPU and ~15% more wall
# (benchmarks/README.md, "The suite's time, a third pass"). Only the waiting changes, never a result; OpenMP
# reads the variable once, when torch loads, so it is set here, before any test module imports torch. Tests
# about the variable itself remove it with monkeypatch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tests.recipe import GOLDEN_DIR, build_golden_checkpoint  # noqa: E402 (after the environment is set)

_SESSION = os.getpid()


# The session's cache dir goes when its process exits: left behind, each run kept 85 MB in /tmp, and 1,738 of
# them (18 GB, most from benchmarks/mutants.py's runs, one per mutant) had gathered on a machine whose disk was
# down to 2 GB free. A child forked from the session that exits normally runs the same atexit callbacks: only
# the session's own process removes it.
@atexit.register
def _remove_the_sessions_cache(cache=os.environ["INTERP_CACHE_DIR"]):
    if os.getpid() == _SESSION:
        shutil.rmtree(cache, ignore_errors=True)


def pytest_collection_finish(session):
    """Move what the collection made (torch's and every test module's objects, the test items: all alive until
    the session ends) into the collector's permanent generation, as `interp` does in its own process after
    importing torch (interp_cli/malloc.py). Each full collection in this process then walks only what tests
    make: `drop_encoder`'s, once per in-process morph, and the automatic ones (benchmarks/README.md, "The
    suite's time, a second pass"). Objects made later are collected as before."""
    import gc

    gc.collect()
    gc.freeze()


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


TINY_GEN = dict(size=16, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16})
TINY_ENC = dict(stylegan_size=16, style_dim=32, widths=(16, 32, 48, 64), units=(1, 1, 1, 1), input_size=64)


def build_tiny_model(seed: int = 0):
    """A tiny random e4e model (16 px generator, 6 styles): fast, for plumbing tests."""
    import torch

    from interp_cli.models.e4e import Encoder4Editing, EncoderConfig
    from interp_cli.models.stylegan2 import Generator, GeneratorConfig

    torch.manual_seed(seed)
    generator = Generator(GeneratorConfig(**TINY_GEN)).eval()
    encoder = Encoder4Editing(EncoderConfig(**TINY_ENC)).eval()
    latent_avg = generator.mean_latent(256).expand(generator.n_latent, -1).clone()
    return generator, encoder, latent_avg


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """A tiny e4e-layout checkpoint file."""
    from interp_cli.models.checkpoint import save_e4e_checkpoint

    generator, encoder, latent_avg = build_tiny_model()
    path = tmp_path_factory.mktemp("tiny") / "tiny_e4e.pt"
    save_e4e_checkpoint(path, generator, encoder, latent_avg, meta={"name": "tiny"})
    return path


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch):
    monkeypatch.delenv("INTERP_WEIGHTS", raising=False)


@pytest.fixture(scope="module", autouse=True)
def _torch_threads_given_back(request):
    """A test file that changes torch's CPU thread count gives it back: the count is part of the cache keys
    and splits the sums differently, so every later file would otherwise run, and compute, unlike when it
    runs alone (test_tune's module fixture once left the rest of the session on one thread)."""
    import sys

    torch = sys.modules.get("torch")  # imported while the test files were collected; never imported here
    before = torch.get_num_threads() if torch is not None else None
    yield
    if before is not None:
        assert torch.get_num_threads() == before, f"{request.module.__name__} left torch on " \
                                                  f"{torch.get_num_threads()} thread(s), not {before}"


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (tests/browser.py finds it) driven by Playwright; skipped without either."""
    from tests.browser import OFFLINE_ARGS, browser_env, chromium

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=OFFLINE_ARGS, env=browser_env())
        yield launched
        launched.close()
