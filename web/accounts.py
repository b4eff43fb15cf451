"""Staff and admin accounts (hashed passwords) and login sessions, in bianmin's database."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bianmin import audit
from bianmin.db import metadata

ROLES = ("staff", "admin")
SESSION_TTL = dt.timedelta(hours=12)

staff_users = Table(
    "staff_users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(64), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

staff_sessions = Table(
    "staff_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class AccountError(Exception):
    """A domain error about accounts (duplicate user, unknown role, bad credentials)."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can(self, role: str) -> bool:
        """Admins can do everything staff can."""
        return self.role == role or self.role == "admin"


# ------------------------------------------------------------------ passwords (scrypt, stdlib)
_N, _R, _P = 2 ** 14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(bytes.fromhex(digest)))
        return hmac.compare_digest(got.hex(), digest)
    except (ValueError, TypeError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add_user(self, username: str, password: str, role: str = "staff", display_name: str = "",
                       actor: str = "cli") -> StaffUser:
        if role not in ROLES:
            raise AccountError(f"未知角色 {role}（可选：{', '.join(ROLES)}）")
        if not username or len(username) > 64:
            raise AccountError("用户名不能为空，且不超过64个字符")
        if len(password) < 8:
            raise AccountError("密码至少8位")
        hashed = await asyncio.to_thread(hash_password, password)
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(insert(staff_users).values(
                    username=username, display_name=display_name or username, password_hash=hashed,
                    role=role, active=True, created_at=audit.utcnow()))
                user_id = result.inserted_primary_key[0]
                await audit.record(conn, actor, "user.add", username, role=role)
        except IntegrityError as exc:
            raise AccountError(f"用户 {username} 已存在") from exc
        return StaffUser(user_id, username, display_name or username, role)

    async def set_password(self, username: str, password: str, actor: str = "cli") -> None:
        if len(password) < 8:
            raise AccountError("密码至少8位")
        hashed = await asyncio.to_thread(hash_password, password)
        async with self.engine.begin() as conn:
            res = await conn.execute(update(staff_users).where(staff_users.c.username == username)
                                     .values(password_hash=hashed))
            if res.rowcount == 0:
                raise AccountError(f"没有用户 {username}")
            await audit.record(conn, actor, "user.passwd", username)

    async def set_active(self, username: str, active: bool, actor: str = "cli") -> None:
        async with self.engine.begin() as conn:
            res = await conn.execute(update(staff_users).where(staff_users.c.username == username)
                                     .values(active=active))
            if res.rowcount == 0:
                raise AccountError(f"没有用户 {username}")
            if not active:
                ids = select(staff_users.c.id).where(staff_users.c.username == username).scalar_subquery()
                await conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == ids))
            await audit.record(conn, actor, "user.enable" if active else "user.disable", username)

    async def list_users(self) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(staff_users.c.username, staff_users.c.display_name, staff_users.c.role,
                                             staff_users.c.active, staff_users.c.created_at).order_by(staff_users.c.id))
            return [dict(r._mapping) for r in rows]

    async def authenticate(self, username: str, password: str) -> StaffUser | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(staff_users).where(staff_users.c.username == username))).first()
        if row is None or not row.active:
            await asyncio.to_thread(hash_password, password)  # same cost either way: no user enumeration by timing
            return None
        if not await asyncio.to_thread(verify_password, password, row.password_hash):
            return None
        return StaffUser(row.id, row.username, row.display_name, row.role)

    async def open_session(self, user: StaffUser) -> str:
        token = secrets.token_urlsafe(32)
        now = audit.utcnow()
        async with self.engine.begin() as conn:
            await conn.execute(insert(staff_sessions).values(
                token_hash=_token_hash(token), user_id=user.id, created_at=now, expires_at=now + SESSION_TTL))
            await audit.record(conn, user.username, "login")
        return token

    async def session_user(self, token: str | None) -> StaffUser | None:
        if not token or len(token) > 128:
            return None
        query = (select(staff_users, staff_sessions.c.expires_at)
                 .join(staff_sessions, staff_sessions.c.user_id == staff_users.c.id)
                 .where(staff_sessions.c.token_hash == _token_hash(token)))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or not row.active or _as_utc(row.expires_at) < audit.utcnow():
            return None
        return StaffUser(row.id, row.username, row.display_name, row.role)

    async def close_session(self, token: str | None) -> None:
        if not token:
            return
        async with self.engine.begin() as conn:
            await conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == _token_hash(token)))
