"""The worker's job loop: preparation before the first cycle, and a failing one does not stop the job."""

from __future__ import annotations

import threading

from raxx_console.worker import PeriodicJob, Worker


def _run_until(console, job: PeriodicJob, cycles: threading.Event) -> None:
    worker = Worker(console, (job,)).start()
    try:
        assert cycles.wait(10), "the job never ran"
    finally:
        worker.stop()


def test_a_job_is_prepared_once_before_its_first_cycle(app):
    console = app.extensions["raxx_console"]
    seen: list[str] = []
    ran = threading.Event()

    def run(_console) -> None:
        seen.append("run")
        if seen.count("run") == 2:
            ran.set()

    job = PeriodicJob(
        "prepared", interval=lambda _settings: 0.01, run=run, prepare=lambda _console: seen.append("prepare")
    )
    _run_until(console, job, ran)
    assert seen[:3] == ["prepare", "run", "run"]
    assert seen.count("prepare") == 1


def test_a_failed_preparation_is_logged_and_the_job_runs_anyway(app, caplog):
    console = app.extensions["raxx_console"]
    ran = threading.Event()

    def prepare(_console) -> None:
        raise RuntimeError("no client today")

    job = PeriodicJob(
        "unprepared", interval=lambda _settings: 60, run=lambda _console: ran.set(), prepare=prepare
    )
    _run_until(console, job, ran)
    assert "worker job preparation failed job=unprepared" in caplog.text
