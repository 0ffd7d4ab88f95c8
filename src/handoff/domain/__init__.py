"""The business itself: pure Python, no I/O, no framework imports.

Nothing in this package may import from handoff.store, handoff.web, handoff.app or any I/O library;
`lint-imports` enforces the contract (see pyproject.toml).
"""
