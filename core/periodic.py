"""Periodic jobs run by the scheduler loop (live/scheduler.py owns the loop).

Apps register jobs in AppConfig.ready(); the loop calls every due job. A job
must be safe to run in several scheduler processes at once (lock what it
changes, e.g. select_for_update(skip_locked=True)), and quick: it runs on
the loop's thread between countdown ticks.

    register_periodic("ticketing.expire_holds", holds_expire, every_seconds=1)
"""

from __future__ import annotations

from collections.abc import Callable
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
