"""How the benchmarks report a measurement taken several times: min / median / max, one home for the format.

This VM's speed drifts 10-20% for minutes at a time, so one number says little; the spread shows it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], fmt: str = "{:.3f}", *, scale: float = 1.0) -> str:
    """`values` as "min / median / max", each formatted with `fmt` after multiplying by `scale` (1e3: ms)."""
    return " / ".join(fmt.format(v * scale) for v in (min(values), statistics.median(values), max(values)))


def versus(times: dict[str, Sequence[float]], fmt: str = "{:.2f}", *, scale: float = 1.0, unit: str = "s") -> str:
    """Lines for {"this": times, "baseline": times} taken in one run: each one's spread, then the medians' ratio."""
    lines = [f"{label}: {spread(values, fmt, scale=scale)} {unit}" for label, values in times.items()]
    ratio = statistics.median(times["baseline"]) / statistics.median(times["this"])
    return "\n".join([*lines, f"baseline / this (medians): {ratio:.1f}"])
