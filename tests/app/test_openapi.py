"""The OpenAPI description at /api/openapi.json, and property-based fuzzing of every operation from it.

schemathesis generates requests from the description and checks each answer: never a 5xx, status
codes and bodies as described. The app runs on the real store with a fake embedder and the admin API
on (with its token), so uploads, deletes and re-indexing are fuzzed too; examples per operation are
few to keep the run short. Schema-valid but meaningless requests (an unknown document id, a query of
blanks) are rightly a 400 with the reason, so schemathesis's "valid data must be accepted" check is off.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.specs.openapi.checks import positive_data_acceptance

from indexer.config import Settings
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from search_app import create_app
from search_app.openapi import build_spec
from tests.support.fakes import FakeEmbedder
from tests.support.fakes_engine import test_settings

TOKEN = "fuzz-token"
SEED = "一、总体要求\n坚持稳中求进工作总基调，推动经济高质量发展。\n二、重点任务\n扩大国内需求，稳定就业。\n"


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    seeds = tmp / "seeds"
    seeds.mkdir()
    (seeds / "工作要点.txt").write_text(SEED, encoding="utf-8")
    settings = test_settings(tmp, admin_token=TOKEN, seeds_dir=seeds, max_upload_mb=1, max_batch_queries=20)
    embedder = FakeEmbedder()
    build_index([seeds], settings, embedder=embedder)
    return create_app(settings, engine=SearchEngine(settings, embedder=embedder))


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


OPERATIONS = [(path, method) for path, ops in build_spec(Settings())["paths"].items() for method in ops]


@pytest.mark.slow  # schemathesis: property-based fuzzing, seconds an operation
@pytest.mark.parametrize("path,method", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_operation_survives_fuzzing(api_schema, path, method):
    operation = api_schema[path][method]

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(max_examples=12, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=[positive_data_acceptance])

    fuzz()


def test_the_description_covers_every_json_endpoint(fuzz_app):
    described = fuzz_app.test_client().get("/api/openapi.json").get_json()["paths"]
    for rule in fuzz_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}").replace("{path:", "{")
        assert path in described, f"{rule.rule} is not in /api/openapi.json (search_app/openapi.py)"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in described[path], f"{method} {rule.rule} is not described"
