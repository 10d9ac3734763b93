"""Offline tools: evaluation, benchmarks, model building, term mining.

Never imported by the runtime (`indexer` outside this package, `search_app`); they use only the
runtime's public API. See docs/architecture.md.
"""
