"""Run the stream consumers without the server: ``python -m hexlake.stream.worker``.

Exits on SIGTERM/SIGINT after the current micro-batch (graceful), or with ``--until-idle`` once the
log is drained. Used by tests (SIGKILL recovery) and benchmarks.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from hexlake.config import load_settings
from hexlake.runtime import Runtime
from hexlake.stream.runner import ALL, build_consumers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--only", default=",".join(ALL), help="comma list of: " + ", ".join(ALL))
    parser.add_argument("--until-idle", action="store_true")
    args = parser.parse_args(argv)
    runtime = Runtime(load_settings(data_dir=args.data_dir))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    consumers = build_consumers(runtime, args.only.split(","))
    threads = [threading.Thread(target=c.run, args=(stop,), kwargs={"until_idle": args.until_idle})
               for c in consumers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
