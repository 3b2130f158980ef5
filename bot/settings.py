"""The one place that reads the environment (and `.env`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES
from queries.replica import DEFAULT_REPLICA_MEMORY, ReplicaConfig

DEFAULT_DATABASE_URL = "sqlite:///basebot.db"
DEFAULT_REPLICA_DIR = ".basebot-replica"


class SettingsError(ValueError):
    """A configuration value is missing or malformed (the message names the variable)."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    tz: str = "UTC"
    currency: str = "USD"
    home_country: str = "US"
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    command_name: str = "/base"
    port: int = 3000
    access_file: str | None = None
    slack_team_id: str | None = None
    slack_app_id: str | None = None
    statement_timeout_ms: int = 10_000
    connect_timeout_s: int = 5
    replica_dir: str | None = None  # None: answers always read the database itself
    replica_memory: str = DEFAULT_REPLICA_MEMORY
    language: str = DEFAULT_LANGUAGE  # replies' language when the asker's is not known
    # Bulk sends (owners' digests) wait this multiple of Slack's rate between calls of a
    # method: 1 keeps to Slack's limits, 0 does not wait (a local stand-in).
    slack_pace: float = 1.0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def replica(self) -> ReplicaConfig | None:
        """Where the read replica lives, or None when it is switched off."""
        if self.replica_dir is None:
            return None
        return ReplicaConfig(
            folder=Path(self.replica_dir),
            memory_limit=self.replica_memory,
            threads=max(1, min(4, os.cpu_count() or 1)),
        )

    def today(self) -> date:
        """Today in the configured time zone: the default as-of date."""
        return datetime.now(self.zone).date()

    @classmethod
    def from_env(cls, *, dotenv: bool = True) -> Settings:
        if dotenv:
            load_dotenv(override=False)
        env = os.environ
        tz = env.get("BASEBOT_TZ") or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"BASEBOT_TZ is not a known time zone (e.g. Europe/Berlin): {exc}"
            ) from None
        port_text = env.get("PORT") or "3000"
        if not port_text.isdigit():
            raise SettingsError("PORT must be a whole number, e.g. 3000")
        home = (env.get("BASEBOT_HOME_COUNTRY") or "US").strip().upper()
        if len(home) != 2 or not home.isalpha():
            raise SettingsError("BASEBOT_HOME_COUNTRY must be an ISO 3166 alpha-2 code, e.g. US")
        replica = (env.get("BASEBOT_REPLICA") or DEFAULT_REPLICA_DIR).strip()
        memory = (env.get("BASEBOT_REPLICA_MEMORY") or DEFAULT_REPLICA_MEMORY).strip().upper()
        if not memory.removesuffix("B").rstrip("KMGT").isdigit():
            raise SettingsError("BASEBOT_REPLICA_MEMORY must be a size such as 128MB or 1GB")
        language = (env.get("BASEBOT_LANGUAGE") or DEFAULT_LANGUAGE).strip().lower()
        if language not in LANGUAGES:
            raise SettingsError(f"BASEBOT_LANGUAGE must be one of {', '.join(LANGUAGES)}, e.g. de")
        pace = (env.get("BASEBOT_SLACK_PACE") or "1").strip()
        try:
            slack_pace = float(pace)
        except ValueError:
            slack_pace = -1.0
        if not slack_pace >= 0:
            raise SettingsError("BASEBOT_SLACK_PACE must be a number, 0 or more, e.g. 1")
        return cls(
            slack_pace=slack_pace,
            language=language,
            replica_dir=None if replica.lower() in ("off", "no", "false", "0") else replica,
            replica_memory=memory,
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            tz=tz,
            currency=(env.get("BASEBOT_CURRENCY") or "USD").strip().upper(),
            home_country=home,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_api_url=env.get("SLACK_API_URL") or None,
            command_name=env.get("BASEBOT_COMMAND") or "/base",
            port=int(port_text),
            access_file=env.get("BASEBOT_ACCESS_FILE") or None,
            slack_team_id=env.get("SLACK_TEAM_ID") or None,
            slack_app_id=env.get("SLACK_APP_ID") or None,
            statement_timeout_ms=_whole(env, "BASEBOT_STATEMENT_TIMEOUT_MS", 10_000),
            connect_timeout_s=_whole(env, "BASEBOT_CONNECT_TIMEOUT_S", 5),
        )


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or str(default)).strip()
    if not text.isdigit() or int(text) <= 0:
        raise SettingsError(f"{name} must be a positive whole number, e.g. {default}")
    return int(text)
