"""The worker's periodic jobs, declared in one place so a newcomer sees everything that runs."""

from __future__ import annotations

from raxx_console.alerts import (
    lifecycle,  # noqa: F401 - registers freescout.refire, freescout.close, freescout.recovery_note
    notify,  # noqa: F401 - registers slack.dm
)
from raxx_console.deploys import service as deploys
from raxx_console.status import poller
from raxx_console.tickets import (
    delivery,  # noqa: F401 - registers the FreeScout outbox handlers
    outbox,
)
from raxx_console.worker import PeriodicJob

#: The outbox is woken at once by new work (NOTIFY or a local enqueue); this is the fallback poll.
OUTBOX_INTERVAL_SECONDS = 5.0

JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        "outbox",
        interval=lambda _settings: OUTBOX_INTERVAL_SECONDS,
        run=lambda c: outbox.deliver_due(c),
        waiter=outbox.wait_for_work,
    ),
    poller.JOB,
    PeriodicJob(
        "deploys",
        interval=lambda settings: settings.DEPLOY_FOLLOW_INTERVAL,
        run=deploys.follow,
        waiter=deploys.wait_for_work,
    ),
)
