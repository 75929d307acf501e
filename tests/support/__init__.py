"""Helpers shared by the test suites: real servers on free loopback ports, and fixtures.

``tests.support.procs`` starts gunicorn, Prometheus, Alertmanager and a webhook sink as real
processes (each in its own process group, killed as a group on exit); ``tests.support.fixtures``
wraps them in module-scoped pytest fixtures, e.g. a running sample fleet scraped by Prometheus.
"""
