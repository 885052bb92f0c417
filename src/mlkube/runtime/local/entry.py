"""First module of a fresh workload interpreter (`isolation="process"`).

    python -m mlkube.runtime.local.entry MODULE FUNCTION [ARG ...]

By the time this runs, the fork server has already applied everything that must precede the
program (process group, parent-death signal, CPU affinity, memory cgroup or rlimit, working
directory, log redirection, environment) and exec'd the interpreter. All that is left is to
run the target with the exit-code rules of `target.py`. Stdlib only, to keep a fresh start
within a few milliseconds of a bare interpreter's.
"""

from __future__ import annotations

import os
import sys

from mlkube.runtime.local.target import run_target


def main(argv: list[str]) -> int:
    """Run `argv = [module, function, *args]`; return the process exit code."""
    if len(argv) < 2:
        print(
            "usage: python -m mlkube.runtime.local.entry MODULE FUNCTION [ARG ...]", file=sys.stderr
        )
        return 2
    # The log is a file, so stdout would be block-buffered; line buffering lets logs stream.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # `-c` put the working directory first on sys.path as "", a warm child gets it as a path.
    if sys.path and sys.path[0] == "":
        sys.path[0] = os.getcwd()
    sys.argv = [argv[0], *argv[2:]]
    return run_target(argv[0], argv[1], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
