"""Approvals: four-eyes decisions on non-standard work (credit notes today): request, approve, reject, void."""
