"""scripts/stack's topology for tests: N daphne workers + M schedulers on the test database.

    with running_stack(tmp_path, workers=2, schedulers=1) as stack:
        web1, web2 = stack.workers
        stack.kill(web1)          # SIGKILL
        stack.restart(web1)       # same port, waits until /readyz answers
        extra = stack.start_process(stack.add_scheduler(TOMBOLA_FAILPOINTS=...))

The processes are spawned by deploy.stack (the code behind scripts/stack) with
tests/servers.py's environment: the test database pytest-django created, the
run's Redis prefix, one SECRET_KEY for all. Several processes only share
streams through Redis, so tests using this are marked `postgres` and `redis`
and `django_db(transaction=True)` (their writes must be committed to be seen).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from deploy.stack import Stack
from tests.servers import server_env


@contextlib.contextmanager
def running_stack(tmp_path: Path, *, workers: int = 2, schedulers: int = 2, **env_extra: str):
    env = server_env(tmp_path, PYTHONUNBUFFERED="1", **env_extra)
    with Stack(env, workers=workers, schedulers=schedulers, log_dir=tmp_path / "stack") as stack:
        yield stack


def access_token(stack: Stack, user) -> str:
    """A JWT access token for `user` that the stack's processes accept (signed with their key)."""
    from rest_framework_simplejwt.backends import TokenBackend
    from rest_framework_simplejwt.tokens import AccessToken

    signer = TokenBackend("HS256", signing_key=stack.env["SECRET_KEY"])
    return signer.encode(AccessToken.for_user(user).payload)
