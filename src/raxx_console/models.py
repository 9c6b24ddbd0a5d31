"""Every model, imported in one place so Alembic and ``Base.metadata`` see the whole schema."""

from raxx_console.alerts.models import Alert, AlertDecision
from raxx_console.audit.models import AuditLog
from raxx_console.auth.models import ApiToken, LoginThrottle, ServiceToken, TotpEnrolment, User
from raxx_console.call_failures import CallFailure
from raxx_console.customers.models import Customer
from raxx_console.db import Base
from raxx_console.deploys.models import Deploy
from raxx_console.flags.models import FlagOverride, FlagPromotion, FlagPromotionMark
from raxx_console.outbox.models import OutboxItem
from raxx_console.secrets.models import SecretRotation
from raxx_console.status.models import SurfaceCheck, SurfaceStatus
from raxx_console.tickets.models import Ticket
from raxx_console.worker import WorkerHeartbeat

__all__ = [
    "Alert",
    "AlertDecision",
    "ApiToken",
    "AuditLog",
    "Base",
    "CallFailure",
    "Customer",
    "Deploy",
    "FlagOverride",
    "FlagPromotion",
    "FlagPromotionMark",
    "LoginThrottle",
    "OutboxItem",
    "SecretRotation",
    "ServiceToken",
    "SurfaceCheck",
    "SurfaceStatus",
    "Ticket",
    "TotpEnrolment",
    "User",
    "WorkerHeartbeat",
]
