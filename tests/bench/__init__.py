"""Benchmarks (not collected by pytest): `make bench` runs ``python -m tests.bench``.

Each ``bench_*.py`` module has a ``main() -> list[Figure]``; every figure is printed as a
ratio against its baseline, with the raw numbers it came from. ``python -m tests.bench NAME``
runs one (``startup``, ``healthz``).

``python -m tests.bench.profile_middleware`` is not a bench: it prints what each middleware
adds to a /healthz request, to explain the healthz figure.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One measured result against its baseline."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    goal: str = ""
    raw: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")

    def lines(self) -> list[str]:
        out = [
            f"{self.name}: {self.value:.3f} {self.unit}",
            f"  baseline ({self.baseline_name}): {self.baseline:.3f} {self.unit}",
            f"  ratio: {self.ratio:.2f}" + (f"  (goal {self.goal})" if self.goal else ""),
        ]
        out += [f"  {key}: {value}" for key, value in self.raw.items()]
        return out


def median(values: list[float]) -> float:
    return statistics.median(values)
