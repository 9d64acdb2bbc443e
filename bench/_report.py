"""Printing and saving benchmark results: a table on stdout, JSON under bench/results/."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, figures: dict[str, Any], targets: dict[str, str] | None = None) -> Path:
    """Print ``figures`` as a table and write them, with machine facts, to bench/results/NAME.json."""
    width = max(len(k) for k in figures)
    print(f"== {name} ==")
    for key, value in figures.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        target = f"   (target {targets[key]})" if targets and key in targets else ""
        print(f"{key.ljust(width)}  {shown}{target}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    doc = {"name": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
           "figures": figures, "targets": targets or {}}
    out.write_text(json.dumps(doc, indent=2))
    print(f"written {out}")
    return out
