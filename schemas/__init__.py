"""JSON Schemas (Draft 2020-12) for policy files, incidents, decisions, diffs and the API."""
