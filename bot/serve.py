"""Serving the app: HTTP (a WSGI app on waitress) and Socket Mode."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING

from slack_bolt import App, BoltRequest
from slack_bolt.error import BoltError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.app import LISTENER_THREADS, build_app, signature_ok
from bot.settings import Settings, SettingsError
from queries.db import make_engine, make_sessionmaker, normalize_url
from queries.replica import ReadPath
from queries.schema import ensure_schema

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from waitress.server import BaseWSGIServer, MultiSocketServer

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY = 1024 * 1024  # Slack's payloads are a few KB; a block_actions body carries a message
HTTP_THREADS = 8  # each request only verifies, parses and acks: answers run on the app's pool


class SlackWSGI:
    """WSGI entry point: verify the signature on the raw bytes before anything parses them.

    A request that is unsigned, badly signed, stale or has a malformed timestamp gets 401 and
    never reaches Bolt; a signed request Bolt cannot read gets 400; nothing here answers 500.
    """

    def __init__(self, app: App, *, signing_secret: str, path: str = EVENTS_PATH) -> None:
        self.app = app
        self.signing_secret = signing_secret
        self.path = path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _plain(start_response, HTTPStatus.OK, "ok")
        if path != self.path:
            return _plain(start_response, HTTPStatus.NOT_FOUND, "not found")
        if method != "POST":
            return _plain(start_response, HTTPStatus.METHOD_NOT_ALLOWED, "POST only")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _plain(start_response, HTTPStatus.BAD_REQUEST, "bad content length")
        if length < 0 or length > MAX_BODY:
            return _plain(start_response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
        body = environ["wsgi.input"].read(length) if length else b""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        if not signature_ok(self.signing_secret, body, timestamp, signature):
            log.info("rejected a request with a missing, bad or stale signature")
            return _plain(start_response, HTTPStatus.UNAUTHORIZED, "invalid request")
        try:
            request = BoltRequest(
                body=body.decode("utf-8"),
                query=environ.get("QUERY_STRING", ""),
                headers=_headers(environ),
            )
        except ValueError:  # also UnicodeDecodeError and JSONDecodeError
            log.warning("a signed request could not be read")
            return _plain(start_response, HTTPStatus.BAD_REQUEST, "unreadable request")
        response = self.app.dispatch(request)
        status = HTTPStatus(response.status)
        headers = [(k, v) for k, values in response.headers.items() for v in values]
        start_response(f"{status.value} {status.phrase}", headers)
        return [response.body.encode("utf-8")]


def _plain(start_response: StartResponse, status: HTTPStatus, text: str) -> list[bytes]:
    data = text.encode("utf-8")
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _headers(environ: WSGIEnvironment) -> dict[str, str | Sequence[str]]:
    headers: dict[str, str | Sequence[str]] = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return headers


def engine_for(settings: Settings) -> Engine:
    """The serving engine: a connection for each listener thread, the schema up to date."""
    url = normalize_url(settings.database_url)
    pool = (
        {}
        if make_url(url).get_backend_name() == "sqlite"
        else {"pool_size": LISTENER_THREADS, "max_overflow": LISTENER_THREADS // 2}
    )
    engine = make_engine(
        url,
        statement_timeout_ms=settings.statement_timeout_ms,
        connect_timeout_s=settings.connect_timeout_s,
        **pool,
    )
    ensure_schema(engine)
    return engine


def _build(settings: Settings, session_factory: sessionmaker[Session]) -> App:
    reads = ReadPath(session_factory, settings.replica())
    reads.start()  # answers come from the database until the replica is ready
    try:
        return build_app(settings, session_factory, reads=reads.session)
    except BoltError as exc:  # auth.test refused the token
        raise SettingsError(f"Slack did not accept SLACK_BOT_TOKEN: {exc}") from None


def wsgi_app(settings: Settings, session_factory: sessionmaker[Session]) -> SlackWSGI:
    if not settings.slack_signing_secret:
        raise SettingsError("SLACK_SIGNING_SECRET is not set (Basic Information → App Credentials)")
    return SlackWSGI(
        _build(settings, session_factory), signing_secret=settings.slack_signing_secret
    )


def create_server(
    app: SlackWSGI, *, host: str, port: int, threads: int = HTTP_THREADS
) -> MultiSocketServer | BaseWSGIServer:
    from waitress.server import create_server as waitress_server

    return waitress_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="basebot",
        clear_untrusted_proxy_headers=True,
    )


def serve(settings: Settings, *, host: str = "0.0.0.0", port: int | None = None) -> None:
    """`basebot serve`: HTTP on $PORT at /slack/events, until stopped."""
    factory = make_sessionmaker(engine_for(settings))
    server = create_server(wsgi_app(settings, factory), host=host, port=port or settings.port)
    print(
        f"basebot: answering {settings.command_name} on http://{host}:{port or settings.port}"
        f"{EVENTS_PATH}",
        flush=True,
    )
    server.run()


def socket_handler(settings: Settings, session_factory: sessionmaker[Session]) -> SocketModeHandler:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if not settings.slack_app_token:
        raise SettingsError(
            "SLACK_APP_TOKEN is not set (an xapp- app-level token with connections:write)"
        )
    app = _build(settings, session_factory)
    # The handler's Web API client is the app's, so SLACK_API_URL applies to it too.
    return SocketModeHandler(app, app_token=settings.slack_app_token, web_client=app.client)


def socket(settings: Settings) -> None:
    """`basebot socket`: Socket Mode (no public URL needed), until stopped."""
    handler = socket_handler(settings, make_sessionmaker(engine_for(settings)))
    print(f"basebot: answering {settings.command_name} over Socket Mode", flush=True)
    handler.start()  # type: ignore[no-untyped-call]


__all__ = [
    "EVENTS_PATH",
    "SlackWSGI",
    "create_server",
    "engine_for",
    "serve",
    "socket",
    "socket_handler",
    "wsgi_app",
]
