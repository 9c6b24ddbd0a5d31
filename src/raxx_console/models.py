"""Every model, imported in one place so Alembic and ``Base.metadata`` see the whole schema."""

from raxx_console.alerts.models import Alert, AlertDecision, WorkerHeartbeat
from raxx_console.audit.models import AuditLog
from raxx_console.auth.models import ApiToken, LoginThrottle, User
from raxx_console.customers.models import Customer
from raxx_console.db import Base
from raxx_console.flags.models import FlagOverride
from raxx_console.status.models import SurfaceCheck, SurfaceStatus
from raxx_console.tickets.models import OutboxItem, Ticket

__all__ = [
    "Alert",
    "AlertDecision",
    "ApiToken",
    "AuditLog",
    "Base",
    "Customer",
    "FlagOverride",
    "LoginThrottle",
    "OutboxItem",
    "SurfaceCheck",
    "SurfaceStatus",
    "Ticket",
    "User",
    "WorkerHeartbeat",
]
