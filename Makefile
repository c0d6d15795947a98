# `make demo` and `make test` work on a fresh machine: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch first, pinned to the one version the suite has run on. On Linux x86-64 the PyPI wheel, pinned or
# not, is the CUDA build and pulls several GB of nvidia-* packages; for the CPU-only wheel, take it from
# PyTorch's own index: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
TORCH_PIP = "$(TORCH_SPEC)"$(if $(TORCH_INDEX), --index-url $(TORCH_INDEX))

.PHONY: help install test test-lowest test-wheel demo bench lint clean demo-weights
# A bare `make` lists the targets; it installs nothing. Each target's `## ` comment is its line here.
.DEFAULT_GOAL := help

help:  ## this list
	@echo "make TARGET (a target that needs .venv creates it first):"
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/\1|\2/p' $(firstword $(MAKEFILE_LIST)) | awk -F'|' '{printf "  %-13s %s\n", $$1, $$2}'
	@echo "CPU-only torch: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu (README.md, Development)"

# Two steps: `make demo` needs only torch and interp (the demo model takes its faces unaligned); the
# dev extra (pytest, ruff, Playwright, ...) and the align extra come with `make install`, for the tests.
$(VENV)/.base: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIP)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.base
	$(PY) -m pip install -q -e ".[dev,align]"
	touch $@

install: $(VENV)/.installed  ## .venv: torch, interp editable with the align and dev extras

# The room the suite takes in the temp folder ($$TMPDIR, else /tmp), checked before anything else runs
# (tools/check_room.py). Its fixtures alone peak at 0.82 GB (the 683 MB golden checkpoint, held all session); each
# test's own files go after it passes: 2 GB leaves room for the biggest (benchmarks/README.md, 2026-12-07). 0 skips.
SUITE_ROOM_GB ?= 2

room-%:
	@$(PYTHON) tools/check_room.py --need-gb $(SUITE_ROOM_GB) --what "make $*"

# room-test first: with too little room, one line at once, before an install or an hour of failing tests
test: room-test install  ## the test suite, offline (CI runs it first)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# The suite again, in a fresh venv where every direct dependency (install_requires + the align and dev
# extras), torch included, sits at the lowest version setup.cfg allows that installs on this Python:
# the floors are tested. torch's floor (2.1.0) comes from PyPI, which on Linux x86-64 has only its CUDA
# build (2.6 GB of wheels, 5.3 GB installed; the suite runs it on the CPU); with TORCH_INDEX set, that
# index's build of the same version is installed first. `make test` and `make test-wheel` keep
# $(TORCH_SPEC). The pins land in $(LOWEST)/lowest.txt.
LOWEST := .venv-lowest
test-lowest: room-test-lowest  ## the suite with every dependency, torch too, at its floor, in .venv-lowest
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q --upgrade pip
	$(LOWEST)/bin/python tools/lowest_requirements.py --extras align,dev > $(LOWEST)/lowest.txt
	cat $(LOWEST)/lowest.txt
	$(if $(TORCH_INDEX),$(LOWEST)/bin/python -m pip install -q "$$(grep -o '^torch==[^ ]*' $(LOWEST)/lowest.txt)" --index-url $(TORCH_INDEX))
	$(LOWEST)/bin/python -m pip install -q -r $(LOWEST)/lowest.txt
	$(LOWEST)/bin/python -m pip install -q --no-deps -e .
	$(LOWEST)/bin/python -m pip check
	$(LOWEST)/bin/python -m ruff check interp_cli tests benchmarks weights tools
	HF_HUB_OFFLINE=1 $(LOWEST)/bin/python -m pytest -q

# Build the sdist and, from it, the wheel; install the wheel into a clean venv outside the repo and
# morph there with --weights demo: proves an installed interp carries its demo model (tools/check_wheel.py).
test-wheel:  ## sdist -> wheel -> clean venv -> morph with --weights demo outside the repo
	TORCH_SPEC="$(TORCH_SPEC)" TORCH_INDEX="$(TORCH_INDEX)" $(PYTHON) tools/check_wheel.py

lint: install  ## ruff
	$(PY) -m ruff check interp_cli tests benchmarks weights tools

bench: install  ## CPU benchmark (benchmarks/README.md)
	$(PY) benchmarks/bench.py

# The demo model ships inside the package, interp_cli/data/demo.pt (+ demo.json); this rebuilds it (CPU: about 12.5 hours on 2 cores).
# The shipped demo model's recipe: a 62-minute run, 55 minutes of end-to-end training on top, then
# 52 and 120 minutes more with the eyes, mouths and glasses weighted 10x (--feature-weight 9), no discriminator,
# 120 more at half those learning rates, ramped up over 300 steps, and 105 then 100 minutes of the encoder
# alone (the generator frozen, the code anchor at 0.1), then 140 minutes end to end again at half the
# learning rates with that anchor; later options override FEATURE_RUN's.
# An interrupted run continues with `$(PY) -m weights.train_demo --resume interp_cli/data/demo.state.pt`
# and the same other options.
FEATURE_RUN = --init interp_cli/data/demo.pt --threads 2 --lr-g 1e-3 --lr-e 5e-4 --adv-weight 0 --feature-weight 9
demo-weights: install  ## retrain the shipped demo model (hours of CPU)
	$(PY) -m weights.train_demo --minutes 62 --adv-weight 0
	$(PY) -m weights.train_demo --init interp_cli/data/demo.pt --minutes 55 --adv-weight 0
	$(PY) -m weights.train_demo $(FEATURE_RUN) --minutes 52
	$(PY) -m weights.train_demo $(FEATURE_RUN) --minutes 120
	$(PY) -m weights.train_demo $(FEATURE_RUN) --lr-g 5e-4 --lr-e 2.5e-4 --lr-warmup 300 --minutes 120
	$(PY) -m weights.train_demo $(FEATURE_RUN) --freeze-generator --code-weight 0.1 --lr-warmup 300 --minutes 105
	$(PY) -m weights.train_demo $(FEATURE_RUN) --freeze-generator --code-weight 0.1 --lr-warmup 300 --minutes 100
	$(PY) -m weights.train_demo $(FEATURE_RUN) --lr-g 5e-4 --lr-e 2.5e-4 --code-weight 0.1 --lr-warmup 300 --minutes 140

# A real morph offline with the shipped demo model: out/demo.mp4, out/demo.gif, out/demo_sheet.png.
# --tune: the ends 31.1-32.2 dB instead of 27.5-28.2 (about 5 s of CPU, once: the GIF reuses the cached tuning).
demo: $(VENV)/.base  ## out/demo.mp4, out/demo.gif, out/demo_sheet.png, offline (.venv: torch and interp)
	mkdir -p out
	$(PY) -m interp_cli examples/demo_a.png examples/demo_b.png --weights demo --steps 60 --size 256 \
		-o out/demo.mp4 --sheet out/demo_sheet.png --quiet --tune
	$(PY) -m interp_cli examples/demo_a.png examples/demo_b.png --weights demo --steps 60 --size 256 \
		-o out/demo.gif --tune
	@echo "demo written: out/demo.mp4 out/demo.gif out/demo_sheet.png"

clean:  ## remove .venv, .venv-lowest (5.3 GB), out/ and the pytest cache
	rm -rf $(VENV) $(LOWEST) out .pytest_cache
