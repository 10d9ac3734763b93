"""What one bench run measures: sizes, query counts, peers, where results go (BenchConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from indexer.config import DATA_DIR, Settings

BENCH_DIR = DATA_DIR / "bench"
MODES = ("dense", "lexical", "hybrid")
FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)


@dataclass
class BenchConfig:
    quick: bool = False
    sizes: tuple[int, ...] = FULL_SIZES
    out: Path = BENCH_DIR / "results.json"
    work: Path = BENCH_DIR / "work"
    sources: list[Path] | None = None  # default: the policy eval corpus (seeds + data/corpus)
    quality_queries: Path | None = None  # default: data/eval/policy_queries.jsonl
    query_files: list[Path] | None = None  # real queries for latency (default: the policy set)
    ood_query_files: list[Path] | None = None  # out-of-domain questions (default: CMRC, about Wikipedia)
    dtypes: tuple[str, ...] = ("fp32", "bf16")
    index_chunks: int | None = None  # indexing subset (None: the whole corpus)
    queries_per_mode: int = 282  # timed searches per mode and size, cycling through the query set (3 x 94)
    ood_queries: int = 188  # out-of-domain questions per size
    http: str = "process"  # process (real start-up) | thread (in-process server, tests) | off
    http_clients: int = 4
    http_requests: int = 75  # per client and mode
    peers: tuple[str, ...] = ("naive", "txtai", "txtai+jieba")
    peer_max_size: int = 100_000
    peer_queries: int = 188
    txtai_own_indexing: bool = True
    keep_indexes: bool = False
    hnsw_ef_sweep: tuple[int, ...] = (256, 512, 1024, 2048)
    real_index: Path | None = None  # an existing index of the sources to reuse (quick mode looks for one)
    settings: Settings = field(default_factory=Settings)  # main() passes Settings.from_env()

    @classmethod
    def quick_defaults(cls, **kw) -> BenchConfig:
        base = dict(
            quick=True,
            sizes=QUICK_SIZES,
            out=BENCH_DIR / "results-quick.json",  # a quick run never overwrites the full figures
            dtypes=("fp32", "bf16"),
            index_chunks=120,
            queries_per_mode=60,
            ood_queries=20,
            http_requests=10,
            peer_max_size=10_000,
            peer_queries=60,
            hnsw_ef_sweep=(512, 1024),
        )
        base.update(kw)
        return cls(**base)
