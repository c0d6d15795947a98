"""How the benchmarks report a measurement taken several times: min / median / max, one home for the format.

This VM's speed drifts 10-20% for minutes at a time, so one number says little; the spread shows it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], fmt: str = "{:.3f}", *, scale: float = 1.0) -> str:
    """`values` as "min / median / max", each formatted with `fmt` after multiplying by `scale` (1e3: ms)."""
    return " / ".join(fmt.format(v * scale) for v in (min(values), statistics.median(values), max(values)))
