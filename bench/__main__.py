"""Run every benchmark in bench/ one after another: `python -m bench [--quick] [names...]`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    args = sys.argv[1:]
    flags = [a for a in args if a.startswith("-")]
    names = [a for a in args if not a.startswith("-")] or sorted(
        p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_")
    )
    failed = []
    for name in names:
        print(f"== bench.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}", *flags]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
