"""interp: morph one face photo into another through StyleGAN2's latent space.

The Python API is `interp_cli.pipeline`, the functions the `interp` commands call; in a clone's root:

    from interp_cli.pipeline import morph
    summary = morph(["examples/demo_a.png", "examples/demo_b.png"], "demo.gif", weights="demo")
    print(summary["output"], summary["frames"])   # the summary `interp ... --json` prints

`help(interp_cli.pipeline)` lists the rest: `Session` (a model loaded once for many morphs; its
`morph_frames(inputs, steps=30)` yields the frames as uint8 `[H, W, 3]` arrays, nothing written), `batch`,
`encode`, `render`, `align`, `mix` and `download_weights` (fetch a preset ahead of time, as `interp weights
download` does). `morph`, `Session`, `encode`, `mix` and `download_weights` are also importable from
here (`from interp_cli import morph`), lazily: `import interp_cli` stays free of torch, which loads on
first use (`download_weights` never loads it). `batch`, `render` and `align` are also this package's
modules (`interp_cli.align` is the face alignment), so their functions are reached as
`interp_cli.pipeline.batch` and so on.

What a call does besides its output:
- It prints nothing of its own. `progress=True` draws progress bars on stderr. Warnings (a GIF's frame rate
  capped, a photo the model draws poorly) are `InterpWarning`s through Python's `warnings`, located at the
  caller's line; notes (which face was used, a cache reused) are logged at INFO on the "interp_cli" logger.
  `log=` any function of one str (`print`) takes every such line instead, as the command prints them.
- It raises `InterpError` for anything the caller can act on, one line naming the keywords it takes
  (`align=False`, not the command's `--no-align`): `UsageError` for a bad argument, its subclass `InputError`
  for an input file that cannot be used, `NoFaceError` for a photo without a face, `CheckpointError`, `ChecksumError`
  and `WeightsUnavailableError` for weights. `err.path` names the file at fault, where one is: an input, the
  weights, or an output that cannot be written. A TypeError is a call Python itself refuses (an unknown keyword);
  torch's out-of-memory errors and a KeyboardInterrupt pass through as they are. Arguments are taken as their kind,
  never converted: an input is a path (a photo in memory, a PIL image or bytes, is refused with the line that
  saves it to a file), an on/off keyword is True or False (`align="no"` is refused, not read as true), a count an int
  (`steps=60`, not "60" or 60.0), `log=` a function; numpy's ints, floats and bools are taken as Python's.
- It leaves the process as it found it: no signal handlers, environment variables, thread counts, torch
  flags, RNG states, warning filters or logging settings changed after it returns (tests/test_pipeline.py
  checks). Torch's flags for strict float32 on CUDA are held only while a stage runs, for every thread. The
  caller's own torch settings change nothing it draws: another `torch.set_default_dtype`, a call inside
  `torch.inference_mode()` or `torch.no_grad()` gives the frames a fresh process gives (the thread count only
  the last bits of `refine` and `tune`, which their caches keep apart).
- One `Session` serves many calls and threads; `morph(..., session=s)` reuses its model, and a Ctrl-C in the
  middle of a call leaves it drawing the same frames for the next. Memory levels off
  after the first call (benchmarks/README.md, "The Python API as a library").
"""

__version__ = "0.1.0"

# The names `from interp_cli import NAME` gives from interp_cli.pipeline, imported on first use (PEP 562).
_PIPELINE_NAMES = ("morph", "Session", "encode", "mix")
# ... and from interp_cli.errors (torch-free, but imported on first use too: the command's start stays lean).
_ERROR_NAMES = ("InterpError", "UsageError", "InputError", "NoFaceError", "CheckpointError", "ChecksumError",
                "WeightsUnavailableError", "InterpWarning")
# ... and from interp_cli.weights (torch-free: a download needs no model), also in interp_cli.pipeline.
_WEIGHTS_NAMES = ("download_weights",)


def __getattr__(name: str):
    """`interp_cli.morph`, `interp_cli.InterpError` and the other names above, imported on first use."""
    if name in _PIPELINE_NAMES or name in _ERROR_NAMES or name in _WEIGHTS_NAMES:
        if name in _PIPELINE_NAMES:
            from interp_cli import pipeline as home
        elif name in _WEIGHTS_NAMES:
            from interp_cli import weights as home
        else:
            from interp_cli import errors as home
        value = getattr(home, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PIPELINE_NAMES, *_ERROR_NAMES, *_WEIGHTS_NAMES})
