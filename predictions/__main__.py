"""`python -m predictions`: the command line (for now, `serve`)."""

from __future__ import annotations

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Run a command of the command line.

    Args:
        argv: The arguments, without the program name.

    Returns:
        The exit code.
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        from predictions.testing._serve import main as serve

        return serve(args[1:])
    print(
        "usage: python -m predictions serve [--host H] [--port P] ...", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
