"""Retrieval quality: the query sets, the runner (`evaluate.py`) and the ranking metrics (`metrics.py`).

    python -m indexer.tools.eval [--build] [--suite policy|cmrc] [--modes dense,hybrid] [--json OUT]
"""
