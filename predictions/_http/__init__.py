"""The one way out: every request the client sends goes through `API`.

`API.request(Request)` sends one request (pacing, the `on_request` hook, the
retry policy, one attempt at a time through the transport, decoding) and
`API.open_stream(Request)` opens a streamed answer. Inside: the `Request`
value (`request`), the transport (`transport`: a session per thread, one
attempt, reset after fork), the adapter's guarded connections
(`connection`), the retry policy (`retry`), pacing (`pacing`), decoding
(`decode`) and server-sent events (`sse`).
"""
