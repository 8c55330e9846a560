"""The command line run in-process, as the tests call it."""

from __future__ import annotations

from typing import Tuple

import pytest

from predictions.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    """Run `predictions ARGV...`; its exit code, stdout and stderr.

    argparse's own exits (a usage error, 2) are returned as codes too.
    """
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
