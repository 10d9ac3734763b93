"""Training pairs of the corpus adapter (no model): keyword queries come from each passage's own distinctive words."""

from indexer.models import Chunk
from indexer.tools.adapt import AdaptOptions, make_pairs

TERMS = (
    "乡村振兴 碳达峰 医保 棚户区 义务教育 养老保险 自贸区 脱贫攻坚 城镇化 营商环境 "
    "新能源 公积金 高速铁路 疫苗 退耕还林 南水北调 人工智能 集成电路 三农 房地产"
).split()
COMMON = {"这里", "我们", "认为", "继续", "推进", "工作", "考虑", "方法", "发展", "要求"}


def _chunks() -> list[Chunk]:
    """20 passages of 5 documents, each naming two terms (each term in two passages) among common words."""
    out = []
    for i in range(20):
        a, b = TERMS[i % 10], TERMS[10 + i // 2]
        text = f"这里我们认为，要继续推进{a}工作。同时考虑{b}的方法，这里的发展要求。"
        doc = f"d{i // 4}"
        out.append(Chunk(f"{doc}#{i % 4}", doc, f"文件{i // 4}", [f"第{i % 4}部分"], text, 0, len(text), i % 4))
    return out


def test_keyword_pairs_name_their_passages_distinctive_words():
    options = AdaptOptions(pairs=200, batch_size=8, kinds=("keywords",))
    pairs = make_pairs(_chunks(), options)
    assert len(pairs) >= 10 and {kind for kind, _, _ in pairs} == {"keywords"}
    for _, query, passage in pairs:
        words = query.split(" ")
        assert len(words) == 2 and set(words) <= set(TERMS)  # the passage's two terms, nothing common
        assert [passage.index(w) for w in words] == sorted(passage.index(w) for w in words)  # in its order
    assert not COMMON & {w for _, q, _ in pairs for w in q.split(" ")}
    assert make_pairs(_chunks(), options) == pairs  # deterministic for a given seed


def test_only_the_chosen_kinds_are_made():
    pairs = make_pairs(_chunks(), AdaptOptions(pairs=90, batch_size=8, kinds=("path", "cloze", "keywords")))
    assert {kind for kind, _, _ in pairs} == {"path", "cloze", "keywords"}


def test_a_hard_negative_shares_the_anchors_words_but_not_the_positives_section():
    chunks = _chunks()
    section = {c.text: (c.doc_id, c.heading_path[-1]) for c in chunks}
    pairs = make_pairs(chunks, AdaptOptions(pairs=200, batch_size=8, kinds=("keywords",), hard_negatives=True))
    assert len(pairs) >= 10 and all(len(p) == 4 for p in pairs)
    for _, query, positive, negative in pairs:
        assert negative != positive and section[negative] != section[positive]
        assert any(w in negative for w in query.split(" "))  # the words matched, in another section
    for start in range(0, len(pairs), 8):  # no text twice in a batch: a duplicate would be a false negative
        texts = [t for p in pairs[start : start + 8] for t in p[1:]]
        assert len(texts) == len(set(texts))


def test_english_pairs_are_the_keyword_queries_in_cc_cedict_glosses():
    from indexer.tools.lexicon import cedict_gloss

    gloss = cedict_gloss()
    assert gloss["疫苗"] == "vaccine" and gloss["人工智能"] == "artificial intelligence"
    options = AdaptOptions(pairs=400, batch_size=8, kinds=("keywords", "english"))
    pairs = make_pairs(_chunks(), options)
    english = [(q, p) for kind, q, p in pairs if kind == "english"]
    assert english and all(q.isascii() for q, _ in english)
    for query, passage in english:  # both words of the passage glossed, in its order
        words = sorted((t for t in TERMS if t in passage and t in gloss), key=passage.index)
        assert query == " ".join(gloss[w] for w in words)
    assert make_pairs(_chunks(), options) == pairs


def test_a_document_negative_is_another_section_of_the_positives_document():
    chunks = _chunks()
    where = {c.text: (c.doc_id, c.heading_path[-1]) for c in chunks}
    options = AdaptOptions(pairs=200, batch_size=8, kinds=("keywords", "path"), document_negatives=True)
    pairs = make_pairs(chunks, options)
    assert len(pairs) >= 10 and all(len(p) == 4 for p in pairs)
    for _, _, positive, negative in pairs:
        assert where[negative][0] == where[positive][0] and where[negative][1] != where[positive][1]
    assert make_pairs(chunks, options) == pairs


def test_colloquial_pairs_swap_an_official_word_for_a_citizens_word(tmp_path):
    table = tmp_path / "colloquial.tsv"
    table.write_text("# word -> official terms\n看病钱\t医保:0.05\n打疫苗\t疫苗:0.04 医保:0.02\n", encoding="utf-8")
    options = AdaptOptions(pairs=400, batch_size=8, kinds=("keywords", "colloquial"))
    pairs = make_pairs(_chunks(), options, table)
    swapped = [(q, p) for kind, q, p in pairs if kind == "colloquial"]
    assert swapped
    for query, passage in swapped:
        words = query.split(" ")
        assert {"看病钱", "打疫苗"} & set(words)  # a citizen's word stands in for the passage's own term
        assert any(w in passage for w in words if w not in ("看病钱", "打疫苗"))  # the other word is the passage's
        assert not any(w in passage for w in ("看病钱", "打疫苗"))
    assert make_pairs(_chunks(), options, table) == pairs
    assert "colloquial" not in {kind for kind, _, _ in make_pairs(_chunks(), options)}  # no dictionary, no swaps
