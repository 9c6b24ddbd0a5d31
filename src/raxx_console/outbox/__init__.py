"""The durable outbox: calls to FreeScout and Slack that must happen once, even across outages.

Infrastructure below ``tickets/`` and ``alerts/``: ``models`` (the ``outbox`` table), ``kinds``
(every item kind, named once) and ``service`` (enqueue, the lease rule, claiming, cancelling,
delivery and the read-outs the health panel shows). The domains write items and deliver them
through these functions; none of them selects ``OutboxItem`` itself. Which function delivers
which kind is the explicit table ``OUTBOX_HANDLERS`` in ``raxx_console/jobs.py``.
"""
