"""A test-only app for servers started by tests and benchmarks (never installed otherwise).

It adds, through its own settings module (tests.ws_e2e.settings):
- a DB-free "event" stream kind, so that ws/events/<id>/ works in a server
  process whatever the domain apps register;
- POST /e2e/publish/ {"stream", "type", "data"}: publish from inside the
  server process (the in-memory channel layer reaches only its own process).
"""
