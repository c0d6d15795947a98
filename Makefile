# `make demo` and `make test` work on a fresh machine: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch first and pinned: an unpinned torch pulls several GB of CUDA packages on a machine without one.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test demo bench lint clean demo-weights

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev,align]"
	touch $@

install: $(VENV)/.installed

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: install
	$(PY) -m ruff check interp_cli tests benchmarks weights

bench: install
	$(PY) benchmarks/bench.py

# The demo model ships in weights/; this rebuilds it (CPU: about 2 hours on 2 cores).
# The shipped demo model's recipe: a 62-minute run, then 55 minutes of end-to-end training on top.
# Both runs predate the discriminator (--adv-weight 0); an interrupted run continues with
# `$(PY) -m weights.train_demo --resume weights/demo.state.pt` and the same other options.
demo-weights: install
	$(PY) -m weights.train_demo --minutes 62 --adv-weight 0
	$(PY) -m weights.train_demo --init weights/demo.pt --minutes 55 --adv-weight 0

# A real morph offline with the shipped demo model: out/demo.mp4, out/demo.gif, out/demo_sheet.png.
demo: install
	mkdir -p out
	$(PY) -m interp_cli examples/demo_a.png examples/demo_b.png --weights demo --steps 60 --size 256 \
		-o out/demo.mp4 --sheet out/demo_sheet.png --quiet
	$(PY) -m interp_cli examples/demo_a.png examples/demo_b.png --weights demo --steps 60 --size 256 \
		-o out/demo.gif --json
	@echo "demo written: out/demo.mp4 out/demo.gif out/demo_sheet.png"

clean:
	rm -rf $(VENV) out .pytest_cache
