"""`python -m bench`: the issue #6 benchmark (see --help)."""

from __future__ import annotations

from bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
