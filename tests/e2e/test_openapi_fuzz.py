"""schemathesis over the whole OpenAPI document, as an admin and as a sales user, on SQLite and
PostgreSQL: no 5xx, every response matches its documented status, content type, headers and schema,
requests the document allows are not refused for their shape (422) and requests it forbids are,
and a 405's `Allow` names every method of the path.

Bounded for CI: schemathesis's own runner (its examples, coverage and fuzzing phases) with a fixed
seed, deterministic generation, no example database and a few examples per operation; a run takes
well under a minute. The only relaxations are rules no JSON schema can state, listed in `RELAXED`
with their reason."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from handoff.users.service import Role
from tests.e2e.conftest import Site

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
]
EXAMPLES = 15
SEED = 20261204
# Operations whose 422 may answer a request the document allows, because the rule depends on more
# than the request's shape.
RELAXED = {
    # the password policy: zxcvbn's guess count and the user's own address (users.domain)
    ("POST", "/api/v1/users"): "password strength",
    # a version dated ahead of the server's clock is refused (deals.domain.admission)
    ("POST", "/api/v1/webhooks/deals/{source}"): "occurred_at relative to the clock",
    # VAT id checksums per country, Peppol id check digits, ISO 639-1 codes (customers.domain)
    ("PUT", "/api/v1/customers/{customer_id}"): "tax ids, Peppol ids and languages checked against their standards",
    # the catalog: UN/ECE Rec 20 unit codes (2,162 of them), a new product needs a name, a change
    # from a past day is refused (history is never rewritten), a price needs its product
    ("PUT", "/api/v1/catalog/products/{sku}"): "unit codes, the stored product and the clock",
    ("PUT", "/api/v1/catalog/products/{sku}/prices/{currency}"): "the stored product, currency codes and the clock",
    # a billing run more than a year after the server's clock is refused (a mistyped year would
    # draft years of invoices at once: contracts.api_contracts.MAX_RUN_AHEAD_DAYS)
    ("POST", "/api/v1/billing/runs"): "date relative to the clock",
    # a change order applies to the stored contract: its lines, start, current version and used keys
    ("POST", "/api/v1/contracts/{contract_id}/change-orders"): "the stored contract, its lines, dates and keys",
    # posting delivery more than a year after the server's clock is refused, as a billing run is
    # (projects.api.MAX_POST_AHEAD_DAYS)
    ("POST", "/api/v1/delivery/postings"): "through relative to the clock",
    # a plan applies to the stored project: its roles, milestones and the phases' dates
    ("PUT", "/api/v1/projects/{project_id}/plan"): "the stored project's roles, milestones and dates",
    # a backtest's cut-off today or later is refused: none of its weeks has ended, nothing to compare
    # (reporting.service.forecast.forecast_backtest)
    ("GET", "/api/v1/forecast/backtest"): "cutoff relative to the clock",
    # a billable metric: UN/ECE Rec 20 unit codes, a field only for the aggregations that measure
    # one (usage.domain.metrics.metric_from_json)
    ("PUT", "/api/v1/usage/metrics/{code}"): "unit codes and which aggregations take a field",
    # a usage price: tiers ascending and ending open, a package above 0, a percentage up to 100
    # (usage.domain.pricing.check_price), a known metric
    ("PUT", "/api/v1/contracts/{contract_id}/lines/{key}/usage-price"): "the price rules and the stored metrics",
}


def config(tmp_path: Path, paths: dict[str, dict[str, object]]) -> Path:
    lines = [f"seed = {SEED}", "suppress-health-check = ['all']", ""]
    for (method, path), _why in sorted(RELAXED.items()):
        if method.lower() in paths.get(path, {}):
            lines += [
                "[[operations]]",
                f'include-name = "{method} {path}"',
                "checks.positive_data_acceptance.expected-statuses = "
                "['2xx', '3xx', '401', '403', '404', '409', '422', '429']",
                "",
            ]
    file = tmp_path / "schemathesis.toml"
    file.write_text("\n".join(lines))
    return file


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SALES], ids=lambda r: r.value)
def test_api_conforms_to_its_schema(site: Site, role: Role, tmp_path: Path) -> None:
    paths = site.app.openapi()["paths"]
    assert sum(len(methods) for methods in paths.values()) >= 24  # the whole document, not a part of it
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config(tmp_path, paths)),
        "run",
        f"{site.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {site.tokens[role]}",
        "--header",
        "X-Handoff-Token: s3cret",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",  # and so no example database
        "--workers",
        "1",
        "--continue-on-failure",
        "--no-color",
        "--output-sanitize",
        "false",
    ]
    # in tmp_path: the runner keeps a cache directory where it runs
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    report = run.stdout + run.stderr
    counted = re.search(r"Operations:\s+(\d+) selected / (\d+) total", report)
    documented = sum(len(methods) for methods in paths.values())
    assert counted is not None and int(counted[1]) == int(counted[2]) == documented, report
    assert run.returncode == 0, report
