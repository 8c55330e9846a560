"""Webhook receivers for common web frameworks, run by tests/webhooks."""
