"""The fault suite's figures, printed at the end of the run."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

FIGURES: List[Dict[str, Any]] = []
"""One row per scenario, appended by the tests."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault suite")
    write(f"{'scenario':44} calls faults results errors dups")
    totals = dict.fromkeys(("calls", "faults", "results", "errors", "duplicates"), 0)
    for row in FIGURES:
        write(
            f"{row['scenario']:44} {row['calls']:5} {row['faults']:6} "
            f"{row['results']:7} {row['errors']:6} {row['duplicates']:4}"
        )
        for key in totals:
            totals[key] += row[key]
    write(
        f"{'all':44} {totals['calls']:5} {totals['faults']:6} {totals['results']:7} "
        f"{totals['errors']:6} {totals['duplicates']:4}"
    )


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Back off in milliseconds: the policy is the same, the suite stays quick."""
    monkeypatch.setattr("predictions._http.retry.BACKOFF_INITIAL", 0.01)
    monkeypatch.setattr("predictions._http.retry.BACKOFF_MAX", 0.08)
