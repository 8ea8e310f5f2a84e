"""Periodic jobs run by the scheduler loop (live/scheduler.py owns the loop).

Apps register jobs in AppConfig.ready(); the loop calls every due job. A job
must be safe to run in several scheduler processes at once (lock what it
changes, e.g. select_for_update(skip_locked=True)), and quick: it runs on
the loop's thread between countdown ticks.

    register_periodic("ticketing.expire_holds", holds_expire, every_seconds=1)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: Callable[[], object]
    every_seconds: float


_jobs: dict[str, PeriodicJob] = {}


def register_periodic(name: str, func: Callable[[], object], *, every_seconds: float) -> None:
    _jobs[name] = PeriodicJob(name=name, func=func, every_seconds=every_seconds)


def periodic_jobs() -> list[PeriodicJob]:
    return list(_jobs.values())


class FailureLog:
    """Logs a repeating failure's traceback once per `seconds` per key, the rest at
    DEBUG: a job that runs ten times a second while Redis is down would otherwise write
    ten tracebacks a second. Call inside an ``except`` block."""

    def __init__(self, logger: logging.Logger, seconds: float = 10.0) -> None:
        self.logger = logger
        self.seconds = seconds
        self._logged: dict[Hashable, float] = {}

    def exception(self, key: Hashable, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged.get(key, -math.inf) >= self.seconds:
            self._logged[key] = now
            self.logger.exception(message, *args)
        else:
            self.logger.debug(message + " again", *args, exc_info=True)
