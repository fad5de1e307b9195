"""Run ``hexlake`` in this process: the real ``main()`` (argument parsing, error handling, exit codes)
without a subprocess start per command."""

from __future__ import annotations

import contextlib
import io
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hexlake.cli import main


@dataclass
class Result:
    code: int
    out: Any
    err: str


def run_cli(data: Path | None, *args: str) -> Result:
    """``hexlake [--data-dir DATA] ARGS``; exit code, stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    argv, handlers = sys.argv, {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    sys.argv = ["hexlake", *(["--data-dir", str(data)] if data is not None else []), *args]
    code: Any = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
        for sig, handler in handlers.items():  # `worker` installs its own
            signal.signal(sig, handler)
    return Result(int(code or 0), stdout.getvalue(), stderr.getvalue())
