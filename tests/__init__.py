"""The project's tests; `from tests.support.<module> import ...` for what they share."""
