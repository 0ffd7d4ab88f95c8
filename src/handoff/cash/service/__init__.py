"""Cash use cases: store statements, apply cash, review proposals, record payments."""
