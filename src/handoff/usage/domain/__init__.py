"""Usage, pure: events and their checks, billable metrics and aggregation, periods and grace, pricing."""
