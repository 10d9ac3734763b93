"""All tunable settings in one place, each overridable by an environment variable.

Only entry points (the CLIs' main(), `create_app`, the tools' main()) build a `Settings` with
`Settings.from_env(**overrides)` and pass it down; library code never reads the environment, so a
value is defined once and a deployment can change it without touching code
(`POLICY_SEARCH_<FIELD>` in upper case). Tests use `tests/support/settings.test_settings()`,
which ignores the outer environment.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
ENV_PREFIX = "POLICY_SEARCH_"


@dataclass(frozen=True)
class Settings:
    # Where things live.
    index_dir: Path = DATA_DIR / "index"
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    models_dir: Path = DATA_DIR / "models"
    uploads_dir: Path | None = None  # documents uploaded through the admin API; None: <index_dir>/uploads
    terms_file: Path = DATA_DIR / "dict" / "policy_terms.txt"  # jieba user dictionary (python -m indexer.tools.terms)

    # Embedding model: a sentence-transformers id or a local folder. Prompts default
    # to the ones saved with the model (e5: "query: " / "passage: ").
    model: str = str(DATA_DIR / "models" / "multilingual-e5-small")
    # A LoRA adapter folder (`make adapt`, indexer/tools/adapt.py) merged into the model at load time; None
    # (POLICY_SEARCH_ADAPTER=) = the base model. Indexes record model + adapter (name, sha256); a mismatch is an
    # error. The default, trained on this repository's policy corpus, won on the dev and the test half (README).
    adapter: str | None = str(DATA_DIR / "adapters" / "policy")
    query_prompt: str | None = None
    passage_prompt: str | None = None
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto | bf16 | fp32 ; auto = bf16 where the CPU has native bf16
    batch_size: int = 16
    query_cache_size: int = 1024
    # Query-sized calls on CPU run the model's transformer on ONNX Runtime (indexer/query_body.py; ~1/4 less CPU
    # a query): auto = when `make model` exported it and it agrees with the loaded model; torch | onnx force one.
    query_runtime: str = "auto"
    # `python -m search_app` and the latency tool restart themselves once with glibc's malloc on transparent
    # huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1): index arrays, FAISS vectors and activations then cost
    # fewer TLB misses (measured: ~10-20% less CPU per Chinese query on this VM; README "Speed").
    malloc_huge_pages: bool = True

    # Chunking, in characters (Chinese runs ~1.3 chars per XLM-R token, so 480
    # chars stays well under the model's 512-token limit with title and path).
    chunk_target_chars: int = 320
    chunk_max_chars: int = 480
    chunk_min_chars: int = 40

    # Loading: a file over this size is reported and skipped (a .docx may unpack to 10 times as much).
    max_file_mb: int = 20
    # OCR of scanned PDF pages and images (Debian's tesseract-ocr; `make ocr`). Pages are rendered at
    # ocr_dpi and read ocr_workers at a time (0 = one per core); without Tesseract they are skipped.
    ocr: bool = True
    ocr_langs: str = "chi_sim+chi_tra+eng"
    ocr_dpi: int = 300
    ocr_workers: int = 0

    # Retrieval.
    default_mode: str = "hybrid"  # dense | lexical | hybrid
    default_k: int = 10
    max_k: int = 100
    candidate_pool: int = 100  # how deep each ranking goes before fusion
    facet_depth: int = 1000  # plain questions: passages above the weak-match line are counted this deep
    highlight_min_idf: float = 1.5  # words more common than this (BM25 idf) are not marked in passages
    weak_match_threshold: float = 0.87  # query-passage cosine; calibrated by indexer.tools.weakline (README)
    # FAISS vector index, chosen per index version by its size (recorded in the manifest): exact inner
    # product up to the threshold, HNSW above it. Measured on 2 cores (`make bench`, indexer/tools/bench/synth.py data):
    # exact search costs ~6 ms a query at 100k chunks and ~60 ms at 1M; at 1M, HNSW M=48/efC=200 reaches
    # recall@10 0.97 against exact search at efSearch 1024 (~3 ms), where M=32/efC=100 needed efSearch
    # 3072 (~8 ms) for 0.95. A filter that leaves at most the threshold's rows is searched exactly.
    faiss_hnsw_threshold: int = 200_000
    faiss_hnsw_m: int = 48
    faiss_hnsw_ef_construction: int = 200
    faiss_hnsw_ef_search: int = 1024
    # Segments (an index grown by adds and merges) are searched one after the other, so their costs add up:
    # ten exact 100k segments cost an exact scan of 1M rows. A segment beside others therefore goes HNSW above
    # faiss_segment_hnsw_threshold rows (adds of a few documents stay exact and cheap to write; the merge that
    # makes a larger segment builds its graph), with faiss_segment_ef_construction up to faiss_hnsw_threshold
    # rows: 200, as the one graph's (at 1M chunks ten graphs built at 100 found 0.93 of the exact top 10 against
    # 0.97 for one graph, and searched no faster; at 200 they find 0.97). A search gives each HNSW segment a share
    # of faiss_hnsw_ef_search by its rows, at least faiss_segment_ef_search_min (README "Segments"). 16,000 is
    # merge_floor_rows x merge_factor: every merge into the third size tier builds a graph, so the exact segments
    # beside others are at most 7 of <= 2,000 rows and 7 of <= 16,000 (a graph walk at efSearch 64 beats an exact
    # scan from a few thousand rows on).
    faiss_segment_hnsw_threshold: int = 16_000
    faiss_segment_ef_construction: int = 200
    faiss_segment_ef_search_min: int = 64
    # Graph segments searched at once by one query (a process-wide pool shared by concurrent queries, so they
    # never run more searches than this at a time); 1 searches them one after the other.
    faiss_search_threads: int = min(2, os.cpu_count() or 1)
    fusion: str = "sum"  # sum (weighted sum of max-normalised scores) | rrf; chosen by `make eval`
    rrf_k: int = 60
    lexical_weight: float = 1.0  # weight of the BM25 ranking in fusion (dense is 1.0)
    lexical_digits_factor: float = 1.3  # ... times this for a Chinese question holding a number or year
    lexical_weight_no_cjk: float = 0.0  # for queries without Chinese characters (English questions)
    # Answer-quality levers (issue 10), each measured on the dev half of the policy set (README "Quality").
    lexicon_file: Path = DATA_DIR / "dict" / "en_zh.tsv"  # English -> Chinese terms (make lexicon); absent: unused
    lexical_weight_en: float = 0.3  # English questions whose words the lexicon turns into Chinese terms
    # Colloquial word -> official corpus terms (python -m indexer.tools.colloquial); absent: unused. The terms
    # join a Chinese question's BM25 query at colloquial_weight (its own words weigh 1; 0 = off).
    colloquial_file: Path = DATA_DIR / "dict" / "colloquial.tsv"
    colloquial_weight: float = 0.6
    year_boost_next: float = 0.8  # fused-score bonus for documents of the year after a year the question names
    year_boost_same: float = 0.8  # ... and for documents of that year itself
    prf_docs: int = 0  # pseudo-relevance feedback: top dense passages whose terms join the BM25 query (0: off)
    prf_terms: int = 0  # how many of their terms (highest idf-weighted frequency first)
    prf_weight: float = 0.0  # the weight of each such term in the BM25 query (the query's own terms weigh 1)
    # Sentence vectors (indexer/sentence_vectors.py), computed at index time: span = pooled from the passage's own
    # forward pass (no extra model time) | passage | query = each sentence embedded again with that prompt |
    # off. Used for the best-sentence mark and, weighted by sentence_weight, as a third signal in fusion.
    sentence_vectors: str = "span"
    sentence_weight: float = 0.0
    sentence_by_meaning_top: int = 3  # English queries: top results whose best sentence is found by embedding
    max_query_chars: int = 500
    max_batch_queries: int = 1000
    max_page_size: int = 50  # results per page on the search page (page * size is capped at max_k)
    keep_versions: int = 3  # index versions kept on disk (old readers may still use them)
    # Segments (FAISS backend): every add writes a segment; after a write, `merge_factor` neighbouring segments
    # of one size tier (rows / merge_floor_rows in powers of merge_factor) are merged into one, and a segment
    # with more than merge_max_deleted of its rows removed is rewritten. `python -m indexer optimize` merges all.
    merge_factor: int = 8
    merge_floor_rows: int = 2000
    merge_max_deleted: float = 0.5
    merge_on_write: bool = True

    # Store. No milvus_uri: FAISS + SQLite in index_dir. A Milvus URI moves vectors and text to Milvus
    # (indexer/store/milvus.py): a Milvus Lite file such as data/milvus.db (one process at a time) or a
    # server/cluster such as http://host:19530.
    milvus_uri: str | None = None
    milvus_collection: str = "policy_search"  # the alias readers follow; versions are <name>_vNNNNNN_<time>
    milvus_token: str | None = None  # "user:password" or an API key, for a server with authentication
    milvus_index: str = "FLAT"  # FLAT (exact, like FAISS) | HNSW | IVF_FLAT | AUTOINDEX
    milvus_consistency: str = "Bounded"  # readers' level; a version never changes once the alias points at it
    # BM25 on Milvus: "auto" = sparse vectors in Milvus where the server has them (Lite 3.x, servers >= 2.4), so
    # serving processes hold no corpus tokens; "process" = BM25 rebuilt in each serving process from the tokens.
    milvus_lexical: str = "auto"

    # Web app.
    host: str = "127.0.0.1"
    port: int = 5000
    threads: int = 8
    admin_token: str | None = None
    max_upload_mb: int = 20  # per admin upload request

    # Collections and who may see them (search_app.identity, search_app.accounts, README "Collections").
    # Comma-separated collection names anonymous readers may read; seeds the accounts store on first use,
    # after which the admin page decides. The default collection holds seeds/, so `make run` needs no sign-in.
    public_collections: str = "公开文件"
    accounts_db: Path | None = None  # users, roles, collections, tokens, sessions; default <index_dir>/accounts.sqlite
    session_hours: int = 12  # a sign-in lasts this long
    # argon2id cost of a password hash (RFC 9106's second recommended option: 3 passes over 64 MiB).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    cookie_secure: str = "auto"  # auto (Secure when the request came over TLS) | always | never
    signin_max_failures: int = 5  # failed sign-ins per user name (and per address) within the window ...
    signin_window_s: int = 900  # ... before further attempts are refused (429) until the window passes
    trusted_proxies: str = ""  # comma-separated addresses/networks whose identity header is believed
    proxy_user_header: str = "X-Remote-User"  # the header a trusted reverse proxy sets to the signed-in user
    audit_dir: Path | None = None  # append-only audit log (JSON lines); default <index_dir>/audit
    audit_max_bytes: int = 5_000_000  # rotate the audit log past this size
    audit_keep: int = 20  # rotated audit files kept

    # Server limits (README "Server limits"): what one client can cost everyone else.
    connection_limit: int = 1000  # open connections; more wait in the listen backlog (waitress default: 100)
    channel_timeout_s: int = 30  # a connection silent this long (idle keep-alive, stalled client) is closed
    header_timeout_s: int = 10  # a request's headers must be complete this long after its first byte
    max_header_kb: int = 64  # request line + headers
    request_budget_s: float = 10.0  # an interactive request's time budget (504 with the reason past it)
    batch_budget_s: float = 120.0  # a batch request's time budget
    batch_slots: int = 1  # batch requests that run at once
    batch_queue_s: float = 2.0  # how long a batch request waits for a slot before a 503
    batch_max_results: int = 5000  # queries x k of one batch request
    batch_max_response_mb: int = 16  # the JSON answer of one batch request
    search_slots: int = 1  # searches that run at once; the rest queue, interactive before batch
    batch_slice: int = 4  # queries a batch embeds and searches before giving way to interactive requests
    batch_yield_max_s: float = 1.0  # longest a batch step waits for interactive requests to finish
    sentence_max: int = 32  # English queries: sentences embedded per query to pick the best one, at most
    sentence_cache_size: int = 8192  # sentence vectors kept (English queries repeat passages)
    version_retry_s: float = 30.0  # a newest index version that failed to open is retried after this

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Defaults, then `POLICY_SEARCH_*` env vars, then explicit overrides (CLI flags)."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f.name, f.type, raw)
        # HOST / PORT are the conventional names for a server; honour them too.
        if "HOST" in env and "host" not in values:
            values["host"] = env["HOST"]
        if "PORT" in env and "port" not in values:
            values["port"] = _coerce("port", "int", env["PORT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        paths = ("index_dir", "seeds_dir", "models_dir", "uploads_dir", "terms_file", "accounts_db", "audit_dir")
        for key in (*paths, "lexicon_file", "colloquial_file"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        return cls(**values)

    def __post_init__(self) -> None:
        if self.uploads_dir is None:  # uploads live with the index they feed, wherever --index points
            object.__setattr__(self, "uploads_dir", Path(self.index_dir) / "uploads")


def _coerce(name: str, type_name: object, raw: str):
    t = str(type_name)
    try:
        if t.startswith("int"):
            return int(raw)
        if t.startswith("float"):
            return float(raw)
        if t.startswith("bool"):
            return raw.strip().lower() in ("1", "true", "yes", "on")
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {t}") from exc
    return raw or None if "None" in t else raw
