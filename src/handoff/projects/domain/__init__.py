"""Projects, pure: the project and its plan (`model`), the delivery signals as they arrive
(`signals`), what approved work bills and how (`rating`), and delivery health (`health`)."""
