"""The Bolt app: signature check, shared services in the request context, and the listeners."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot import listeners
from bot.access import load_rules
from bot.listeners.guard import GroupMembers, Guard, RetryFilter, only_workspace
from bot.listeners.services import CONTEXT_KEY, Services
from bot.parsing import VERBS
from bot.settings import Settings, SettingsError
from queries.db import Reader

log = logging.getLogger(__name__)

# Answers run on this pool after the ack (lazy listeners); one thread per database connection
# of the engine `basebot serve` makes (bot.serve.engine_for).
LISTENER_THREADS = 16
SIGNATURE_MAX_AGE = 60 * 5
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def web_client(settings: Settings) -> WebClient:
    """The bot's Web API client; SLACK_API_URL (tests, proxies) replaces Slack's base URL."""
    if not settings.slack_bot_token:
        raise SettingsError("SLACK_BOT_TOKEN is not set (the xoxb- token from OAuth & Permissions)")
    if settings.slack_api_url:
        base = settings.slack_api_url.rstrip("/") + "/"
        return WebClient(token=settings.slack_bot_token, base_url=base)
    return WebClient(token=settings.slack_bot_token)


def signature_ok(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
) -> bool:
    """Slack's v0 request signature, checked on the raw bytes; any malformed header is False."""
    if not secret or not timestamp or not signature or not _TIMESTAMP.fullmatch(timestamp):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


def _first(values: Sequence[str] | None) -> str | None:
    return values[0] if values else None


def _signature_check(secret: str | None) -> Callable[..., BoltResponse | None]:
    def verify_signature(req: BoltRequest, next: Callable[[], None]) -> BoltResponse | None:
        if req.mode == "socket_mode":  # the WebSocket itself is authenticated by the app token
            next()
            return None
        timestamp = _first(req.headers.get("x-slack-request-timestamp"))
        signature = _first(req.headers.get("x-slack-signature"))
        if secret and signature_ok(secret, req.raw_body.encode("utf-8"), timestamp, signature):
            next()
            return None
        # Never the body: it holds what users typed.
        log.info("rejected a request with a missing, bad or stale signature")
        return BoltResponse(status=401, body={"error": "invalid request"})

    return verify_signature


def _attach(svc: Services) -> Callable[..., None]:
    def attach_services(context: BoltContext, next: Callable[[], None]) -> None:
        context[CONTEXT_KEY] = svc
        next()

    return attach_services


def build_app(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    client: WebClient | None = None,
    workers: int = LISTENER_THREADS,
    reads: Reader | None = None,
) -> App:
    """The Bolt app answering the slash command and its buttons.

    Listeners ack at once in the request thread (process_before_response with lazy listeners)
    and answer on a pool of `workers` threads, so a slow query never delays an ack.
    """
    app = App(
        client=client if client is not None else web_client(settings),
        process_before_response=True,
        request_verification_enabled=False,
        before_authorize=_signature_check(settings.slack_signing_secret),
        listener_executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="basebot"),
    )
    rules = load_rules(settings.access_file, verbs=VERBS)
    guard = Guard(rules=rules, members=GroupMembers(app.client) if rules.all_groups else None)
    app.use(only_workspace(settings.slack_team_id, settings.slack_app_id))
    app.use(RetryFilter().middleware)
    services = Services(settings=settings, sessions=session_factory, guard=guard, reads=reads)
    app.use(_attach(services))
    listeners.register(app, command_name=settings.command_name)
    _quiet_sdk_logs()
    return app


def _quiet_sdk_logs() -> None:
    # At DEBUG the SDKs log request bodies, response_urls and message blocks (contact data);
    # basebot's own log says what happened without them.
    # A level set on them explicitly (to debug Slack traffic on purpose) is kept.
    for name in ("slack_bolt", "slack_sdk", "urllib3"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


__all__ = ["LISTENER_THREADS", "build_app", "signature_ok", "web_client"]
