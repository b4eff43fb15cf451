"""bot/endpoints.scale.yml against the real services: Rasa's own loaders build the PostgreSQL tracker store and
the Redis lock store from it, with the variables `bianmin run` gives its children, and both work across two
store instances — what several Rasa processes behind a load balancer share."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from bianmin.settings import Settings
from cases_support import PG_ENV, pg_url

REPO = Path(__file__).resolve().parent.parent
REDIS_ENV = "BIANMIN_TEST_REDIS_URL"

needs_services = pytest.mark.skipif(pg_url() is None or not os.environ.get(REDIS_ENV),
                                reason=f"{PG_ENV} and {REDIS_ENV} are needed (set by .ci/run)")


@pytest.fixture
def endpoints(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    pg, redis = urlparse(pg_url() or ""), urlparse(os.environ[REDIS_ENV])
    given = {"BIANMIN_PG_HOST": pg.hostname or "127.0.0.1", "BIANMIN_PG_PORT": str(pg.port or 5432),
             "BIANMIN_PG_DB": pg.path.lstrip("/") or "test", "BIANMIN_PG_USER": pg.username or "postgres",
             "BIANMIN_PG_PASSWORD": pg.password or "", "BIANMIN_REDIS_HOST": redis.hostname or "127.0.0.1",
             "BIANMIN_REDIS_PORT": str(redis.port or 6379)}
    for name, value in Settings.from_env(given).child_env().items():   # what `bianmin run` hands to Rasa
        monkeypatch.setenv(name, value)
    from rasa.core.utils import AvailableEndpoints

    return AvailableEndpoints.read_endpoints(str(REPO / "bot" / "endpoints.scale.yml"))


def test_scale_variables_have_defaults() -> None:
    env = Settings.from_env({}).child_env()
    assert env["BIANMIN_PG_HOST"] == "127.0.0.1" and env["BIANMIN_REDIS_PORT"] == "6379"
    text = (REPO / "bot" / "endpoints.scale.yml").read_text(encoding="utf-8")
    referenced = {part.split("}")[0] for part in text.split("${")[1:]}
    assert referenced <= set(env), referenced - set(env)


@needs_services
async def test_postgres_tracker_store_is_shared(endpoints) -> None:  # type: ignore[no-untyped-def]
    from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(REPO / "bot" / "domain"))
    first, second = TrackerStore.create(endpoints.tracker_store, domain), \
        TrackerStore.create(endpoints.tracker_store, domain)
    assert isinstance(first, SQLTrackerStore) and first.engine.dialect.name == "postgresql"
    sender = f"scale-test-{uuid.uuid4().hex}"
    try:
        tracker = DialogueStateTracker.from_events(sender, [
            ActionExecuted("action_listen"),
            UserUttered("楼下烧烤店油烟太大", {"name": "complaint", "confidence": 0.97})])
        await first.save(tracker)
        seen = await second.retrieve(sender)   # another Rasa process reads what this one wrote
        assert seen is not None and seen.latest_message.text == "楼下烧烤店油烟太大"
        assert seen.latest_message.intent["name"] == "complaint"
    finally:
        with first.session_scope() as session:
            session.query(first.SQLEvent).filter(first.SQLEvent.sender_id == sender).delete()
            session.commit()


@needs_services
async def test_redis_lock_store_is_shared(endpoints) -> None:  # type: ignore[no-untyped-def]
    from rasa.core.lock_store import LockStore, RedisLockStore

    first, second = LockStore.create(endpoints.lock_store), LockStore.create(endpoints.lock_store)
    assert isinstance(first, RedisLockStore)
    sender = f"scale-test-{uuid.uuid4().hex}"
    async with first.lock(sender):
        held = second.get_lock(sender)   # the lock lives in Redis, not in this process
        assert held is not None and held.tickets
        waiting = second.issue_ticket(sender)   # another Rasa process queues behind it
        assert second.get_lock(sender).is_locked(waiting)
    assert not second.get_lock(sender).is_locked(waiting)   # first is done: the queued one is served next
    second.cleanup(sender, waiting)
    assert second.get_lock(sender) is None
