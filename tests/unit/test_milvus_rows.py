"""A Milvus build inserts its chunk rows a page at a time (a 1M-chunk build never holds every row as a dict): the
pages put together are the rows of the whole content, numbered from the write's first row; a chunk that would not
fit a VARCHAR is refused before anything is built."""

from __future__ import annotations

import pytest

from indexer.errors import SearchEngineError
from indexer.models import Chunk
from indexer.store.milvus_client import MAX_VARCHAR
from indexer.store.milvus_rows import check_chunks, chunk_rows
from tests.support.helpers import make_content


def test_pages_of_rows_are_the_whole_rows():
    content = make_content()
    whole = chunk_rows(content, row0=7, doc0=3, gen=2)
    pages = [r for lo in range(0, len(content.chunks), 2) for r in chunk_rows(content, 7, 3, 2, lo, lo + 2)]
    assert pages == whole and len(whole) == len(content.chunks) == 5
    assert [r["row"] for r in whole] == [7, 8, 9, 10, 11]
    assert [r["chunk_id"] for r in whole] == [c.chunk_id for c in content.chunks]
    docs = [d.doc_id for d in content.documents]
    assert [r["doc_index"] for r in whole] == [3 + docs.index(c.doc_id) for c in content.chunks]
    assert {r["gen"] for r in whole} == {2}


def test_an_oversized_chunk_is_refused_before_any_row_is_built():
    content = make_content()
    check_chunks(content)  # the test corpus fits
    long = "长" * (MAX_VARCHAR // 3 + 1)  # over 65,535 bytes in UTF-8
    c = content.chunks[2]
    content.chunks[2] = Chunk(c.chunk_id, c.doc_id, c.title, c.heading_path, long, 0, len(long), ordinal=c.ordinal)
    with pytest.raises(SearchEngineError, match=f"{c.chunk_id} text is over Milvus"):
        check_chunks(content)
    content.chunks[2] = c
    content.tokens[4] = ["词" * 30000]
    with pytest.raises(SearchEngineError, match="tokens is over Milvus"):
        check_chunks(content)
