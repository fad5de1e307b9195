"""Console benchmark: first load of every page and drawing 20k H3 cells, in Debian's Chromium.

    python -m bench.console [--quick]

A server filled by ``hexlake demo`` (300 users, 7 days; ``--quick``: 60 users, 2 days); an admin key
signs in, then each page is opened ``reps`` times in a fresh tab: navigation to the ``load`` event,
and until the page's data is shown (the console's ``__hexlake.ready``). Then 20,000 synthetic H3-sized
hexagons go through the map's own drawing code (``performance.now()`` in the page), ``reps`` times.
Targets (issue 18): any page's first load < 1 s; the map draws 20k cells < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.console.page_js import DRAW_CELLS

from bench._common import free_port, percentiles, start_server, write_result

PAGES = ["overview", "metrics", "map", "users", "sql", "quarantine", "admin", "imports"]


def hexlake(data: Path, *args: str) -> str:
    env = {**os.environ, "HEXLAKE_DATA_DIR": str(data), "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"}
    done = subprocess.run([sys.executable, "-m", "hexlake", *args], env=env, capture_output=True, text=True,
                          timeout=900, check=True)
    return done.stdout


def page_loads(browser: Any, url: str, key: str, reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for page_name in PAGES:
        nav, ready = [], []
        for _ in range(reps):
            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
            ctx.add_init_script(f"sessionStorage.setItem('hexlake.key', {json.dumps(key)})")
            page = ctx.new_page()
            started = time.perf_counter()
            page.goto(f"{url}/#/{page_name}")
            page.wait_for_function("window.__hexlake && window.__hexlake.ready === true", timeout=60_000)
            ready.append((time.perf_counter() - started) * 1000)
            nav.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
            ctx.close()
        out[page_name] = {"load_event_ms": percentiles(nav, (50, 95)), "data_shown_ms": percentiles(ready, (50, 95))}
        print(page_name, out[page_name], flush=True)
    return out


def map_draw(browser: Any, url: str, key: str, reps: int) -> dict[str, Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    ctx.add_init_script(f"sessionStorage.setItem('hexlake.key', {json.dumps(key)})")
    page = ctx.new_page()
    page.goto(f"{url}/#/map")
    page.wait_for_function("window.__hexlake && window.__hexlake.heat", timeout=60_000)
    runs = [page.evaluate(DRAW_CELLS, 20_000) for _ in range(reps)]
    ctx.close()
    assert all(r["drawn"] == 20_000 for r in runs), runs
    return {"cells": 20_000, "draw_ms": percentiles([r["ms"] for r in runs], (50, 95))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    users, days, reps = (60, 2, 2) if args.quick else (300, 7, 10)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        hexlake(data, "init", "--json")
        port = free_port()
        proc = start_server(data, port, env={"HEXLAKE_TRANSFORM__SCHEDULER_ENABLED": "false"})
        try:
            url = f"http://127.0.0.1:{port}"
            out = hexlake(data, "demo", "--users", str(users), "--days", str(days), "--no-start-server")
            key = re.search(r"sign in with:\s+(\S+)", out)
            assert key is not None, out[-2000:]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                result = {"users": users, "days": days, "reps": reps,
                          "pages": page_loads(browser, url, key.group(1), reps),
                          "map": map_draw(browser, url, key.group(1), reps)}
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(json.dumps(result["map"]))
    print(write_result("console_quick" if args.quick else "console", result))


if __name__ == "__main__":
    main()
