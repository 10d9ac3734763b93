"""Speed and memory benchmarks: the runner, peer engines, the FAISS-vs-Milvus comparison, synthetic corpora.

    python -m indexer.tools.bench [--quick]               # runner.py
    python -m indexer.tools.bench.backends [--index DIR]  # backends.py
"""
