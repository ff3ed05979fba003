"""The worker node: render agent, GPU telemetry and benchmark (see README.md)."""
