"""`python -m indexer.tools.eval`: see indexer/tools/eval/evaluate.py."""

from indexer.tools.eval.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
