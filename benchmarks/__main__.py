"""`python -m benchmarks NAME [options]`: run one benchmark (from the repository root); `NAME -h` lists its options."""

from __future__ import annotations

import importlib
import sys

# The runnable benchmarks, each a module here with `main(argv) -> int`; the other modules are what they share.
BENCHMARKS = ("accuracy", "camera_trajectory", "fit", "lerobot_compat", "retarget", "review", "scaling", "throughput")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m benchmarks {{{','.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    benchmark = importlib.import_module(f"benchmarks.{argv[0]}")
    return benchmark.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
