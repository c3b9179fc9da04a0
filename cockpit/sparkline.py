"""Latency sparklines as SVG polyline points, computed on the server (no JavaScript, and no
inline style: the Content Security Policy allows our stylesheet only)."""

from __future__ import annotations

WIDTH, HEIGHT, PAD = 120, 28, 2


def sparkline_points(values: list[float], width: int = WIDTH, height: int = HEIGHT) -> str:
    """``x,y`` pairs scaled into the box, oldest left; "" for fewer than two values."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 2 * PAD) / (len(values) - 1)
    points = []
    for index, value in enumerate(values):
        x = PAD + index * step
        y = height - PAD - (value - low) / span * (height - 2 * PAD)
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)
