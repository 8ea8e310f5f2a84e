"""The deployment's topology: nginx and Prometheus configuration for docker-compose.yml,
and deploy/stack.py, which runs the same topology from local processes (scripts/stack,
tests/stack.py). Tooling, not a Django app: nothing here is in INSTALLED_APPS.
"""
