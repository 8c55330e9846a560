"""The local server's HTTP layer: sockets, framing, limits, faults, its two ports."""
