"""Nothing to run: see pyproject.toml."""
