"""One test module per example program: examples/NAME.py is tested by test_NAME.py."""
