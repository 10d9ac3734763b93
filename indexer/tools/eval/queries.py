"""The query sets: where they live, their format (EvalQuery, JSON Lines; see evaluate.py), the fixed dev/test
split, and the CMRC 2018 trial converted to one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from indexer.config import DATA_DIR

EVAL_DIR = DATA_DIR / "eval"
INDEX_EVAL_DIR = DATA_DIR / "index-eval"
CORPUS_DIR = DATA_DIR / "corpus"
POLICY_QUERIES = EVAL_DIR / "policy_queries.jsonl"
CMRC_JSON = EVAL_DIR / "cmrc2018_trial.json"
CMRC_QUERIES = EVAL_DIR / "cmrc2018_queries.jsonl"
CMRC_DOCS_DIR = DATA_DIR / "tmp" / "cmrc-docs"

KINDS = ("paraphrase", "keyword", "fact", "english", "traditional", "cmrc")


@dataclass(frozen=True)
class EvalQuery:
    """One question and how to recognise a correct passage for it."""

    id: str
    query: str
    kind: str
    doc: str = ""  # substring of the target document's title (or source file name)
    answer: str = ""  # verbatim phrase the correct passage contains; "" = any chunk of the doc
    doc_id: str = ""  # exact doc id or source file stem, instead of / besides `doc`
    split: str = ""  # "dev" (tune on it) or "test" (report only); see split_of
    batch: str = ""  # "v1" = the first 94 policy questions, "v2" = those added with issue 10
    numfmt: bool = False  # a fact whose numbers/dates the question writes differently from the text

    def expected(self) -> str:
        target = self.doc_id or self.doc
        return f"{target} ∋ {self.answer}" if self.answer else target


SPLITS = ("dev", "test")


def split_of(query_id: str) -> str:
    """The fixed dev/test rule: first byte of sha1(id) even -> dev, odd -> test.

    A hash of the id (not the file order) keeps every question's half stable when
    questions are added or reordered, and nobody chooses it by looking at results.
    """
    return SPLITS[hashlib.sha1(query_id.encode("utf-8")).digest()[0] % 2]


def load_queries(path: Path) -> list[EvalQuery]:
    """Read and validate a JSONL query set; errors name the line so the file is easy to fix."""
    queries: list[EvalQuery] = []
    seen: set[str] = set()
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from exc
        missing = [key for key in ("id", "query", "kind") if not obj.get(key)]
        if missing:
            raise ValueError(f"{path}:{lineno}: missing {', '.join(missing)}")
        if not (obj.get("doc") or obj.get("doc_id")):
            raise ValueError(f"{path}:{lineno}: needs 'doc' or 'doc_id'")
        if obj["id"] in seen:
            raise ValueError(f"{path}:{lineno}: duplicate id {obj['id']!r}")
        seen.add(obj["id"])
        split = str(obj.get("split") or "")
        if split and split != split_of(str(obj["id"])):
            rule = split_of(str(obj["id"]))
            raise ValueError(f"{path}:{lineno}: split {split!r} breaks the rule (sha1 of the id gives {rule!r})")
        queries.append(
            EvalQuery(
                id=str(obj["id"]),
                query=str(obj["query"]),
                kind=str(obj["kind"]),
                doc=str(obj.get("doc", "")),
                answer=str(obj.get("answer", "")),
                doc_id=str(obj.get("doc_id", "")),
                split=split,
                batch=str(obj.get("batch") or ""),
                numfmt=bool(obj.get("numfmt", False)),
            )
        )
    return queries


def write_queries(queries: Sequence[EvalQuery], path: Path) -> None:
    """Write a query set as JSONL, leaving out empty fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for q in queries:
            obj = {key: value for key, value in asdict(q).items() if value}
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def convert_cmrc(
    json_path: Path = CMRC_JSON, docs_dir: Path = CMRC_DOCS_DIR, queries_out: Path | None = CMRC_QUERIES
) -> list[EvalQuery]:
    """CMRC 2018 (SQuAD format) as a retrieval task: one .txt per paragraph, one query per question.

    Each paragraph's context goes to `docs_dir/<paragraph id>.txt` (old .txt files
    there are removed so the folder mirrors the JSON); each question's gold
    document is its own paragraph (`doc_id` = paragraph id, no answer phrase).
    Empty questions (two in the trial set) are skipped.
    """
    data = json.loads(Path(json_path).read_text(encoding="utf-8"))["data"]
    docs_dir.mkdir(parents=True, exist_ok=True)
    for old in docs_dir.glob("*.txt"):
        old.unlink()
    queries: list[EvalQuery] = []
    for article in data:
        for para in article["paragraphs"]:
            pid = para["id"]
            (docs_dir / f"{pid}.txt").write_text(para["context"].strip() + "\n", encoding="utf-8")
            for qa in para["qas"]:
                if not qa["question"].strip():
                    continue  # the trial set has two empty questions; a search needs a query
                queries.append(EvalQuery(id=qa["id"], query=qa["question"].strip(), kind="cmrc", doc_id=pid))
    if queries_out is not None:
        write_queries(queries, queries_out)
    return queries
