"""`make bench`: every benchmark, each in its own process (they set up Django and peers their
own way). Prints their figures; asserts nothing. Pass names to run some: `python -m
tests.bench readers state`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHES = ("state", "readers", "connectors", "audit")


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHES)
    unknown = sorted(set(chosen) - set(BENCHES))
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    failed = []
    for name in chosen:
        print(f"== bench_{name}", flush=True)
        done = subprocess.run([sys.executable, "-m", f"tests.bench.bench_{name}"], cwd=ROOT)
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
