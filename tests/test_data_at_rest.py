"""Personal data at rest: tickets sealed with AES-GCM, phone lookups by blind index, key rotation, the
migration of plaintext rows from today's schema, and `bianmin purge` — all on real SQLite files and, through
the CLI, in real subprocesses."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import insert, select, text, update

from bianmin.audit import audit_log
from bianmin.crypto import DataKeyError, DataKeys, add_active_key, drop_keys, encode_key, key_id_of, new_key
from bianmin.db import create_schema, make_engine
from bianmin.settings import Settings
from cases.models import tickets
from cases.registry import CaseStores
from cases.sql_store import SqlCaseStore, key_usage, purge_closed_tickets, reseal_tickets
from cases.store import Status
from cases_support import new_ticket

REPO = Path(__file__).resolve().parent.parent
PHONE, ID_NUMBER, NAME, ADDRESS = "13812345678", "110105199003071234", "张伟", "朝阳区建国路88号3栋501室"
PERSONAL = (PHONE, ID_NUMBER, NAME, ADDRESS, "3812345678", "1990030712")


def _fields(**extra: str) -> dict[str, str]:
    return {"phone": PHONE, "id_number": ID_NUMBER, "person_name": NAME, "address": ADDRESS, **extra}


def _raw_dump(db: Path) -> str:
    """Every byte SQLite holds for the tickets table, as text (what someone with the file sees)."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT * FROM tickets").fetchall()
    finally:
        con.close()
    return json.dumps(rows, ensure_ascii=False, default=str)


@pytest.fixture
async def sqlite_store(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = tmp_path / "bianmin.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await create_schema(engine)
    keys = DataKeys.from_env(tmp_path, env={})
    try:
        yield SqlCaseStore(engine, keys=keys), engine, db, keys
    finally:
        await engine.dispose()


async def test_ticket_fields_are_sealed_and_phone_is_a_blind_index(sqlite_store) -> None:  # type: ignore[no-untyped-def]
    store, engine, db, keys = sqlite_store
    made = (await store.create(new_ticket("legal_aid", fields=_fields()))).ticket
    await engine.dispose()   # flush WAL readers; the file is read directly below
    dump = _raw_dump(db)
    for secret in PERSONAL:
        assert secret not in dump, secret
    async with engine.connect() as conn:
        row = (await conn.execute(select(tickets).where(tickets.c.number == made.number))).one()
    assert set(row.fields) == {"sealed"} and key_id_of(row.fields["sealed"]) == keys.active
    assert row.contact_phone.startswith("h1") and len(row.contact_phone) == 20
    assert row.id_last4 == "1234"
    # reads and lookups still work
    got = await store.get(made.number)
    assert got is not None and got.fields["id_number"] == ID_NUMBER and got.fields["person_name"] == NAME
    assert [t.number for t in await store.find_by_contact(phone="138-1234-5678")] == [made.number]
    assert [t.number for t in await store.find_by_contact(phone=PHONE, id_last4="1234")] == [made.number]
    assert await store.find_by_contact(phone="13812345679") == []


async def test_sealed_value_is_standard_aes_gcm_bound_to_its_ticket(sqlite_store) -> None:  # type: ignore[no-untyped-def]
    store, engine, _db, keys = sqlite_store
    a = (await store.create(new_ticket(fields=_fields()))).ticket
    b = (await store.create(new_ticket(fields={"phone": "13900000000"}))).ticket
    async with engine.connect() as conn:
        sealed = {r.number: r.fields for r in await conn.execute(select(tickets.c.number, tickets.c.fields))}
    # the documented format opens with a plain AESGCM: v1.<key id>.<base64url(nonce ‖ ct ‖ tag)>, AAD = row
    version, kid, blob = sealed[a.number]["sealed"].split(".", 2)
    raw = base64.urlsafe_b64decode(blob)
    plain = AESGCM(keys.keys[kid]).decrypt(raw[:12], raw[12:], f"tickets.fields:{a.number}".encode())
    assert version == "v1" and json.loads(plain)["id_number"] == ID_NUMBER
    # a sealed form copied onto another ticket's row does not open there
    async with engine.begin() as conn:
        await conn.execute(update(tickets).where(tickets.c.number == b.number).values(fields=sealed[a.number]))
    from cases.store import CaseStoreUnavailable
    with pytest.raises(CaseStoreUnavailable):
        await store.get(b.number)


def test_aes_gcm_nist_vector() -> None:
    """The primitive itself (GCM spec test case 15 subset: 256-bit zero key, zero IV, one zero block)."""
    ct = AESGCM(bytes(32)).encrypt(bytes(12), bytes(16), None)
    assert ct.hex() == "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919"


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = DataKeys.from_env(tmp_path, env={})
    path = tmp_path / "data_keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DataKeys.from_env(tmp_path, env={})
    assert again.keys == first.keys and again.index_key == first.index_key and first.index_key not in first.keys.values()


def test_env_keys_format_and_errors(tmp_path: Path) -> None:
    k1, k2, idx = new_key(), new_key(), new_key()
    ring = DataKeys.from_env(tmp_path, env={"BIANMIN_DATA_KEY": f"k2:{encode_key(k2)},k1:{encode_key(k1)}",
                                             "BIANMIN_INDEX_KEY": encode_key(idx)})
    assert ring.active == "k2" and ring.keys == {"k2": k2, "k1": k1} and ring.index_key == idx
    assert not (tmp_path / "data_keys.json").exists()
    for bad in ({"BIANMIN_DATA_KEY": f"k1:{encode_key(k1)}"},                       # no index key
                {"BIANMIN_DATA_KEY": "k1:c2hvcnQ=", "BIANMIN_INDEX_KEY": encode_key(idx)},   # 5 bytes
                {"BIANMIN_DATA_KEY": encode_key(k1), "BIANMIN_INDEX_KEY": encode_key(idx)},  # no key id
                {"BIANMIN_INDEX_KEY": encode_key(idx)}):
        with pytest.raises(DataKeyError):
            DataKeys.from_env(tmp_path, env=bad)


async def test_rotation_old_ciphertexts_readable_until_resealed_then_retired(sqlite_store) -> None:  # type: ignore[no-untyped-def]
    store, engine, _db, keys = sqlite_store
    old = (await store.create(new_ticket(fields=_fields()))).ticket
    other_process = DataKeys.from_file(keys.path)           # e.g. the action server, started before rotation
    new_kid = add_active_key(keys)
    assert new_kid == "k2" and keys.active == "k2" and "k1" in keys.keys
    newer = (await SqlCaseStore(engine, keys=other_process).create(new_ticket(fields=_fields()))).ticket
    assert await key_usage(engine) == {"k1": 1, "k2": 1}    # the other process picked up the new key
    assert (await store.get(old.number)).fields["phone"] == PHONE          # old key still opens old rows
    with pytest.raises(DataKeyError):
        drop_keys(keys, {"k2"})                              # never the active key
    assert await reseal_tickets(engine, keys) == {"scanned": 2, "rewritten": 1}
    assert await key_usage(engine) == {"k2": 2}
    drop_keys(keys, {"k1"})
    assert set(keys.keys) == {"k2"}
    for number in (old.number, newer.number):
        assert (await store.get(number)).fields["id_number"] == ID_NUMBER
    assert [t.number for t in await store.find_by_contact(phone=PHONE)] == [newer.number, old.number]


async def _plaintext_row(engine, number: str = "TS20261123-0001") -> None:  # type: ignore[no-untyped-def]
    """A ticket as today's (pre-encryption) schema stored it: fields and contact_phone in plain text."""
    now = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)
    async with engine.begin() as conn:
        await conn.execute(insert(tickets).values(
            number=number, type="complaint", status="已受理", sender_id="web-old", channel="webchat",
            fields=_fields(description="楼下KTV每晚吵到半夜"), anonymous=False, query_code=None,
            contact_phone=PHONE, id_last4="1234", category=None, subcategory=None, department=None,
            deadlines=[], created_at=now, updated_at=now, rating=None))


async def test_plaintext_rows_from_todays_schema_are_migrated_on_start(tmp_path: Path) -> None:
    db = tmp_path / "bianmin.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await create_schema(engine)
    await _plaintext_row(engine)
    await engine.dispose()
    assert PHONE in _raw_dump(db)

    settings = Settings.from_env({"BIANMIN_VAR": str(tmp_path), "BIANMIN_HOME": str(REPO)})
    stores = CaseStores(settings)
    try:
        store = await stores.sql()            # opening the store seals what is still plaintext
        dump = _raw_dump(db)
        for secret in PERSONAL:
            assert secret not in dump, secret
        got = await store.get("TS20261123-0001")
        assert got is not None and got.fields["description"] == "楼下KTV每晚吵到半夜"
        assert got.fields["id_number"] == ID_NUMBER
        assert [t.number for t in await store.find_by_contact(phone=PHONE)] == ["TS20261123-0001"]
        assert await reseal_tickets(store.engine, store.keys) == {"scanned": 1, "rewritten": 0}   # idempotent
    finally:
        await stores.close()


def _cli(var: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "BIANMIN_VAR": str(var), "BIANMIN_HOME": str(REPO),
            "BIANMIN_DATABASE_URL": f"sqlite+aiosqlite:///{var / 'bianmin.db'}",
            "BIANMIN_TRACKER_DB": str(var / "tracker.db"), **(env or {})}
    for name in ("BIANMIN_DATA_KEY", "BIANMIN_INDEX_KEY"):
        if env is None or name not in env:
            full.pop(name, None)
    return subprocess.run([sys.executable, "-m", "bianmin.cli", *args], env=full, capture_output=True,
                          text=True, timeout=120)


async def test_cli_encrypt_rotate_and_retire(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'bianmin.db'}")
    await create_schema(engine)
    await _plaintext_row(engine)
    await engine.dispose()

    done = _cli(tmp_path, "db", "encrypt")
    assert done.returncode == 0, done.stderr
    assert "加密或重新加密 1 件" in done.stdout
    done = _cli(tmp_path, "db", "rotate-key")
    assert done.returncode == 0, done.stderr
    assert "新密钥 k2 已启用" in done.stdout and "重新加密 1 件" in done.stdout
    done = _cli(tmp_path, "db", "retire-keys")
    assert done.returncode == 0 and "k1" in done.stdout, done.stdout + done.stderr
    keys = DataKeys.from_file(tmp_path / "data_keys.json")
    assert set(keys.keys) == {"k2"}
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'bianmin.db'}")
    try:
        got = await SqlCaseStore(engine, keys=keys).get("TS20261123-0001")
        assert got is not None and got.fields["phone"] == PHONE
    finally:
        await engine.dispose()

    # with keys from the environment: a new key goes first in BIANMIN_DATA_KEY, rotate-key re-seals under it
    file_keys = json.loads((tmp_path / "data_keys.json").read_text())
    env = {"BIANMIN_DATA_KEY": f"prod2:{encode_key(new_key())},k2:{file_keys['keys']['k2']}",
           "BIANMIN_INDEX_KEY": file_keys["index_key"]}
    done = _cli(tmp_path, "db", "rotate-key", env=env)
    assert done.returncode == 0 and "prod2" in done.stdout, done.stdout + done.stderr
    done = _cli(tmp_path, "db", "key-status", env=env)
    assert "prod2" in done.stdout and "1 件" in done.stdout


def _tracker(db: Path, events: list[tuple[str, float]]) -> None:
    """Rasa's SQLTrackerStore table (the columns Rasa 3.6 creates), with one event per (sender, timestamp)."""
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                "action_name VARCHAR(255), data TEXT)")
    con.executemany("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, 'user', ?, ?)",
                    [(s, t, json.dumps({"text": f"电话{PHONE}"})) for s, t in events])
    con.commit()
    con.close()


async def test_purge_removes_old_conversations_and_closed_tickets_personal_data(tmp_path: Path) -> None:
    db = tmp_path / "bianmin.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await create_schema(engine)
    keys = DataKeys.from_env(tmp_path, env={})
    store = SqlCaseStore(engine, keys=keys)
    old_closed = (await store.create(new_ticket(fields=_fields(description=f"邻居{NAME}电话{PHONE}太吵")))).ticket
    old_open = (await store.create(new_ticket(fields=_fields()))).ticket
    new_closed = (await store.create(new_ticket(fields=_fields()))).ticket
    for number in (old_closed.number, new_closed.number):
        await store.update_status(number, Status.RESOLVED, "staff")
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=200)
    async with engine.begin() as conn:
        await conn.execute(update(tickets).where(tickets.c.number.in_([old_closed.number, old_open.number]))
                           .values(updated_at=long_ago))
    await engine.dispose()
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    _tracker(tmp_path / "tracker.db", [("web-old", now - 200 * 86400), ("web-old", now - 190 * 86400),
                                       ("web-recent", now - 200 * 86400), ("web-recent", now - 3600)])

    done = _cli(tmp_path, "purge", "--older-than", "180")
    assert done.returncode == 0, done.stderr
    assert "1 件" in done.stdout and "1 个" in done.stdout, done.stdout

    con = sqlite3.connect(tmp_path / "tracker.db")
    assert {r[0] for r in con.execute("SELECT DISTINCT sender_id FROM events")} == {"web-recent"}
    con.close()
    try:
        purged = await store.get(old_closed.number)
        assert purged is not None
        assert not {"phone", "id_number", "person_name", "address"} & set(purged.fields)
        assert PHONE not in purged.fields["description"] and "purged_at" in purged.fields
        assert purged.sender_id == "purged" and await store.find_by_contact(phone=PHONE) != []
        assert old_closed.number not in [t.number for t in await store.find_by_contact(phone=PHONE)]
        for number in (old_open.number, new_closed.number):     # open, or closed recently: untouched
            assert (await store.get(number)).fields["phone"] == PHONE
        async with engine.connect() as conn:
            rows = (await conn.execute(select(audit_log.c.action, audit_log.c.target, audit_log.c.detail)
                                       .order_by(audit_log.c.id))).all()
        assert [(r.action, r.target) for r in rows] == [("purge_ticket_personal_data", old_closed.number),
                                                        ("purge", "older_than=180d")]
        assert rows[1].detail == {"tickets": 1, "conversations": 1}
        # a second run finds nothing more
        assert await purge_closed_tickets(engine, keys, dt.timedelta(days=180)) == []
    finally:
        await engine.dispose()


def test_purge_refuses_nonsense(tmp_path: Path) -> None:
    done = _cli(tmp_path, "purge", "--older-than", "0")
    assert done.returncode == 2 and "至少" in done.stderr


async def test_text_of_the_sqlite_file_holds_no_personal_data_after_many_tickets(sqlite_store) -> None:  # type: ignore[no-untyped-def]
    store, engine, db, _keys = sqlite_store
    for i in range(5):
        await store.create(new_ticket("legal_aid", fields=_fields(description=f"第{i}件 拖欠工资")))
    async with engine.connect() as conn:
        await conn.execute(text("PRAGMA wal_checkpoint(FULL)"))
    await engine.dispose()
    blob = b"".join(p.read_bytes() for p in db.parent.glob("bianmin.db*"))
    for secret in PERSONAL:
        assert secret.encode() not in blob, secret
