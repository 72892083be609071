"""``python -m benchmarks NAME [NAME ...] [--size N] [--repeat R] [--schedulers ...]``."""
from __future__ import annotations

import argparse
import sys

from benchmarks.harness import RESULTS_DIR, format_table, run_benchmark, save_result
from benchmarks.libraries import LIBRARY_NAMES
from benchmarks.registry import all_benchmarks


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--size", type=int, help="problem size (default: per benchmark)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per library (default 5)")
    parser.add_argument("--schedulers", default=None,
                        help="comma-separated schedulers or cluster configurations "
                             "(default: the benchmark's own, else sync,threads)")
    parser.add_argument("--only", choices=LIBRARY_NAMES,
                        help="run one library alone (no Dask needed with --only pardata)")
    parser.add_argument("--no-save", action="store_true", help=f"do not write JSON to {RESULTS_DIR}")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    benches = all_benchmarks()
    if args.list:
        for name, bench in benches.items():
            print(f"{name:14} {bench.description}")
        return 0
    if not args.names:
        print("name a benchmark to run (see --list)", file=sys.stderr)
        return 2
    unknown = [n for n in args.names if n not in benches]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    libraries = (args.only,) if args.only else LIBRARY_NAMES
    schedulers = [s for s in args.schedulers.split(",") if s] if args.schedulers else None
    for name in args.names:
        result = run_benchmark(benches[name], args.size, args.repeat, schedulers, libraries)
        print(format_table(result))
        if not args.no_save:
            print(f"saved {save_result(result)}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
