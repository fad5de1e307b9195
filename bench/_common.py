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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, env: dict[str, str] | None = None,
                 background: bool = True, timeout_s: float = 120.0, cpus: set[int] | None = None) -> Any:
    """``hexlake serve`` on ``data_dir`` in a subprocess; returns the Popen once /readyz answers 200.
    ``cpus``: the cores the server (every thread it starts) may run on."""
    import subprocess
    import sys

    import httpx

    args = ["serve", "--port", str(port)] + ([] if background else ["--no-background"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "hexlake", *args],
        env={**os.environ, "HEXLAKE_DATA_DIR": str(data_dir), "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",
             **(env or {})},
        stdout=subprocess.DEVNULL, stderr=open(data_dir / "server.log", "wb"),  # noqa: SIM115
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start: {(data_dir / 'server.log').read_text()[-1000:]}")
