"""handoff: carries a sale from closed-won to cash in the bank."""

__version__ = "0.1.0"
