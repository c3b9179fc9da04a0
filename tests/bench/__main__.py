"""Run every bench module (or those named on the command line) and print their figures.

python -m tests.bench             # all
python -m tests.bench healthz     # bench_healthz only
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import time

import tests.bench as package

ONE_BENCH_ENV = "BRAIN_BENCH_ONE"


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print((__doc__ or "").strip())
        return 0
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith("bench_")
    )
    wanted = [f"bench_{arg.removeprefix('bench_')}" for arg in argv]
    unknown = [name for name in wanted if name not in names]
    if unknown:
        print(f"unknown bench {', '.join(unknown)}; have {', '.join(names)}", file=sys.stderr)
        return 2
    if len(wanted) == 1 and os.environ.get(ONE_BENCH_ENV):
        return run_one(wanted[0])
    failed = False
    for name in wanted or names:
        # Each bench in its own process: Django and its database are set up once per process,
        # and every bench wants its own fresh database.
        env = {**os.environ, ONE_BENCH_ENV: "1"}
        result = subprocess.run([sys.executable, "-m", "tests.bench", name], env=env, check=False)
        failed = failed or result.returncode != 0
    return 1 if failed else 0


def run_one(name: str) -> int:
    module = importlib.import_module(f"tests.bench.{name}")
    print(f"== {name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
    started = time.monotonic()
    try:
        # Each bench parses its own options; from here it runs with its defaults.
        sys.argv = [f"tests.bench.{name}"]
        figures = module.main() or []  # a bench may print its own figures
        if isinstance(figures, dict):  # printed already; the dict is for callers
            figures = []
    except Exception as error:  # one broken bench must not hide the others' figures
        print(f"   FAILED: {type(error).__name__}: {error}", flush=True)
        return 1
    for figure in figures:
        lines = [figure] if isinstance(figure, str) else figure.lines()
        for line in lines:
            print(f"   {line}")
    print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
