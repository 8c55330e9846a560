"""The API the local server serves: routes, records, pages, uploads, webhooks."""
