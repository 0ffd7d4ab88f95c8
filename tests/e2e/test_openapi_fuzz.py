"""schemathesis over the whole OpenAPI document, authenticated as admin, on SQLite and PostgreSQL:
no 5xx, and every response matches its documented status, content type and schema. Bounded: a few
examples per operation, no example database."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from handoff.users.service import Role
from tests.e2e.conftest import Site

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 15


def test_api_conforms_to_its_schema(site: Site) -> None:
    schema = schemathesis.openapi.from_url(f"{site.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {site.tokens[Role.ADMIN]}", "X-Handoff-Token": "s3cret"}
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = sum(len(methods) for methods in site.app.openapi()["paths"].values())
    assert len(operations) == documented >= 24  # the whole document, not a part of it
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
