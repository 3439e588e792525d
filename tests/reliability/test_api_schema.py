"""The running service against its own OpenAPI document, with schemathesis, on SQLite and on
PostgreSQL: whatever a client sends (valid or not), no answer is a 5xx, every error has SPEC 5's
shape `{"error": {"code", "message", "details"}}`, and every answer is one the document
declares (its status, its content type, a body that fits its schema).

Each operation of `/openapi.json` gets schemathesis' generated cases (positive and negative)
through hypothesis. (schemathesis' pytest loader, `from_fixture`, relies on a pytest internal
that pytest 9 removed, so the operations are driven from one test.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import empty_database
from tests.sync.stack import ADMIN_TOKEN, Stack, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.reliability]

EXAMPLES_PER_OPERATION = 20
JSON_INTERFACES = ("/api/", "/webhooks/", "/callbacks/")


# What else each answer must satisfy, beyond the error shape: it is what the document says.
DOCUMENTED = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"schema-{request.param}")
    with (
        empty_database(request.param, tmp) as database_url,
        running_stack(tmp, database_url=database_url) as running,
    ):
        running.new_site()  # a connected site, so site-scoped operations have one to find
        yield running


def error_shape_problem(path: str, response: schemathesis.Response) -> str | None:
    """What is wrong with an answer: a 5xx, or an error body not in the documented shape (the
    JSON interfaces; a page for a browser, such as the console tab, answers its errors in HTML).
    """
    status = response.status_code
    if status >= 500:
        return f"answered {status}: {response.text[:300]}"
    if status < 400:
        return None
    is_page = any(v.startswith("text/html") for v in response.headers.get("content-type", []))
    if is_page and not path.startswith(JSON_INTERFACES):
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{status} with a body that is not JSON: {response.text[:300]}"
    error = body.get("error") if isinstance(body, dict) else None
    if (
        set(body) != {"error"}
        or not isinstance(error, dict)
        or set(error) != {"code", "message", "details"}
        or not (isinstance(error["code"], str) and error["code"])
        or not (isinstance(error["message"], str) and error["message"])
        or not isinstance(error["details"], list)
    ):
        return f"{status} with an error body not in the documented shape: {body}"
    return None


def test_no_request_gets_a_5xx_and_every_error_has_the_documented_shape(stack: Stack) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.service_url}/openapi.json")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    problems: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        operations += 1
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=cases, authenticated=st.booleans())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_properly(case: schemathesis.Case[Any], authenticated: bool) -> None:
            response = case.call(
                base_url=stack.service_url, headers=headers if authenticated else None
            )
            problem = error_shape_problem(case.formatted_path, response)
            assert problem is None, f"{case.method} {case.formatted_path}: {problem}"
            case.validate_response(response, checks=DOCUMENTED)

        try:
            answers_properly()
        except (AssertionError, FailureGroup) as failure:
            problems[operation.label] = _first_lines(failure)
    assert operations > 10
    assert not problems, "\n".join(f"{label}: {problem}" for label, problem in problems.items())


def _first_lines(failure: BaseException) -> str:
    """What went wrong, briefly: schemathesis' failures name the check and the request."""
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    if isinstance(failure, FailureGroup):
        lines = [line for line in lines if not line.startswith("Schemathesis found")]
        curl = [line for line in str(failure).splitlines() if "curl " in line]
        return " | ".join(lines[:4] + [c.strip()[:300] for c in curl[:1]])
    return lines[0] if lines else repr(failure)
