"""Which store serves which ticket type (configuration), and the staff listing across a local SQL store and
an external HTTP case system (a real bianmin web app)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bianmin.settings import Settings
from cases.http_store import HttpCaseStore
from cases.registry import CaseStoreConfig, CaseStoreConfigError, CaseStores, get_case_stores
from cases.sql_store import SqlCaseStore
from cases.store import TicketNotFound
from cases_support import API_TOKEN, REPO, new_ticket, web_app_server


def test_config_defaults_and_overrides() -> None:
    assert CaseStoreConfig.from_env({}).kinds == {"complaint": "sql", "petition": "sql", "legal_aid": "sql"}
    cfg = CaseStoreConfig.from_env({"BIANMIN_CASE_STORE_COMPLAINT": "HTTP", "BIANMIN_CASE_HTTP_URL": "http://x:1/",
                                    "BIANMIN_CASE_HTTP_TOKEN": "t", "BIANMIN_CASE_HTTP_RETRIES": "4"})
    assert cfg.kinds == {"complaint": "http", "petition": "sql", "legal_aid": "sql"}
    assert (cfg.http_token, cfg.http_retries, cfg.http_timeout) == ("t", 4, 4.0)


@pytest.mark.parametrize("env, names", [
    ({"BIANMIN_CASE_STORE": "mongo"}, "BIANMIN_CASE_STORE"),
    ({"BIANMIN_CASE_STORE_PETITION": "ftp"}, "BIANMIN_CASE_STORE_PETITION"),
    ({"BIANMIN_CASE_STORE": "http"}, "BIANMIN_CASE_HTTP_URL"),
    ({"BIANMIN_CASE_STORE": "http", "BIANMIN_CASE_HTTP_URL": "x", "BIANMIN_CASE_HTTP_RETRIES": "many"},
     "BIANMIN_CASE_HTTP_URL"),
    ({"BIANMIN_CASE_HTTP_TIMEOUT": "0"}, "BIANMIN_CASE_HTTP_TIMEOUT"),
])
def test_bad_configuration_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(CaseStoreConfigError, match=names):
        CaseStoreConfig.from_env(env)


async def test_mixed_stores_route_by_type_and_number_and_list_together(tmp_path: Path) -> None:
    async with web_app_server(tmp_path / "remote") as (url, _app):
        config = CaseStoreConfig.from_env({"BIANMIN_CASE_STORE_COMPLAINT": "http", "BIANMIN_CASE_HTTP_URL": url,
                                           "BIANMIN_CASE_HTTP_TOKEN": API_TOKEN})
        local = Settings.from_env({"BIANMIN_VAR": str(tmp_path / "local"), "BIANMIN_HOME": str(REPO)})
        stores = CaseStores(local, config=config)
        try:
            complaints, petitions = await stores.for_type("complaint"), await stores.for_type("petition")
            assert isinstance(complaints, HttpCaseStore) and isinstance(petitions, SqlCaseStore)
            assert await stores.for_type("legal_aid") is petitions
            assert len(await stores.all()) == 2
            made = []
            for ticket_type in ("complaint", "petition", "complaint", "legal_aid", "complaint"):
                made.append((await (await stores.for_type(ticket_type)).create(new_ticket(ticket_type))).ticket)
            assert await stores.for_number(made[0].number) is complaints
            assert await stores.for_number(made[1].number.lower()) is petitions
            with pytest.raises(TicketNotFound):
                await stores.for_number("AB20261123-0001")
            # the remote bianmin also holds a petition of its own: it must not show up as ours
            await complaints.create(new_ticket("petition"))

            page = await stores.list_tickets(limit=10)
            assert [t.number for t in page.tickets] == [t.number for t in reversed(made)] and page.total == 5
            page = await stores.list_tickets(limit=2, offset=2)
            assert [t.number for t in page.tickets] == [made[2].number, made[1].number]
            assert (await stores.list_tickets(ticket_type="complaint")).total == 3
            assert (await stores.list_tickets(ticket_type="petition")).total == 1
        finally:
            await stores.close()
    assert (tmp_path / "local" / "bianmin.db").exists()


def test_get_case_stores_is_per_event_loop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BIANMIN_VAR", str(tmp_path))

    async def twice() -> tuple[CaseStores, CaseStores]:
        return get_case_stores(), get_case_stores()

    a1, a2 = asyncio.run(twice())
    b1, _ = asyncio.run(twice())
    assert a1 is a2 and b1 is not a1
