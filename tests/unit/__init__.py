"""Unit tests: one module of stateful_collectors (or one aspect of it) per test module."""
