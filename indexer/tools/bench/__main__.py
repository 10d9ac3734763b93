"""`python -m indexer.tools.bench`: see indexer/tools/bench/runner.py."""

from indexer.tools.bench.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
