"""Examples that the test suite runs: the demo and the webhook recipes."""
