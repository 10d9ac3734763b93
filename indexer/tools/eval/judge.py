"""Whether a result answers a query: its document and, where given, the answer phrase, both compared folded."""

from __future__ import annotations

import re
from pathlib import Path

from indexer.models import SearchResult
from indexer.tools.eval.queries import EvalQuery

_SPACE_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold for answer matching: simplified, half-width, lower case, no whitespace."""
    from indexer.textnorm import fold

    return _SPACE_RE.sub("", fold(text))


class Judge:
    """Decides which results are correct, using the index's own document list.

    Resolving targets against the index (title, doc id and source file name)
    keeps the query files independent of how doc ids are derived.
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self.docs: list[tuple[str, str, str]] = []  # (doc_id, normalized title, source stem)
        for info in engine.documents():
            doc = engine.document(info["doc_id"])
            stem = Path(doc.source_path).stem if doc is not None and doc.source_path else ""
            self.docs.append((info["doc_id"], normalize(info.get("title") or ""), stem))
        self._targets: dict[tuple[str, str], frozenset[str]] = {}
        self._answer_cache: dict[tuple[str, str], int] = {}

    def targets(self, q: EvalQuery) -> frozenset[str]:
        key = (q.doc, q.doc_id)
        if key not in self._targets:
            found: set[str] = set()
            if q.doc_id:
                found |= {d for d, _, stem in self.docs if q.doc_id in (d, stem)}
            if q.doc:
                want = normalize(q.doc)
                found |= {d for d, title, stem in self.docs if want in title or want in normalize(stem)}
            self._targets[key] = frozenset(found)
        return self._targets[key]

    def is_relevant(self, q: EvalQuery, result: SearchResult) -> bool:
        if result.doc_id not in self.targets(q):
            return False
        return not q.answer or normalize(q.answer) in normalize(result.text)

    def n_relevant(self, q: EvalQuery) -> int:
        """Chunks of the target documents that contain the answer (all of them without one)."""
        key = (q.doc + "\x00" + q.doc_id, q.answer)
        if key not in self._answer_cache:
            want = normalize(q.answer)
            count = 0
            for doc_id in sorted(self.targets(q)):
                for chunk in self.engine.chunks_of(doc_id):
                    count += 1 if not want or want in normalize(chunk.text) else 0
            self._answer_cache[key] = count
        return self._answer_cache[key]
