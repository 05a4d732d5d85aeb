"""Consumers of the feed's events and public state: log lines, Prometheus metrics, the terminal dashboard."""
