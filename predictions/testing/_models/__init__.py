"""The models the local server runs: the registry, the built-ins, the runner."""
