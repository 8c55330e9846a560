"""`python -m predictions`: the command line."""

import sys

from predictions.cli import main

if __name__ == "__main__":
    sys.exit(main())
