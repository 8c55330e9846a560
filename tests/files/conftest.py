"""The output-file tests' client and file host, and what their tests share.

`client` carries a token and an extra header of its own (`X-Team`), so a
test can show that neither reaches a file host; it talks to no API (its
base URL is a closed port), retries twice, and backs off on a fake clock
while reads keep their real, short timeouts. `host` is a scripted
`FileHost`. The helpers (`BODY`, `succeeded`, `cancel_once_asked`) are
imported by name.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, Iterator

import pytest

from predictions import Client
from tests.conftest import FakeClock
from tests.files.file_host import FileHost

BODY = bytes(range(256)) * 4096  # 1 MiB


def succeeded(output: Any) -> Dict[str, Any]:
    """A succeeded prediction with this output."""
    return {"id": "p-1", "status": "succeeded", "output": output}


def cancel_once_asked(host: FileHost, start: Callable[[], Awaitable[Any]]) -> None:
    """Run `start()` as a task; cancel it once the host has a request from it.

    The task must end with `CancelledError` (checked); what its thread left
    behind is the test's to check.
    """

    async def main() -> None:
        task = asyncio.ensure_future(start())
        while not host.seen:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.fixture
def host() -> Iterator[FileHost]:
    with FileHost() as server:
        yield server


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(
        "http://127.0.0.1:9/v1",
        access_token="secret-token",
        headers={"X-Team": "secret-header"},
        timeout=(2, 0.5),
        max_retries=2,
        clock=FakeClock(),  # the backoffs take no time; reads keep real timeouts
    ) as made:
        yield made
