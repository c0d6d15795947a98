"""interp: morph one face photo into another through StyleGAN2's latent space.

The Python API is `interp_cli.pipeline`, the functions the `interp` commands call; in a clone's root:

    from interp_cli.pipeline import morph
    summary = morph(["examples/demo_a.png", "examples/demo_b.png"], "demo.gif", weights="demo")
    print(summary["output"], summary["frames"])   # the summary `interp ... --json` prints

`help(interp_cli.pipeline)` lists the rest: `Session` (a model loaded once for many morphs), `batch`,
`encode`, `render`, `align` and `mix`. `morph`, `Session`, `encode` and `mix` are also importable from
here (`from interp_cli import morph`), lazily: `import interp_cli` stays free of torch, which loads on
first use. `batch`, `render` and `align` are also this package's modules (`interp_cli.align` is the face
alignment), so their functions are reached as `interp_cli.pipeline.batch` and so on.
"""

__version__ = "0.1.0"

# The names `from interp_cli import NAME` gives from interp_cli.pipeline, imported on first use (PEP 562).
_PIPELINE_NAMES = ("morph", "Session", "encode", "mix")


def __getattr__(name: str):
    """`interp_cli.morph` and the other pipeline names, imported (with torch) on first use."""
    if name in _PIPELINE_NAMES:
        from interp_cli import pipeline

        value = getattr(pipeline, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp_cli' has no attribute {name!r}")
