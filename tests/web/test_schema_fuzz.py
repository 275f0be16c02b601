"""The OpenAPI document is true: schemathesis (every check, positive and negative examples, 25 per
operation) against a real uvicorn on loopback finds no failure, without a token and with one. Three
operations answer schema-valid requests with 400/422 by what the data is, which a schema cannot say
(an upload must be a picture, text needs a model with a text tower, compare needs two files or two
ids): for those only, the `positive_data_acceptance` check is left out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
schemathesis = pytest.importorskip("schemathesis")
import hypothesis  # noqa: E402
from conftest import pattern_image  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from web_server import serving  # noqa: E402

from lookalike.web.app import create_app  # noqa: E402

TOKEN = "fuzz-token"
MAX_EXAMPLES = 25
CONTENT_DEPENDENT = {"POST /api/search", "GET /api/search", "POST /api/compare",
                     # state: a second job while one runs is a 429, a random job id a 404
                     "POST /api/duplicates", "GET /api/jobs/{job_id}", "DELETE /api/jobs/{job_id}",
                     "POST /api/clusters", "POST /api/outliers",
                     # review: two different ids of one found group, an undo log that exists
                     "POST /api/duplicates/not-duplicate", "POST /api/duplicates/keeper",
                     "POST /api/duplicates/trash", "POST /api/duplicates/undo"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from lookalike.service import Lookalike
    from lookalike.settings import load_settings

    folder = tmp_path_factory.mktemp("fuzz") / "photos"
    folder.mkdir()
    for seed in range(6):  # small pictures: the keypoint checks of duplicates jobs stay fast
        pattern_image(seed, (96, 72)).save(folder / f"img_{seed}.jpg", quality=90)
    pattern_image(0, (96, 72)).save(folder / "copy_0.png")
    with Lookalike(load_settings(folder, device="cpu", precision="fp32")) as built:
        built.sync(built.library(folder, model="efficientnet-lite0", create=True))
        yield built, built.library(folder, readonly=True)


def auth_for(case, headers: dict[str, str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Our Authorization header, except for a negative case that leaves it out on purpose (it tests that
    the server refuses a request without it: adding it back would make the request valid)."""
    from schemathesis import GenerationMode

    header = case.meta.components.get("header") if case.meta is not None else None
    dropped = "authorization" not in {name.lower() for name in (case.headers or {})}
    if header is not None and header.mode == GenerationMode.NEGATIVE and dropped:
        return {}
    return headers


def examples(strategy: object, base: str, headers: dict[str, str], checks: list[object]):  # type: ignore[no-untyped-def]
    """A hypothesis test sending MAX_EXAMPLES cases of `strategy` and running `checks` on each answer."""

    @hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
    @hypothesis.given(case=strategy)
    def run(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(base_url=base, headers=auth_for(case, headers), checks=checks)

    return run


def fuzz(base: str, headers: dict[str, str]) -> list[str]:
    """Every operation of the served schema, each with its own examples; the failures, in words."""
    from schemathesis import GenerationMode
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    every_check = CHECKS.get_all()
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    failures, seen = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        seen += 1
        checks = [c for c in every_check if operation.label not in CONTENT_DEPENDENT
                  or getattr(c, "__name__", "") != "positive_data_acceptance"]
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))

        try:
            examples(strategy, base, headers, checks)()
        except (Exception, BaseExceptionGroup) as failure:  # schemathesis's FailureGroup
            failures.append(f"{operation.label}: {failure}")
    assert seen == 17, f"expected the 17 API operations, the schema has {seen}"
    return failures


def test_schemathesis_finds_nothing_without_a_token(service) -> None:  # type: ignore[no-untyped-def]
    built, library = service
    with serving(create_app(built, library)) as base:
        failures = fuzz(base, {})
    assert not failures, "\n\n".join(failures)


def test_schemathesis_finds_nothing_with_a_token(service) -> None:  # type: ignore[no-untyped-def]
    built, library = service
    with serving(create_app(built, library, token=TOKEN)) as base:
        failures = fuzz(base, {"Authorization": f"Bearer {TOKEN}"})
    assert not failures, "\n\n".join(failures)
