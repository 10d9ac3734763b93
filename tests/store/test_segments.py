"""Segments: an index grown by adds, replaces, removes and merges ranks exactly like a one-segment build of the
same documents; an add writes a small new segment, a remove only a manifest; merges follow the tiered policy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from indexer.config import Settings
from indexer.filters import Filters
from indexer.pipeline import document_content, load_documents
from indexer.retrieval import SearchEngine
from indexer.store import FaissStore, IndexContent, MergePolicy, read_manifest
from tests.support.corpus import CORPUS_DIR, SEEDS_DIR
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings

EVAL_QUERIES = Path(__file__).resolve().parents[2] / "data" / "eval" / "policy_queries.jsonl"
REPORTS = CORPUS_DIR / "gov-work-reports"
SMALL_CORPUS = [SEEDS_DIR, *(REPORTS / f"{y}年中华人民共和国国务院政府工作报告.txt" for y in (2019, 2023, 2024))]
SMALL_CORPUS += sorted(REPORTS.glob("第十四届*决议.txt"))


class Fake384(FakeEmbedder):
    """The fake embedder at the real model's width, so byte figures match a real index."""

    dim = 384


def corpus_content(paths: list[Path], embedder: FakeEmbedder) -> IndexContent:
    settings = test_settings()
    docs, _ = load_documents(paths, settings)
    return document_content(docs, settings, embedder, False)


@pytest.fixture(scope="module")
def small() -> IndexContent:
    return corpus_content(SMALL_CORPUS, FakeEmbedder())


def eval_queries() -> list[str]:
    lines = EVAL_QUERIES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["query"] for line in lines if line.strip()]


def settings_for(index_dir: Path) -> Settings:
    return test_settings(index_dir=index_dir)


def top10(index_dir: Path, queries: list[str], filters: Filters | None = None) -> dict:
    engine = SearchEngine.open(settings_for(index_dir), embedder=FakeEmbedder())
    return {
        (q, mode): [(r.chunk_id, r.score) for r in engine.search(q, k=10, mode=mode, filters=filters).results]
        for q in queries
        for mode in ("dense", "lexical", "hybrid")
    }


def doc_ids(content: IndexContent) -> list[str]:
    return [d.doc_id for d in content.documents]


def grow(store: FaissStore, content: IndexContent, manifest: dict) -> IndexContent:
    """Add `content` two documents at a time, remove the first, replace the second; return what a fresh build
    of the result holds, in the same order."""
    ids = doc_ids(content)
    with store.lock():
        for i in range(0, len(ids), 2):
            store.add(content.rows_where(lambda d, batch=set(ids[i : i + 2]): d in batch), manifest)
        store.delete((ids[0], "no-such-document"))
        second = content.rows_where(lambda d: d == ids[1])
        store.add(second, manifest, replace=(ids[1],))
    rest = content.rows_where(lambda d: d not in {ids[0], ids[1]})
    return IndexContent.concat([rest, second], content.embeddings.shape[1])


def test_grown_index_ranks_exactly_like_a_one_segment_build(tmp_path, small):
    manifest = {"model": FakeEmbedder.name, "dim": FakeEmbedder.dim, "chunker": "test"}
    grown = FaissStore(tmp_path / "grown", policy=MergePolicy(factor=3, floor_rows=40, max_deleted=1.0))
    expected = grow(grown, small, manifest)
    segments = read_manifest(tmp_path / "grown")["segments"]
    assert len(segments) > 2 and any(s["deleted"] for s in segments)  # several segments, deletions among them
    assert any(s["rows"] > 40 for s in segments)  # and the policy merged some
    one = FaissStore(tmp_path / "one")
    with one.lock():
        one.write(expected, manifest)
    queries = eval_queries()[::4]  # every kind of query, a quarter of them: 3 modes x 2 indexes x 3 checks each
    assert top10(tmp_path / "grown", queries) == top10(tmp_path / "one", queries)
    allowed = Filters(year_from=2020, doc_ids=tuple(doc_ids(expected)[::2]))
    assert top10(tmp_path / "grown", queries[:20], allowed) == top10(tmp_path / "one", queries[:20], allowed)
    with grown.lock():
        grown.optimize()
    assert len(read_manifest(tmp_path / "grown")["segments"]) == 1
    assert top10(tmp_path / "grown", queries) == top10(tmp_path / "one", queries)


def files(index_dir: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root, _, names in os.walk(index_dir):
        for n in names:
            st = (Path(root) / n).stat()
            out[str(Path(root) / n)] = (st.st_size, st.st_mtime_ns)
    return out


def written_bytes(before: dict, after: dict) -> int:
    return sum(size for path, (size, mtime) in after.items() if before.get(path) != (size, mtime))


def measure_add_and_remove(index_dir: Path, content: IndexContent, manifest: dict) -> tuple[int, int, int, set]:
    """(index bytes, bytes an add of the last document writes, bytes removing it writes, files the remove
    changed)."""
    last = doc_ids(content)[-1]
    store = FaissStore(index_dir)
    with store.lock():
        store.write(content.rows_where(lambda d: d != last), manifest)
        before = files(index_dir)
        store.add(content.rows_where(lambda d: d == last), manifest)
        after_add = files(index_dir)
        store.delete((last,))
        after_remove = files(index_dir)
    total = sum(size for size, _ in before.values())
    changed = {Path(p).name for p, v in after_remove.items() if after_add.get(p) != v}
    return total, written_bytes(before, after_add), written_bytes(after_add, after_remove), changed


def test_add_writes_a_small_segment_and_remove_only_a_manifest(tmp_path, small):
    manifest = {"model": FakeEmbedder.name, "dim": FakeEmbedder.dim, "chunker": "test"}
    total, add_bytes, remove_bytes, changed = measure_add_and_remove(tmp_path, small, manifest)
    assert add_bytes < 0.15 * total  # a 9-document toy index; the 88-document figure is below (slow)
    assert changed <= {"CURRENT"} | {p.name for p in (tmp_path / "manifests").iterdir()}
    assert remove_bytes < 20_000


@pytest.mark.slow
def test_adding_one_small_document_to_the_eval_corpus_writes_under_5_percent(tmp_path):
    """The 88-document eval corpus (4,968 chunks), vectors as wide as the real model's."""
    paths = [SEEDS_DIR, REPORTS, CORPUS_DIR / "cpc-congress-reports"]
    content = corpus_content(paths, Fake384())
    small_doc = "第十四届全国人民代表大会第二次会议关于政府工作报告的决议"
    order = [d for d in doc_ids(content) if d != small_doc] + [small_doc]
    content = IndexContent.concat([content.rows_where(lambda d, x=x: d == x) for x in order], Fake384.dim)
    manifest = {"model": Fake384.name, "dim": Fake384.dim, "chunker": "test"}
    total, add_bytes, remove_bytes, _ = measure_add_and_remove(tmp_path, content, manifest)
    print(f"\nindex {total / 1e6:.1f} MB; add one document: {add_bytes / 1e3:.1f} kB ({add_bytes / total:.2%}); "
          f"remove it: {remove_bytes / 1e3:.1f} kB")
    assert add_bytes <= 0.05 * total


def test_a_reader_keeps_its_snapshot_while_the_index_changes(tmp_path, small):
    manifest = {"model": FakeEmbedder.name, "dim": FakeEmbedder.dim, "chunker": "test"}
    store = FaissStore(tmp_path, policy=MergePolicy(factor=2, floor_rows=10))
    ids = doc_ids(small)
    with store.lock():
        store.write(small.rows_where(lambda d: d != ids[-1]), manifest)
    reader = store.open_current()
    reader.preload()
    before = reader.chunks_at(list(range(reader.n_chunks)))
    with store.lock():
        store.add(small.rows_where(lambda d: d == ids[-1]), manifest)
        store.delete((ids[0],))
        store.optimize()
    assert reader.chunks_at(list(range(reader.n_chunks))) == before
    assert store.open_current().n_chunks == len(small.chunks) - len(small.rows_where(lambda d: d == ids[0]).chunks)


def test_merge_policy_joins_neighbours_of_one_tier():
    policy = MergePolicy(factor=3, floor_rows=100)
    seg = [{"rows": n, "deleted_rows": 0} for n in (5000, 50, 60, 70)]
    assert policy.pick(seg) == (1, 4)
    assert policy.pick(seg[:3]) is None  # two small ones: not yet
    assert policy.pick([{"rows": 1000, "deleted_rows": 600}, {"rows": 5, "deleted_rows": 0}]) == (0, 1)
    assert [policy.tier(n) for n in (1, 100, 150, 1000, 10000)] == [0, 0, 1, 3, 5]
