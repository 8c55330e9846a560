"""The one way out: every request the client sends goes through `API`.

`API.request(Request)` sends one request (one sent with `stream=True`
comes back unread), and `API.stream_reader` reads a streamed answer;
nothing else leaves, and nothing else reads a socket. Its modules, each
importing only those listed after it:

- `api`: `API`, the entry: pacing, the `on_request` hook, the retry policy,
  one attempt at a time through the transport, decoding; the thread pools.
- `pacing`: the `Pacer` (the lock, the slots in flight, the waiting) and
  its `Slot`s.
- `bucket`: one rate-limit bucket's arithmetic (`Bucket`), pure: given
  its times, it holds no lock and reads no clock.
- `retry`: the retry policy (tenacity), what a 429 asks (`rate_limit_delay`)
  and the one reader of a header's number (`header_number`).
- `transport`: the sessions (one per thread, reset after fork), one attempt
  with its limits, redirects within the API's origin.
- `adapter`: the requests adapter: pools found once per origin, their
  connections guarded, proxy bypass.
- `connection`: the guarded connections: each read within the attempt's
  total limit, interim (1xx) answers read past.
- `stream`: a streamed answer read as its bytes come (`StreamReader`), and
  its connection released at once.
- `body`: an answer's body read within `max_response_bytes`.
- `failures`: transport failures as typed errors, saying whether the
  request may have reached the server.
- `request`: the `Request` value every layer takes whole; `json_body`.
- `decode`: answers into results, or typed errors with readable messages.
- `sse`: server-sent events decoded incrementally from bytes.
"""
