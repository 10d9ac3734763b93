"""Mine the colloquial -> official wording dictionary (data/dict/colloquial.tsv) from the corpus.

    python -m indexer.tools.colloquial [CORPUS_DIR ...] [--out data/dict/colloquial.tsv]

A citizen asks about 打工者, 工钱 or 看病; the documents say 农民工, 工资, 医疗. The corpus cannot
show the first words (it never uses them), so the candidates come from jieba's general dictionary:
its content words (nouns, verbs, adjectives, idioms, abbreviations; no names or places) that the
corpus uses rarely or never. Their official counterparts are the corpus's own terms that it uses in
at least MIN_TARGET_DF paragraphs. Each candidate word gets the corpus terms nearest to it in the
embedding model's space (both embedded alone with the query prompt; CSLS score >= min_score), at most
MAX_PER_KEY, leaving out terms inside the word itself (search-mode tokens already hold those).

Nothing here reads an eval question. Given the corpus, the model and jieba's dictionary the output is
the same on every run: words and terms are processed in sorted order, similarities are rounded to three
decimals and ties broken by the term, so the file can be committed and diffed. The model is the configured one
without its adapter, on torch (queries' ONNX body can move a score in the third decimal): mined with the
corpus adapter the dictionary did no better on dev (README), and this way the committed file is rebuilt byte
for byte whatever POLICY_SEARCH_ADAPTER says.
"""

from __future__ import annotations

import argparse
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from indexer.config import DATA_DIR, PROJECT_ROOT, Settings

COLLOQUIAL_FILE = DATA_DIR / "dict" / "colloquial.tsv"
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_NUMERAL = re.compile(r"[0-9一二三四五六七八九十百千万亿零两]")
# jieba part-of-speech tags of content words; person names (nr), places (ns), function words and numerals stay out.
_CONTENT_POS = re.compile(r"^(n|nz|nt|ng|v|vn|vd|vg|a|an|ad|l|i|j)$")


@dataclass(frozen=True)
class MineOptions:
    """The thresholds of the mining, recorded in the output's header."""

    key_min_freq: int = 50  # a general word needs this jieba frequency (rarer words are rarely asked)
    key_max_df: int = 20  # ... and may occur in at most this many corpus paragraphs (else it is official wording)
    min_target_df: int = 5  # an official term occurs in at least this many paragraphs
    min_score: float = 0.02  # CSLS of the two words' embeddings (see neighbours)
    hub_k: int = 10  # neighbours averaged for the CSLS hubness terms
    max_per_key: int = 3


def paragraphs(corpus_dirs: Iterable[Path]) -> list[str]:
    """Blank-line separated paragraphs of every .txt under the folders, files in sorted order."""
    out: list[str] = []
    for folder in corpus_dirs:
        for path in sorted(Path(folder).rglob("*.txt")):
            if path.name.upper() == "SOURCES.TXT":
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            out += [re.sub(r"\s+", "", p) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return out


def document_frequencies(texts: list[str]) -> Counter:
    """In how many paragraphs each search-mode token occurs (the tokens BM25 indexes)."""
    from indexer import textnorm

    df: Counter = Counter()
    for text in texts:
        df.update(set(textnorm.tokenize(text)))
    return df


def general_words(dict_path: Path, min_freq: int) -> dict[str, int]:
    """Content words of 2-4 Chinese characters from a jieba dictionary file (word freq pos), with frequency."""
    words: dict[str, int] = {}
    with open(dict_path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 3 or not parts[1].isdigit() or int(parts[1]) < min_freq:
                continue
            word, pos = parts[0], parts[2]
            if 2 <= len(word) <= 4 and _CJK.match(word) and _CONTENT_POS.match(pos) and not _NUMERAL.search(word):
                words[word] = max(words.get(word, 0), int(parts[1]))
    return words


def jieba_dictionary() -> Path:
    import jieba

    return Path(os.path.dirname(jieba.__file__)) / "dict.txt"


def candidates(df: Counter, general: dict[str, int], options: MineOptions) -> tuple[list[str], list[str]]:
    """(colloquial keys, official terms), both sorted: general words the corpus rarely uses; its frequent terms."""
    from indexer.textnorm import STOPWORDS

    keys = sorted(w for w in general if df.get(w, 0) <= options.key_max_df and w not in STOPWORDS)
    targets = sorted(
        t
        for t, n in df.items()
        if n >= options.min_target_df and len(t) >= 2 and _CJK.match(t) and t not in STOPWORDS
        and not _NUMERAL.fullmatch(t)
    )  # fmt: skip
    return keys, targets


def _hubness(sims_rows, n_cols: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean similarity of each row to its k nearest columns, and of each column to its k nearest rows."""
    row_mean, col_top = [], np.full((0, n_cols), -1.0, dtype=np.float32)
    for sims in sims_rows():
        kk = min(k, sims.shape[1])
        row_mean.append(np.sort(np.partition(sims, sims.shape[1] - kk, axis=1)[:, -kk:], axis=1).mean(axis=1))
        both = np.vstack([col_top, sims])
        kk = min(k, both.shape[0])
        col_top = np.partition(both, both.shape[0] - kk, axis=0)[-kk:]
    return np.concatenate(row_mean), col_top.mean(axis=0)


def neighbours(
    keys: list[str], targets: list[str], key_vecs: np.ndarray, target_vecs: np.ndarray, options: MineOptions
) -> dict[str, list[tuple[str, float]]]:
    """Each key's nearest official terms by CSLS (>= min_score), leaving out terms inside it or holding it.

    CSLS (2 cos - the key's mean cosine to its 10 nearest terms - the term's to its 10 nearest keys)
    discounts "hub" words near everything and words whose neighbourhood is dense because they share
    characters, which raw cosine (e5 puts most word pairs between 0.88 and 0.95) cannot tell apart.
    """
    kv, tv = np.asarray(key_vecs, dtype=np.float32), np.asarray(target_vecs, dtype=np.float32)
    step = 1024

    def blocks():
        for start in range(0, len(keys), step):
            yield kv[start : start + step] @ tv.T

    r_key, r_target = _hubness(blocks, len(targets), options.hub_k)
    out: dict[str, list[tuple[str, float]]] = {}
    for b, sims in enumerate(blocks()):
        scores = 2 * sims - r_key[b * step : b * step + len(sims), None] - r_target[None, :]
        for i, key in enumerate(keys[b * step : b * step + len(sims)]):
            top = np.flatnonzero(scores[i] >= options.min_score)
            found = sorted(((round(float(scores[i, j]), 3), targets[j]) for j in top), key=lambda x: (-x[0], x[1]))
            kept = [(t, s) for s, t in found if t not in key and key not in t][: options.max_per_key]
            if kept:
                out[key] = kept
    return out


def mine(corpus_dirs: list[Path], embed, options: MineOptions, dict_path: Path | None = None):
    """The dictionary for these corpus folders; `embed(list[str]) -> unit vectors` (the model's query side)."""
    df = document_frequencies(paragraphs(corpus_dirs))
    keys, targets = candidates(df, general_words(dict_path or jieba_dictionary(), options.key_min_freq), options)
    if not keys or not targets:
        return {}
    return neighbours(keys, targets, embed(keys), embed(targets), options)


def write_dictionary(entries: dict[str, list[tuple[str, float]]], out: Path, header: str) -> None:
    """`word<TAB>term:sim term:sim`, words sorted; '#' lines describe how it was made."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}\n" for line in header.splitlines()]
    lines += [f"{k}\t{' '.join(f'{t}:{s:.3f}' for t, s in entries[k])}\n" for k in sorted(entries)]
    out.write_text("".join(lines), encoding="utf-8")


def _embed_with(settings: Settings):
    """The embedding function and a description of the model (+ adapter) that mines."""
    from indexer.embedding import load_embedder
    from indexer.model_identity import describe_model, embedder_identity

    embedder = load_embedder(settings)

    def embed(texts: list[str]) -> np.ndarray:
        return np.vstack([embedder.encode_queries(texts[i : i + 512]) for i in range(0, len(texts), 512)])

    return embed, describe_model(*embedder_identity(embedder))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.colloquial", description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", nargs="*", type=Path, default=[DATA_DIR / "corpus", PROJECT_ROOT / "seeds"])
    p.add_argument("--out", type=Path, help="default: Settings.colloquial_file (data/dict/colloquial.tsv)")
    p.add_argument("--min-score", type=float, default=MineOptions.min_score)
    p.add_argument("--key-max-df", type=int, default=MineOptions.key_max_df)
    args = p.parse_args(argv)
    settings = replace(Settings.from_env(query_cache_size=0), adapter=None, query_runtime="torch")  # see above
    out = args.out or settings.colloquial_file
    options = MineOptions(min_score=args.min_score, key_max_df=args.key_max_df)
    from indexer import textnorm

    textnorm.use_terms(settings.terms_file)
    embed, model_name = _embed_with(settings)
    entries = mine(args.corpus, embed, options)
    header = (
        "colloquial word -> official corpus terms (python -m indexer.tools.colloquial); "
        f"model {model_name}; {options}"
    )
    write_dictionary(entries, out, header)
    print(f"{len(entries)} words written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
