"""Run one benchmark case in a fresh process and report wall time and peak RSS.

A fresh process per case makes peak memory (ru_maxrss) belong to that case
alone. Each case prints one JSON line on stdout.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

CASES: dict[str, Callable[..., dict]] = {}


def case(fn: Callable[..., dict]) -> Callable[..., dict]:
    CASES[fn.__name__] = fn
    return fn


def run_here(name: str, *args: str) -> None:
    start = time.perf_counter()
    extra = CASES[name](*args) or {}
    wall = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"case": name, "args": args, "wall_s": wall, "peak_gb": peak_gb, **extra}))


def run_isolated(name: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.cases", name, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        why = "killed by signal 9 (out of memory?)" if out.returncode == -9 else f"exit code {out.returncode}"
        log = Path(__file__).resolve().parent / ".data" / f"failed_{name}.log"
        log.parent.mkdir(exist_ok=True)
        log.write_text(out.stderr)
        raise RuntimeError(f"benchmark case {name}{args} failed: {why} (stderr in {log})\n{out.stderr[-3000:]}\n{why}")
    return json.loads(out.stdout.strip().splitlines()[-1])
