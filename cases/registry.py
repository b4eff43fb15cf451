"""Which case store each ticket type lives in, from configuration.

``BIANMIN_CASE_STORE`` (default ``sql``) applies to every type; ``BIANMIN_CASE_STORE_COMPLAINT`` /
``_PETITION`` / ``_LEGAL_AID`` override it per type. ``http`` stores talk to ``BIANMIN_CASE_HTTP_URL`` with
``BIANMIN_CASE_HTTP_TOKEN``. Stores are created lazily on first use. Their connections belong to one event
loop, so there is one ``CaseStores`` per process *and* loop: the web app keeps its own (on the app), the
Sanic action server uses ``get_case_stores()``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import weakref
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bianmin.crypto import DataKeys
from bianmin.db import create_schema, make_engine
from bianmin.settings import Settings
from cases.http_store import HttpCaseStore
from cases.sql_store import SqlCaseStore, reseal_tickets
from cases.store import (TICKET_NUMBER_RE, TICKET_TYPES, TYPE_BY_PREFIX, CaseStore, CaseStoreUnavailable, Status,
                         Ticket, TicketNotFound, TicketPage)

log = logging.getLogger(__name__)

#: Stores answer at most this many tickets per listing call (the case API's page limit).
PAGE_LIMIT = 100

KINDS = ("sql", "http")
#: name -> (default, meaning); the README's "Case stores" section lists the same.
ENV_VARS: dict[str, tuple[str, str]] = {
    "BIANMIN_CASE_STORE": ("sql", "Case store of every ticket type: sql (bianmin's database) or http."),
    "BIANMIN_CASE_STORE_COMPLAINT": ("<BIANMIN_CASE_STORE>", "Store for complaints (sql | http)."),
    "BIANMIN_CASE_STORE_PETITION": ("<BIANMIN_CASE_STORE>", "Store for petitions (sql | http)."),
    "BIANMIN_CASE_STORE_LEGAL_AID": ("<BIANMIN_CASE_STORE>", "Store for legal-aid applications (sql | http)."),
    "BIANMIN_CASE_HTTP_URL": ("", "Base URL of the external case system (required when a type uses http)."),
    "BIANMIN_CASE_HTTP_TOKEN": ("", "Bearer token for the external case system."),
    "BIANMIN_CASE_HTTP_TIMEOUT": ("4", "Seconds per HTTP request to the case system."),
    "BIANMIN_CASE_HTTP_RETRIES": ("2", "Retries after a connection error, timeout or 5xx (bounded)."),
    "BIANMIN_CASE_API_TOKEN": ("", "Token other systems use for this app's /api/cases; unset = API disabled."),
}


class CaseStoreConfigError(ValueError):
    """The case-store variables are inconsistent; the message names the variable."""


@dataclass(frozen=True)
class CaseStoreConfig:
    kinds: dict[str, str]              # ticket type -> "sql" | "http"
    http_url: str = ""
    http_token: str = ""
    http_timeout: float = 4.0
    http_retries: int = 2

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "CaseStoreConfig":
        e = os.environ if env is None else env
        get = lambda k: (e.get(k) or "").strip()  # noqa: E731
        default = get("BIANMIN_CASE_STORE").lower() or "sql"
        if default not in KINDS:
            raise CaseStoreConfigError(f"BIANMIN_CASE_STORE={default!r}：只能是 sql 或 http")
        kinds = {}
        for ticket_type in TICKET_TYPES:
            name = f"BIANMIN_CASE_STORE_{ticket_type.upper()}"
            kind = get(name).lower() or default
            if kind not in KINDS:
                raise CaseStoreConfigError(f"{name}={kind!r}：只能是 sql 或 http")
            kinds[ticket_type] = kind
        url = get("BIANMIN_CASE_HTTP_URL")
        if "http" in kinds.values() and not url.startswith(("http://", "https://")):
            raise CaseStoreConfigError("有工单类型使用 http 工单库，但 BIANMIN_CASE_HTTP_URL 未设置或不是 http(s) 地址")
        try:
            timeout = float(get("BIANMIN_CASE_HTTP_TIMEOUT") or 4)
            retries = int(get("BIANMIN_CASE_HTTP_RETRIES") or 2)
        except ValueError as exc:
            raise CaseStoreConfigError("BIANMIN_CASE_HTTP_TIMEOUT / _RETRIES 应是数字") from exc
        if not (0 < timeout <= 120) or not (0 <= retries <= 10):
            raise CaseStoreConfigError("BIANMIN_CASE_HTTP_TIMEOUT 应在 0–120 秒，BIANMIN_CASE_HTTP_RETRIES 应在 0–10")
        return cls(kinds=kinds, http_url=url, http_token=get("BIANMIN_CASE_HTTP_TOKEN"), http_timeout=timeout,
                   http_retries=retries)


class CaseStores:
    """The stores of one process and event loop. ``engine``: reuse an engine the caller owns (the web app's)."""

    def __init__(self, settings: Optional[Settings] = None, *, config: Optional[CaseStoreConfig] = None,
                 engine: Optional[AsyncEngine] = None) -> None:
        self.settings = settings or Settings.from_env()
        self.config = config or CaseStoreConfig.from_env()
        self._engine = engine
        self._owns_engine = engine is None
        self._sql: Optional[SqlCaseStore] = None
        self._http: Optional[HttpCaseStore] = None
        self._lock: Optional[asyncio.Lock] = None

    async def sql(self) -> SqlCaseStore:
        """bianmin's own store (also what /api/cases serves, whatever the per-type configuration says)."""
        if self._sql is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._sql is None:
                    self._sql = await self._open_sql()
        return self._sql

    async def _open_sql(self) -> SqlCaseStore:
        if self._engine is not None and not self._owns_engine:
            return SqlCaseStore(self._engine, keys=DataKeys.from_env(self.settings.var))
        engine = make_engine(self.settings.database_url)
        last: Exception | None = None
        for _ in range(3):   # two processes creating the schema at once: the loser retries and finds it there
            try:
                await create_schema(engine)
                break
            except (SQLAlchemyError, OSError, asyncio.TimeoutError) as exc:
                last = exc
                await asyncio.sleep(0.2)
        else:
            await engine.dispose()
            raise CaseStoreUnavailable("工单库暂时无法访问") from last
        self._engine = engine
        store = SqlCaseStore(engine, keys=DataKeys.from_env(self.settings.var))
        try:   # tickets filed before encryption (or under a retired key) are sealed now; quick when none are
            await reseal_tickets(engine, store.keys)
        except (SQLAlchemyError, OSError, asyncio.TimeoutError) as exc:
            log.warning("case store: sealing older tickets failed (%s); retried on the next start", type(exc).__name__)
        return store

    def http(self) -> HttpCaseStore:
        if self._http is None:
            self._http = HttpCaseStore(self.config.http_url, self.config.http_token,
                                       timeout=self.config.http_timeout, retries=self.config.http_retries)
        return self._http

    async def for_type(self, ticket_type: str) -> CaseStore:
        kind = self.config.kinds.get(ticket_type)
        if kind is None:
            raise ValueError(f"unknown ticket type {ticket_type!r}")
        return self.http() if kind == "http" else await self.sql()

    async def for_number(self, number: str) -> CaseStore:
        """The store holding ``number`` (by its prefix); a malformed number is a ticket that does not exist."""
        match = TICKET_NUMBER_RE.match(str(number or "").strip().upper())
        if match is None:
            raise TicketNotFound(f"工单编号“{number}”格式不正确")
        return await self.for_type(TYPE_BY_PREFIX[match.group(1)])

    async def all(self) -> list[CaseStore]:
        """Each configured store once (a store serving several types is listed once)."""
        out: list[Union[SqlCaseStore, HttpCaseStore]] = []
        for ticket_type in TICKET_TYPES:
            store = await self.for_type(ticket_type)
            if all(store is not s for s in out):
                out.append(store)  # type: ignore[arg-type]
        return out  # type: ignore[return-value]

    def types_of(self, store: CaseStore) -> list[str]:
        """The ticket types ``store`` serves (so a listing does not show another store's types twice)."""
        return [t for t, k in self.config.kinds.items()
                if (k == "http" and store is self._http) or (k == "sql" and store is self._sql)]

    async def list_tickets(self, *, status: Optional[Status] = None, ticket_type: Optional[str] = None,
                           category: Optional[str] = None, limit: int = 20, offset: int = 0) -> TicketPage:
        """One page (newest first) across the configured stores, each asked only for the types it serves.
        With several stores, each is read up to ``offset + limit`` tickets and the results merged."""
        if ticket_type:
            sources: list[tuple[Any, Optional[str]]] = [(await self.for_type(ticket_type), ticket_type)]  # ListableCaseStore
        else:
            sources = []
            for store in await self.all():
                served = self.types_of(store)
                sources += [(store, None)] if len(served) == len(TICKET_TYPES) else [(store, t) for t in served]
        if len(sources) == 1:
            store, t = sources[0]
            return await store.list_tickets(status=status, ticket_type=t, category=category, limit=limit,
                                            offset=offset)
        merged: list[Ticket] = []
        total = 0
        for store, t in sources:
            got: list[Ticket] = []
            while True:
                page = await store.list_tickets(status=status, ticket_type=t, category=category,
                                                limit=min(PAGE_LIMIT, offset + limit - len(got)), offset=len(got))
                got += page.tickets
                if not page.tickets or len(got) >= min(offset + limit, page.total):
                    break
            merged += got
            total += page.total
        merged.sort(key=lambda ticket: ticket.created_at, reverse=True)
        return TicketPage(merged[offset:offset + limit], total)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._owns_engine and self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        self._sql = None


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CaseStores]" = weakref.WeakKeyDictionary()


def get_case_stores() -> CaseStores:
    """This process's stores for the running event loop (the action server's entry point)."""
    loop = asyncio.get_running_loop()
    stores = _per_loop.get(loop)
    if stores is None:
        stores = _per_loop[loop] = CaseStores()
    return stores


async def close_case_stores() -> None:
    """Close the running loop's stores (server shutdown hook)."""
    stores = _per_loop.pop(asyncio.get_running_loop(), None)
    if stores is not None:
        await stores.close()
