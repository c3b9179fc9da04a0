"""Drift: fresh cloud counts against what the latest snapshot expected.

A metric drifts when |observed - expected| >= the absolute threshold, or when
|observed - expected| / expected >= the ratio threshold (expected 0 with a non-zero
observation counts as ratio 1). Thresholds come from the config contract
(BRAIN_DRIFT_ABSOLUTE, BRAIN_DRIFT_RATIO; docs/domain.md's defaults 25 and 0.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Drift:
    metric: str
    expected: int
    observed: int
    delta: int
    ratio: float

    def as_json(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "expected": self.expected,
            "observed": self.observed,
            "delta": self.delta,
            "ratio": round(self.ratio, 4),
        }


def drift_ratio(expected: int, observed: int) -> float:
    delta = abs(observed - expected)
    if expected == 0:
        return 1.0 if delta else 0.0
    return delta / abs(expected)


def find_drift(
    expected: Mapping[str, int], observed: Mapping[str, int], *, absolute: int, ratio: float
) -> list[Drift]:
    """Every metric present in both mappings whose difference crosses either threshold."""
    found = []
    for metric in sorted(expected.keys() & observed.keys()):
        delta = observed[metric] - expected[metric]
        r = drift_ratio(expected[metric], observed[metric])
        if abs(delta) >= absolute or r >= ratio:
            found.append(Drift(metric, expected[metric], observed[metric], delta, r))
    return found
