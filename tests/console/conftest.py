"""A demo-filled server and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Server, hexlake, init

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
DEBIAN_DEPS = Path(__file__).resolve().parents[2] / "scripts" / "ensure-debian-deps.sh"
# Screenshots of every page: into docs/console with HEXLAKE_CONSOLE_SHOTS=docs/console (to refresh the
# docs), else a temp folder, so a test run leaves the working tree clean.
SHOTS = Path(os.environ.get("HEXLAKE_CONSOLE_SHOTS") or Path(tempfile.gettempdir()) / "hexlake-console-shots")


@dataclass
class Demo:
    url: str
    data_dir: Path
    write_key: str
    read_key: str
    admin_key: str
    server: Server = field(repr=False)


def _ensure_chromium() -> None:
    """The Debian package, installed once under the deps script's lock when missing; else skip/fail."""
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(DEBIAN_DEPS)], check=False, capture_output=True, timeout=900)
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing and {DEBIAN_DEPS.name} could not install it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A server with the demo's data (few users, marts built) and an admin key."""
    data = tmp_path_factory.mktemp("console") / "data"
    keys = init(data)
    with Server(data, HEXLAKE_TRANSFORM__SCHEDULER_ENABLED="false") as srv:
        out = hexlake(data, "demo", "--users", "200", "--days", "2", "--no-start-server", timeout=300).stdout
        # `make demo` ends with the console's URL and a key to sign in with: the tests use that key
        tail = out[out.index("Open the console"):]
        assert f"{srv.url}/" in tail, tail
        admin = re.search(r"sign in with:\s+(\S+)", tail).group(1)  # type: ignore[union-attr]
        yield Demo(srv.url, data, keys["write_key"], keys["read_key"], admin, srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page plus what it did: console errors, uncaught exceptions, requests to other hosts."""

    def __init__(self, page: Any, origin: str):
        self.page, self.origin = page, origin
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.origin + "/") or url.startswith(("data:", "blob:"))):
            self.foreign.append(url)

    def sign_in(self, key: str) -> None:
        self.page.goto(self.origin + "/")
        self.page.fill("#key", key)
        self.page.click("#signin button[type=submit]")
        self.page.wait_for_selector("#nav", state="visible")
        self.wait_ready()

    def open(self, view: str) -> None:
        self.page.evaluate(f"location.hash = '#/{view}'")
        self.wait_ready()

    def wait_ready(self) -> None:
        self.page.wait_for_function("window.__hexlake && window.__hexlake.ready === true", timeout=30_000)


@pytest.fixture
def page_for(browser: Any, demo: Demo) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(width: int = 1200, height: int = 760) -> Watched:
        # bypass_csp: Playwright evaluates its wait predicates as strings; the foreign-request check stays
        ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True, bypass_csp=True)
        contexts.append(ctx)
        return Watched(ctx.new_page(), demo.url)

    yield make
    for ctx in contexts:
        ctx.close()


def pytest_configure(config: pytest.Config) -> None:
    # xdist registers it; declared here too so `-p no:xdist` runs accept the console's group marker
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one xdist worker")
