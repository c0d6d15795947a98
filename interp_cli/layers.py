"""The syntax of a `--layers` spec ("coarse", "0-7", "0-3,8-17"), without numpy.

Here rather than in `interp_cli.blend` (which turns a spec into a model's row mask) because the CLI
checks a spec while it parses its options: an option's check that imported numpy put ~0.1 s on
every usage error (`interp missing.jpg b.jpg`), which should answer as fast as `--help`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from interp_cli.errors import UsageError, option

_RANGE = re.compile(r"^([0-9]+)(?:\s*-\s*([0-9]+))?$")  # ASCII digits: not `٠-٣` (checks.number_word)
GROUP_NAMES = ("coarse", "middle", "fine", "all")  # blend.layer_groups' keys, for any model


def check_layers(spec: str) -> None:
    """Refuse a spec that no model takes (`foo`, `3-1`, an empty part) before any model is loaded: only
    whether its rows exist depends on the model (`blend.parse_layers`)."""
    for _ in layer_parts(str(spec)):
        pass


def layer_parts(text: str) -> Iterator[str | tuple[int, int]]:
    """A spec's parts: a group's name (lower case), or an inclusive (first, last) range of rows."""
    for part in (p.strip() for p in text.split(",")):
        if part.lower() in GROUP_NAMES:
            yield part.lower()
            continue
        m = _RANGE.match(part)
        if not m:
            raise UsageError(
                f"{option('layers', text)}: {part!r} is not coarse, middle, fine, all, a row or a range like 0-7"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if lo > hi:
            raise UsageError(f"{option('layers', text)}: range {part!r} runs backwards")
        yield lo, hi
