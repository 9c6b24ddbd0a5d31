"""The worker's periodic jobs, declared in one place so a newcomer sees everything that runs."""

from __future__ import annotations

from raxx_console.worker import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
