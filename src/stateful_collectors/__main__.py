"""`python -m stateful_collectors`: the `stateful-collectors` command."""

import sys

from stateful_collectors.cli import main

if __name__ == "__main__":
    sys.exit(main())
