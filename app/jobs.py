"""Periodic jobs that features add to the scheduler process without the scheduler knowing them.

A feature declares one in its `subscribers.py` (imported by `register_subscribers` in the app
factory), next to its event subscribers:

    @scheduled("applause", "Applause emails", every="SCHEDULER_APPLAUSE_SECONDS")
    def notify_applause(should_stop): ...

`app.newsletter.scheduler` runs every registered job in the app context, never two ticks of one
job at once; the interval is the setting named by `every` (declared, with its default, in
config.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

JobFunction = Callable[[Callable[[], bool]], object]  # receives `should_stop`


@dataclass(frozen=True)
class Job:
    id: str
    description: str
    run: JobFunction
    every: str  # the setting holding the interval in seconds (config.py)


_jobs: dict[str, Job] = {}


def scheduled(job_id: str, description: str, *, every: str) -> Callable[[JobFunction], JobFunction]:
    def decorate(run: JobFunction) -> JobFunction:
        _jobs[job_id] = Job(job_id, description, run, every)
        return run

    return decorate


def registered_jobs() -> list[Job]:
    return list(_jobs.values())
