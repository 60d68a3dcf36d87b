"""Run the benchmark suite and rewrite benchmarks/RESULTS.md.

Usage: ``python -m benchmarks [--quick]``. ``--quick`` uses 10x smaller
worlds (a smoke run; RESULTS.md is then written to RESULTS.quick.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

from benchmarks._measure import run_isolated

HERE = Path(__file__).resolve().parent


def _machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    pkgs = ", ".join(f"{p} {version(p)}" for p in ["pandas", "numpy", "pyarrow", "duckdb", "ibis-framework"])
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}; {pkgs}"
    )


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip() or "uncommitted"
    except OSError:
        return "unknown"


def generator(scale: int) -> list[str]:
    n_mem, n_disk = 100_000 // scale, 1_000_000 // scale
    mem = run_isolated("generate_in_memory", n_mem)
    disk = run_isolated("generate_to_parquet", n_disk)
    floor = run_isolated("parquet_write_floor", disk["rows"])
    return [
        "## Synthetic world generator",
        "",
        "24 months, all ten tables. `make_synthetic` generates and validates in memory;",
        "`write_synthetic` generates 50,000-customer chunks straight to Parquet (bounded memory).",
        "Reference, same run: writing the same number of rows of random (customer, time stamp,",
        "value) to zstd Parquet in 5M-row parts.",
        "",
        "| case | customers | rows | wall (s) | customers/s | peak RSS (GiB) | vs reference |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| make_synthetic (in memory, incl. validation) | {n_mem:,} | {mem['rows']:,} | {mem['wall_s']:.1f} | {n_mem / mem['wall_s']:,.0f} | {mem['peak_gb']:.2f} | |",
        f"| write_synthetic (chunked Parquet) | {n_disk:,} | {disk['rows']:,} | {disk['wall_s']:.1f} | {n_disk / disk['wall_s']:,.0f} | {disk['peak_gb']:.2f} | {disk['wall_s'] / floor['wall_s']:.1f}x |",
        f"| reference: random rows to Parquet | | {floor['rows']:,} | {floor['wall_s']:.1f} | | {floor['peak_gb']:.2f} | 1.0x |",
        "",
        f"Parquet on disk for {n_disk:,} customers: {disk['parquet_gb']:.2f} GiB.",
        "",
    ]


SUITES = {"generator": generator}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x smaller worlds; writes RESULTS.quick.md")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these suites")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + "".join(f" --only {s}" for s in args.only or [])
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {dt.date.today()} at commit {_commit()}.",
        "",
        f"Machine: {_machine()}.",
        "",
        "Wall time and peak resident memory are measured per case in a fresh process.",
        "The machine is shared: compare the ratios within one run, not absolute",
        "seconds across runs.",
        "",
    ]
    for name in args.only or SUITES:
        lines += SUITES[name](scale)
    target = HERE / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(target)
    print(target.read_text())


if __name__ == "__main__":
    main()
