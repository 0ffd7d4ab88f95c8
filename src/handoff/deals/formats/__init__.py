"""Deal intake formats: each reads its input into canonical `DealEvent`s, or refuses it whole."""

from handoff.deals.formats.files import IntakeError, read_deal_file, read_deal_rows

__all__ = ["IntakeError", "read_deal_file", "read_deal_rows"]
