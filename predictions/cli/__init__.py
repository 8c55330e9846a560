"""The command line: `predictions run | get | list | wait | cancel | batch | serve`...

Exit codes: 0 succeeded; 1 the prediction failed or was cancelled; 2 a usage
error (nothing was sent); 3 an API or network error; 4 the wait timed out;
5 the output's files were not saved (`-o DIR`); 130 Ctrl-C; 141 the reader
of the output went away (`| head`).
"""

from predictions.cli._main import main

__all__ = ["main"]
