"""`python -m stateful_collectors`: the `stateful-collectors` command (`command.cli`)."""

import sys

from stateful_collectors.command.cli import main

if __name__ == "__main__":
    sys.exit(main())
