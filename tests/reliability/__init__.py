"""Reliability and security: backend and process faults, hostile input, secrets, and the soak."""
