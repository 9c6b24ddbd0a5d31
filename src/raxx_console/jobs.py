"""The worker's periodic jobs and the outbox's handlers, declared in one place so a newcomer sees
everything that runs."""

from __future__ import annotations

from collections.abc import Mapping

from raxx_console.alerts import lifecycle, notify
from raxx_console.config import Settings
from raxx_console.context import Console
from raxx_console.deploys import service as deploys
from raxx_console.integrations import registry
from raxx_console.outbox import kinds
from raxx_console.outbox import service as outbox
from raxx_console.status import poller
from raxx_console.tickets import delivery
from raxx_console.worker import PeriodicJob

#: The outbox is woken at once by new work (NOTIFY or a local enqueue); this is the fallback poll.
OUTBOX_INTERVAL_SECONDS = 5.0

#: Which function delivers which outbox kind. A kind missing here stays pending and shows on
#: the health panel (``no_handler``); every kind in ``outbox.kinds`` has its line.
OUTBOX_HANDLERS: Mapping[str, outbox.Handler] = {
    kinds.CREATE_KIND: delivery.deliver_create,
    kinds.TAGS_KIND: delivery.deliver_tags,
    kinds.NOTE_KIND: delivery.deliver_note,
    kinds.REFIRE_KIND: lifecycle.deliver_refire,
    kinds.CLOSE_KIND: lifecycle.deliver_close,
    kinds.RECOVERY_NOTE_KIND: lifecycle.deliver_recovery_note,
    kinds.SUBJECT_KIND: lifecycle.deliver_subject,
    kinds.SLACK_DM_KIND: notify.deliver_dm,
    kinds.SLACK_TICKET_LINK_KIND: notify.deliver_ticket_link,
}


def _prepare_outbox(console: Console) -> None:
    """Before the first item: listen for NOTIFYs, and build the third-party clients (building
    FreeScout's, its SSL context, on the first alert's path added ~25 ms to that ticket)."""
    outbox.listen(console)
    registry.freescout(console)
    registry.slack(console)


JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        "outbox",
        interval=lambda _settings: OUTBOX_INTERVAL_SECONDS,
        run=lambda c: outbox.deliver_due(c),
        waiter=outbox.wait_for_work,
        stop=outbox.stop_delivering,
        prepare=_prepare_outbox,
    ),
    poller.JOB,
    PeriodicJob(
        "deploys",
        interval=lambda settings: settings.DEPLOY_FOLLOW_INTERVAL,
        run=deploys.follow,
        waiter=deploys.wait_for_work,
    ),
)


def db_connections(settings: Settings) -> int:
    """The worker's database pool: a connection for each job's thread and each outbox deliverer."""
    return len(JOBS) + sum(pool.concurrency(settings) for pool in outbox.POOLS)
