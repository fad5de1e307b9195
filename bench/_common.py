"""Shared helpers for benchmarks: machine info and writing bench/results/<name>.json."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).parent / "results"


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": os.getloadavg(),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine info and a timestamp."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    payload = {"name": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine_info(), **data}
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return out


def percentiles(samples: list[float], ps: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    """Percentiles of ``samples`` (same unit as given), nearest-rank."""
    if not samples:
        return {f"p{int(p)}": float("nan") for p in ps}
    s = sorted(samples)
    return {f"p{int(p)}": s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] for p in ps}
