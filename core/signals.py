"""Signals the project's layers use to talk upwards without importing each other.

``worker_draining``: sent by ``manage.py serve`` on the server's event loop (the
reactor's thread) when the worker starts draining on SIGTERM. Keyword argument
``window``: the seconds over which the worker's WebSockets should be closed, so
that their clients do not all reconnect in the same instant. A receiver closes the
connections it owns (the consumers app: every StreamConsumer and HealthConsumer,
with close code 1012) and returns an awaitable that is done once it has asked
them all to close, or None. core does not import the consumers; they connect to
this signal in their AppConfig.ready().
"""

from django.dispatch import Signal

worker_draining = Signal()
