"""Every exit code of the command line, in one place.

0 succeeded; 1 the prediction failed or was cancelled (a webhook is not
authentic; `serve` could not listen; `plugins`: a plugin that a client
would load is refused or does not import); 2 a usage error (nothing was sent);
3 an API or network error; 4 the wait timed out; 5 the output's files were
not saved (`-o DIR`: a URL expired, a download failed, a file was already
there, the disk refused, or `get` found the prediction not finished): the
prediction is as it was, and `predictions get ID -o DIR` tries again;
130 Ctrl-C; 141 the reader of the output went away (`| head`).
"""

EXIT_OK = 0
EXIT_FAILED = (
    1  # the prediction failed or was cancelled; a webhook is not authentic; ...
)
EXIT_USAGE = 2  # nothing was sent
EXIT_API = 3
EXIT_TIMEOUT = 4
# Not 3: a script must not create the prediction again (and pay twice) to
# have its files; `predictions get ID -o DIR` saves them.
EXIT_FILES = 5
EXIT_INTERRUPT = 130
# A reader that went away (`predictions list --all | head -1`): the status the
# shell shows for a program killed by SIGPIPE (128 + 13), as `cat | head`
# gives under `set -o pipefail`; without pipefail the pipeline's status is
# head's own, so nobody sees it.
EXIT_BROKEN_PIPE = 141


__all__ = [
    "EXIT_API",
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_FILES",
    "EXIT_INTERRUPT",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
]
