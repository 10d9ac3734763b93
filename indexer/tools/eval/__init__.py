"""Retrieval quality: the query sets (`queries.py`), their indexes (`suites.py`), the runner (`evaluate.py`), the
judge of a result (`judge.py`), the reports (`report.py`) and the ranking metrics (`metrics.py`).

    python -m indexer.tools.eval [--build] [--suite policy|cmrc] [--modes dense,hybrid] [--json OUT]
"""
