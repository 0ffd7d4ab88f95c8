"""Contracts, pure: the immutable contract version and its lines' billing rules (`model`), the
schedule those rules produce and what of it is due on a day (`schedule`), change orders, and the
product catalog and price lists contracts sell from (`catalog`, `unit_codes`)."""
