"""Attack tests (issue 11): hostile servers, forks and malformed answers."""
