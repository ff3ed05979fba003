"""The node↔API protocol: what the API and the nodes (workers, checkers, the creator's client) agree on.

Canonical JSON, signed result manifests and checker evidence, node request signing, enrollment messages,
the job's render spec and its frame syntax, node configs and telemetry, and the nodes' HTTP client. It
imports only :mod:`chain` (keys and signatures) and :mod:`pictor` (the kernel).
"""
