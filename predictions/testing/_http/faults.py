"""Fault injection: which requests get a bad answer, repeatably.

A `Fault` says what goes wrong and for which requests; `Faults` holds the
rules, the seeded random generator and the counters. Kinds:

- `"status"`: answer `status` (500, 502, 503, 504, 429, ...) without acting.
  The body is `{"detail": ...}` JSON, or `body` as is (an HTML or empty
  proxy page). A 429 gets `Retry-After: <retry_after>` when that is set;
  `rate_limit_headers=False` leaves out the `x-ratelimit-*` headers.
- `"drop_before"`: read the request, then close the connection without
  acting or answering.
- `"drop_after"`: act (a create creates), then close without answering.
- `"delay"`: act, wait `delay` seconds, then answer normally.
- `"truncate"`: act, then send the headers with the full `Content-Length`
  but only half of the body, and close. An event stream is cut after its
  first piece (no last chunk); a part's answer, which has no body, is
  dropped after the part was stored (as `drop_after`); a 206 sends half of
  the range asked for.
- `"stall"`: as `truncate`, but the connection then stays open, sending
  nothing, for `delay` seconds (0: until the server stops) before it is
  closed: a client's stall detection must end it. A part's answer sends
  nothing at all.

On the storage port a `status` fault reads the part's body first, as storage
does, so the connection stays usable.

Which requests: a rule sees every request to its `route` and numbers them
from 1, whether or not another rule fires for them. Routes of the API's
port: `"create"`, `"get"`, `"list"`, `"cancel"`, `"stream"` (a prediction's
events), `"upload"` (`POST /uploads`) and `"complete"`; of the storage port:
`"part"` (a part's `PUT`, numbered in the order they arrive, whatever the
part), `"download"` (an upload's download URL) and `"output"` (an output
file's `GET` or `HEAD`); `"any"` is every route. Unknown paths never get
faults. It fires on the numbers in `sequence`, and also, when `probability` is
set, with that probability (one draw per seen request from
`random.Random(seed)`). `limit` caps how often it is injected. When several
rules fire, the first in the list is injected. The same seed and the same
requests in the same order give the same faults; `Faults.reset()` starts
over. Faults act before authentication and rate limits, as a proxy would.

On the command line (`--fault SPEC`), a rule is `KIND[@ROUTE][,key=value...]`,
KIND a status code or a kind name, keys `p`, `seq` (e.g. `1-3+7`), `limit`,
`delay`, `retry_after`, `headers` (0 or 1) and `body`; no `p` and no `seq`
means every request. Examples: `503@create,p=0.3`, `429@get,seq=1-2,retry_after=1`,
`drop_after@create,seq=1`, `delay@get,delay=2,p=0.1`, `truncate@list`,
`503@part,seq=1` (the first part PUT fails once), `410@output`,
`stall@output,seq=1,delay=5`.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from predictions.testing._api.protocol import Response, error

KINDS = ("status", "drop_before", "drop_after", "delay", "truncate", "stall")
_OPTIONS = ("p", "seq", "limit", "delay", "retry_after", "headers", "body")
ROUTES = (
    "create",
    "get",
    "list",
    "cancel",
    "stream",
    "upload",
    "complete",
    "part",
    "download",
    "output",
    "any",
)


@dataclass(frozen=True)
class Fault:
    """One fault rule (see the module's docstring for the kinds and the choice).

    Attributes:
        kind: One of `status`, `drop_before`, `drop_after`, `delay`,
            `truncate`, `stall`.
        route: One of `ROUTES` (see the module's docstring).
        probability: Chance (0..1) that a seen request gets the fault.
        sequence: 1-based numbers of the seen requests that get it.
        limit: At most this many injections; None for no cap.
        status: The status code of a `status` fault.
        delay: Seconds a `delay` fault waits before answering, or a `stall`
            fault keeps the connection silent (0: until the server stops).
        retry_after: `Retry-After` value of a `status` fault (seconds or a date).
        rate_limit_headers: Whether a `status` answer has `x-ratelimit-*`.
        body: Raw body of a `status` answer (sent as text/html); None for JSON.
    """

    kind: str
    route: str = "any"
    probability: float = 0.0
    sequence: Sequence[int] = ()
    limit: Optional[int] = None
    status: int = 500
    delay: float = 0.0
    retry_after: Optional[str] = None
    rate_limit_headers: bool = True
    body: Optional[str] = None

    def __post_init__(self) -> None:
        """Check the rule and freeze `sequence`."""
        object.__setattr__(self, "sequence", tuple(sorted(set(self.sequence))))
        if self.kind not in KINDS:
            raise ValueError(
                "fault kind must be one of {}, not {!r}".format(
                    ", ".join(KINDS), self.kind
                )
            )
        if self.route not in ROUTES:
            raise ValueError(
                "fault route must be one of {}, not {!r}".format(
                    ", ".join(ROUTES), self.route
                )
            )
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("fault probability must be between 0 and 1")
        if not self.sequence and self.probability == 0.0:
            raise ValueError("a fault needs a probability or a sequence")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise ValueError("a status fault answers 4xx or 5xx")
        if not (math.isfinite(self.delay) and self.delay >= 0):
            raise ValueError("fault delay must be a finite number, not negative")

    @property
    def label(self) -> str:
        """The key this fault is counted under: `status:503`, `drop_after`, ..."""
        return f"status:{self.status}" if self.kind == "status" else self.kind

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Read the command line's form (see the module's docstring).

        Args:
            spec: E.g. `503@create,p=0.3`.

        Returns:
            The fault.

        Raises:
            ValueError: The spec is malformed.
        """
        head, *pairs = [p.strip() for p in spec.split(",")]
        what, _, route = head.partition("@")
        options: Dict[str, str] = {}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq:
                raise ValueError(
                    f"bad fault option {pair!r} in {spec!r}: use key=value"
                )
            if key not in _OPTIONS:
                raise ValueError(f"unknown fault option {key!r} in {spec!r}")
            options[key] = value
        status = what.isdigit()
        return cls(
            kind="status" if status else what,
            route=route or "any",
            # Neither p nor seq: every request.
            probability=float(options.get("p", "0" if "seq" in options else "1")),
            sequence=_parse_sequence(options.get("seq", "")),
            limit=int(options["limit"]) if "limit" in options else None,
            status=int(what) if status else 500,
            delay=float(options.get("delay", "0")),
            retry_after=options.get("retry_after"),
            rate_limit_headers=options.get("headers") not in ("0", "false", "no"),
            body=options.get("body"),
        )


def _parse_sequence(text: str) -> List[int]:
    numbers: List[int] = []
    for part in filter(None, text.split("+")):
        low, dash, high = part.partition("-")
        numbers.extend(range(int(low), int(high) + 1) if dash else [int(low)])
    return numbers


class Faults:
    """The fault rules of a server, their random generator and counters."""

    def __init__(self, rules: Iterable[Fault] = (), seed: int = 0) -> None:
        """Create the rules.

        Args:
            rules: Checked in order for each request; the first that fires wins.
            seed: Seed of the random generator for probabilistic rules.
        """
        self.rules: Tuple[Fault, ...] = tuple(rules)
        self.seed = seed
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start over: reseed the generator and zero the counters."""
        with self._lock:
            self._random = random.Random(self.seed)
            self._seen = [0] * len(self.rules)
            self._fired = [0] * len(self.rules)
            self._history: List[Tuple[str, int, str]] = []
            self._requests: Dict[str, int] = {}

    def pick(self, route: str) -> Optional[Fault]:
        """Decide the fault for the next request to a route.

        Args:
            route: The request's route (not `any`).

        Returns:
            The fault to inject, or None.
        """
        with self._lock:
            number = self._requests[route] = self._requests.get(route, 0) + 1
            chosen: Optional[int] = None
            # Every rule sees (and draws for) every request to its route, so
            # one rule's numbering does not depend on another's luck.
            for index, rule in enumerate(self.rules):
                if rule.route not in (route, "any"):
                    continue
                self._seen[index] += 1
                fires = self._seen[index] in rule.sequence
                if rule.probability > 0:
                    fires = self._random.random() < rule.probability or fires
                if rule.limit is not None and self._fired[index] >= rule.limit:
                    fires = False
                if fires and chosen is None:
                    chosen = index
            if chosen is not None:
                rule = self.rules[chosen]
                self._fired[chosen] += 1
                self._history.append((route, number, rule.label))
                return rule
            return None

    @property
    def counts(self) -> Dict[str, int]:
        """How many faults were injected, by `Fault.label`."""
        with self._lock:
            counts: Dict[str, int] = {}
            for _route, _number, label in self._history:
                counts[label] = counts.get(label, 0) + 1
            return counts

    @property
    def total(self) -> int:
        """How many faults were injected in all."""
        with self._lock:
            return len(self._history)

    @property
    def history(self) -> List[Tuple[str, int, str]]:
        """Each injection as `(route, request number on that route, label)`."""
        with self._lock:
            return list(self._history)


def fault_answer(fault: Fault) -> Response:
    """The answer of a `status` fault, without the `x-ratelimit-*` headers."""
    if fault.body is None:
        response = error(fault.status, f"Injected fault: {fault.status}")
    else:
        raw = fault.body.encode("utf-8")
        response = Response(
            fault.status, raw=raw, content_type="text/html; charset=utf-8"
        )
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response
