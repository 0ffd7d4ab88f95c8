"""The deal desk's policy as configured (`contracts.terms_review` in handoff.yaml): the bundled
defaults (discount above 20 %, terms beyond net60, billing more than 30 days after the close, a
price off the price list, a manual tax treatment) and a policy that cannot be one refused at load
with a message naming the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from handoff.config import DEFAULTS, ConfigError, load_business_config


def test_the_bundled_policy() -> None:
    policy = load_business_config().terms_policy
    assert policy.max_discount_percent == Decimal(20)
    assert (policy.max_payment_terms_days, policy.max_days_to_billing_start) == (60, 30)
    # off until the catalog holds the price lists: else every line without a product code waits
    assert not policy.review_price_off_list and policy.review_manual_tax
    assert policy.payment_terms["net60"] == 60


@pytest.mark.parametrize(
    ("review", "message"),
    [
        ({"max_discount": 20}, "contracts.terms_review: review policy: unknown keys max_discount"),
        ({"max_discount_percent": 120}, "max_discount_percent must be a number from 0 to 100"),
        ({"max_payment_terms_days": "sixty"}, "max_payment_terms_days must be a whole number of days"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_key(tmp_path: Path, review: dict[str, object], message: str) -> None:
    doc = yaml.safe_load((DEFAULTS / "handoff.yaml").read_text(encoding="utf-8"))
    doc["contracts"] = {"terms_review": review}
    path = tmp_path / "handoff.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="contracts") as refused:
        load_business_config(path)
    assert message in str(refused.value)
