"""Configuration from environment variables with embedded defaults.

Every knob is listed in ``ENV_VARS`` (the README's configuration table is generated from the same names).
Paths default to the repository checkout (``var/`` for state), so ``make run`` works on a fresh machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: name -> (default, meaning). Defaults that depend on other values are computed in ``Settings.from_env``.
ENV_VARS: dict[str, tuple[str, str]] = {
    "BIANMIN_HOME": ("<repo>", "Project root (bot/, nlu_data/, knowledge/ are read from here)."),
    "BIANMIN_VAR": ("<home>/var", "State directory: SQLite files, logs, runtime files."),
    "BIANMIN_HOST": ("127.0.0.1", "Interface the web app and action server bind to."),
    "BIANMIN_WEB_PORT": ("8080", "Web app port (resident chat /, staff console /staff, admin /admin)."),
    "BIANMIN_RASA_PORT": ("5005", "Rasa server port (REST channel /webhooks/rest/webhook, HTTP API)."),
    "BIANMIN_RASA_INTERFACE": ("127.0.0.1", "Interface the Rasa server binds to; keep localhost while the HTTP API has no token."),
    "BIANMIN_ACTION_PORT": ("5055", "Action server port."),
    "BIANMIN_RASA_URL": ("http://127.0.0.1:<rasa port>", "Where the web app reaches Rasa."),
    "BIANMIN_RASA_TOKEN": ("", "Token for Rasa's HTTP API (--auth-token); required when Rasa is not on localhost."),
    "BIANMIN_ACTION_URL": ("http://127.0.0.1:<action port>/webhook", "Where Rasa reaches the action server."),
    "BIANMIN_DATABASE_URL": ("sqlite+aiosqlite:///<var>/bianmin.db", "Case store, FAQ, staff accounts (SQLAlchemy async URL)."),
    "BIANMIN_TRACKER_DB": ("<var>/tracker.db", "SQLite file of Rasa's tracker store (local mode)."),
    "BIANMIN_RASA_ENDPOINTS": ("<home>/bot/endpoints.yml", "Rasa endpoints file (bot/endpoints.scale.yml for PostgreSQL + Redis)."),
    "BIANMIN_MODEL": ("<home>/models/bianmin.tar.gz", "Trained Rasa model."),
    "BIANMIN_PG_HOST": ("127.0.0.1", "Scale-out (endpoints.scale.yml): PostgreSQL host of Rasa's tracker store."),
    "BIANMIN_PG_PORT": ("5432", "Scale-out: PostgreSQL port of Rasa's tracker store."),
    "BIANMIN_PG_DB": ("bianmin", "Scale-out: PostgreSQL database of Rasa's tracker store."),
    "BIANMIN_PG_USER": ("postgres", "Scale-out: PostgreSQL user of Rasa's tracker store."),
    "BIANMIN_PG_PASSWORD": ("", "Scale-out: PostgreSQL password of Rasa's tracker store."),
    "BIANMIN_REDIS_HOST": ("127.0.0.1", "Scale-out: Redis host of Rasa's lock store (shared by all Rasa processes)."),
    "BIANMIN_REDIS_PORT": ("6379", "Scale-out: Redis port of Rasa's lock store."),
    "BIANMIN_SECRET": ("<generated into var/secret>", "Key that signs staff/admin session cookies."),
    "BIANMIN_DATA_KEY": ("<keys in var/data_keys.json>", "Ticket encryption keys: <key id>:<base64 32 bytes>[,…]; the first seals, the rest only open."),
    "BIANMIN_INDEX_KEY": ("<in var/data_keys.json>", "Blind-index (HMAC) key for phone lookups, base64 of 32 bytes; required with BIANMIN_DATA_KEY."),
    "BIANMIN_LOG_LEVEL": ("INFO", "Log level of bianmin's own processes."),
    "BIANMIN_TIMEZONE": ("Asia/Shanghai", "Local time zone: dates in ticket numbers, working hours, times shown to staff."),
    "BIANMIN_CASE_STORE": ("sql", "Case store of every ticket type: sql (bianmin's database) or http (external case system)."),
    "BIANMIN_CASE_STORE_COMPLAINT": ("$BIANMIN_CASE_STORE", "Per-type override (also _PETITION, _LEGAL_AID)."),
    "BIANMIN_CASE_HTTP_URL": ("", "External case system's base URL (for http stores)."),
    "BIANMIN_CASE_HTTP_TOKEN": ("", "Bearer token for the external case system."),
    "BIANMIN_CASE_HTTP_TIMEOUT": ("4", "Seconds per request to the external case system."),
    "BIANMIN_CASE_HTTP_RETRIES": ("2", "Retries after connection errors, timeouts and 5xx."),
    "BIANMIN_CASE_API_TOKEN": ("", "Bearer token of this app's /api/cases (case-system API); unset disables it."),
    "BIANMIN_WORKING_HOURS": ("mon-fri 09:00-17:30", "When hotline staff answer; 'always' / 'never' also accepted."),
    "BIANMIN_HANDOFF_AVG_MINUTES": ("6", "Average minutes per staffed conversation (expected wait told to residents)."),
    "BIANMIN_FAQ_THRESHOLD": ("0.7", "FAQ retrieval confidence needed to answer directly; below it 您是不是想问."),
    "BIANMIN_FAQ_CANDIDATE_FLOOR": ("0.1", "Lowest confidence for a candidate question to be offered."),
    "BIANMIN_LOCAL_SETTINGS": ("<home>/knowledge/local_settings.yml", "Local details (addresses, phones, hours) for FAQ answers."),
    "BIANMIN_ROUTING_FILE": ("<home>/knowledge/routing.yml", "Complaint routing taxonomy."),
    "BIANMIN_SLA_FILE": ("<home>/knowledge/sla.yml", "Deadline policy."),
    "BIANMIN_GAZETTEER_FILE": ("<home>/knowledge/gazetteer.yml", "Districts recognised in messages."),
    "BIANMIN_REFERENCE_DATE": ("today", "Evaluation only: the day relative dates (昨天, 上周三) resolve against."),
}


SCALE_PREFIXES = ("BIANMIN_PG_", "BIANMIN_REDIS_")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    home: Path
    var: Path
    host: str
    web_port: int
    rasa_port: int
    rasa_interface: str
    action_port: int
    rasa_url: str
    rasa_token: str
    action_url: str
    database_url: str
    tracker_db: Path
    rasa_endpoints: Path
    model: Path
    log_level: str
    extra: dict[str, str] = field(default_factory=dict)
    #: the variables bot/endpoints.scale.yml refers to, with their defaults (Rasa fails on an unset ${VAR})
    scale_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        e = dict(os.environ if env is None else env)
        get = lambda k: e.get(k, "").strip()  # noqa: E731
        home = Path(get("BIANMIN_HOME") or REPO_ROOT).resolve()
        var = Path(get("BIANMIN_VAR") or home / "var").resolve()
        rasa_port = int(get("BIANMIN_RASA_PORT") or 5005)
        action_port = int(get("BIANMIN_ACTION_PORT") or 5055)
        return cls(
            home=home,
            var=var,
            host=get("BIANMIN_HOST") or "127.0.0.1",
            web_port=int(get("BIANMIN_WEB_PORT") or 8080),
            rasa_port=rasa_port,
            rasa_interface=get("BIANMIN_RASA_INTERFACE") or "127.0.0.1",
            action_port=action_port,
            rasa_url=(get("BIANMIN_RASA_URL") or f"http://127.0.0.1:{rasa_port}").rstrip("/"),
            rasa_token=get("BIANMIN_RASA_TOKEN"),
            action_url=get("BIANMIN_ACTION_URL") or f"http://127.0.0.1:{action_port}/webhook",
            database_url=get("BIANMIN_DATABASE_URL") or f"sqlite+aiosqlite:///{var / 'bianmin.db'}",
            tracker_db=Path(get("BIANMIN_TRACKER_DB") or var / "tracker.db"),
            rasa_endpoints=Path(get("BIANMIN_RASA_ENDPOINTS") or home / "bot" / "endpoints.yml"),
            model=Path(get("BIANMIN_MODEL") or home / "models" / "bianmin.tar.gz"),
            log_level=(get("BIANMIN_LOG_LEVEL") or "INFO").upper(),
            scale_env={name: get(name) or default for name, (default, _) in ENV_VARS.items()
                       if name.startswith(SCALE_PREFIXES)},
        )

    @property
    def log_dir(self) -> Path:
        return self.var / "log"

    def secret(self) -> bytes:
        """Session-signing key: $BIANMIN_SECRET, else a random key kept in var/secret (created once)."""
        raw = os.environ.get("BIANMIN_SECRET", "").strip()
        if raw:
            return raw.encode()
        path = self.var / "secret"
        if not path.exists():
            self.var.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex())
        return path.read_text().strip().encode()

    def child_env(self) -> dict[str, str]:
        """Environment for the processes `bianmin run` starts, so all three agree on ports and files."""
        return {
            "BIANMIN_HOME": str(self.home),
            "BIANMIN_VAR": str(self.var),
            "BIANMIN_RASA_URL": self.rasa_url,
            "BIANMIN_ACTION_URL": self.action_url,
            "BIANMIN_DATABASE_URL": self.database_url,
            "BIANMIN_TRACKER_DB": str(self.tracker_db),
            "BIANMIN_WEB_PORT": str(self.web_port),
            "BIANMIN_RASA_PORT": str(self.rasa_port),
            "BIANMIN_ACTION_PORT": str(self.action_port),
            **self.scale_env,
        }


def get_settings() -> Settings:
    return Settings.from_env()
