"""People and machines that may use the console."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from raxx_console.db import Base


class Role(IntEnum):
    """Ordered, so ``user.role >= Role.operator`` reads as it means."""

    viewer = 1
    operator = 2
    admin = 3


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role_name: Mapped[str] = mapped_column("role", String(20), nullable=False, default="viewer")
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column()
    #: Bumped by ``end_all_sessions``: a session cookie carrying an older value is refused.
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def role(self) -> Role:
        return Role[self.role_name]


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(back_populates="tokens")


class ServiceToken(Base):
    """A bearer token for another console (peers.py): no user, no login, only ``/api/peer/``.

    Stored like an ``ApiToken`` (SHA-256 only); a table of its own, so it can never be mistaken
    for a person's token and borrow a role.
    """

    __tablename__ = "service_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class TotpEnrolment(Base):
    """An admin's TOTP secret (``auth.totp``); confirmed by a first code before it counts.

    ``last_used_step`` is the time step of the last accepted code, so a code is refused for the
    rest of its window (replay); ``locked_until`` holds the lockout after too many failures.
    """

    __tablename__ = "totp_enrolments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column()
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    locked_until: Mapped[datetime | None] = mapped_column()


class LoginThrottle(Base):
    """Failed logins for one key (``email:…`` or ``addr:…``) in the current window.

    The row is locked while a login is checked, so concurrent attempts queue and each sees the
    count the one before it left (docs/decisions.md, "An atomic login limit").
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_started_at: Mapped[datetime] = mapped_column(nullable=False)
