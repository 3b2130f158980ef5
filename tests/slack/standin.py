"""A local stand-in for the Slack Web API and for response_url, recording every call.

A small threaded HTTP server on 127.0.0.1. Paths:
  /api/<method>        the Web API (auth.test, chat.*, conversations.open, files.*)
  /upload/<file id>    the upload URL files.getUploadURLExternal hands out
  /response/<id>       a response_url that accepts replies
  /expired/<id>        a response_url that has expired (404 expired_url, as Slack answers)
Channel "CNOTIN" plays a channel the app is not a member of (not_in_channel).
A chat.postMessage to a user id (U…) lands in their DM with the app: channel "D" + the id.
`directory` holds the workspace's emails for users.lookupByEmail (anyone else:
users_not_found); `delay(method, seconds)` holds each answer of a method that long after the
call is recorded (a process can be stopped while Slack has its message).
`script(method, ...)` queues answers for a method's next calls (e.g. HTTP 429 with
Retry-After); `refuse(channel, error)` makes every call naming a channel fail with an error.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

NOT_IN_CHANNEL = "CNOTIN"


@dataclass(frozen=True)
class Scripted:
    """One queued answer: an HTTP status, a body, and extra headers (e.g. Retry-After)."""

    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Call:
    path: str
    headers: dict[str, str]
    raw: bytes
    data: dict[str, Any]
    at: float

    @property
    def method(self) -> str:
        """The Web API method name, or '' for other paths."""
        return self.path[len("/api/") :] if self.path.startswith("/api/") else ""

    def blocks(self) -> list[dict[str, Any]] | None:
        blocks = self.data.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return blocks if isinstance(blocks, list) else None


class SlackStandIn:
    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._changed = threading.Condition()
        self._files = itertools.count(1)
        self._scripts: dict[str, list[Scripted]] = {}
        self._refused: dict[str, str] = {}
        # users.info: each user's Slack locale (include_locale; anyone else is en-US) and the
        # email on their profile (none unless given).
        self.locales: dict[str, str] = {}
        self.emails: dict[str, str] = {}
        self.names: dict[str, str] = {}  # display names on profiles
        # users.lookupByEmail: email (any case) -> user id.
        self.directory: dict[str, str] = {}
        self._delays: dict[str, float] = {}
        # The upload host hangs up on every file upload, without an answer.
        self.drop_uploads = False
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                call = Call(
                    path=path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=raw,
                    data=_parse(raw, self.headers.get("Content-Type") or ""),
                    at=time.monotonic(),
                )
                if path.startswith("/upload/") and standin.drop_uploads:
                    standin._record(call)
                    self.close_connection = True
                    return
                scripted = standin._next_scripted(call)
                extra: dict[str, str] = {}
                if scripted is not None:
                    status, body, extra = scripted.status, scripted.body, scripted.headers
                else:
                    status, body = standin._answer(call)
                standin._record(call)
                held = standin._delays.get(call.method)
                if held:
                    time.sleep(held)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                ctype = "application/json" if not isinstance(body, bytes) else "text/plain"
                self.send_header("Content-Type", ctype + "; charset=utf-8")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---------------------------------------------------------------- what the app sees

    def script(
        self,
        method: str,
        *,
        status: int = 200,
        body: dict[str, Any] | bytes | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of a Web API method this way, then as usual."""
        answer = Scripted(status, body if body is not None else {"ok": False}, headers or {})
        with self._changed:
            self._scripts.setdefault(method, []).extend([answer] * times)

    def refuse(self, channel: str, error: str) -> None:
        """Every later call naming this channel fails with `error` (e.g. is_archived)."""
        with self._changed:
            self._refused[channel] = error

    def delay(self, method: str, seconds: float) -> None:
        """Hold every later answer of a Web API method `seconds` after recording its call."""
        with self._changed:
            self._delays[method] = seconds

    def reset_scripts(self) -> None:
        with self._changed:
            self._scripts.clear()
            self._refused.clear()
            self._delays.clear()

    def _next_scripted(self, call: Call) -> Scripted | None:
        with self._changed:
            queue = self._scripts.get(call.method)
            if queue:
                return queue.pop(0)
            channel = call.data.get("channel") or call.data.get("channel_id")
            if channel in self._refused:
                return Scripted(200, {"ok": False, "error": self._refused[channel]}, {})
        return None

    def _answer(self, call: Call) -> tuple[int, dict[str, Any] | bytes]:
        if call.path.startswith("/response/"):
            return 200, b"ok"
        if call.path.startswith("/expired/"):
            return 404, b"expired_url"
        if call.path.startswith("/upload/"):
            return 200, f"OK - {len(call.raw)}".encode()
        data, method = call.data, call.method
        channel = data.get("channel") or data.get("channel_id")
        if channel == NOT_IN_CHANNEL:
            return 200, {"ok": False, "error": "not_in_channel"}
        if method == "auth.test":
            return 200, {
                "ok": True,
                "url": "https://basebot-test.slack.com/",
                "team": "Test",
                "user": "basebot",
                "team_id": "T0001",
                "user_id": "UBOT",
                "bot_id": "BBOT",
            }
        if method == "chat.postMessage":
            dm = isinstance(channel, str) and channel.startswith("U")
            return 200, {
                "ok": True,
                "channel": "D" + channel if dm else channel,
                "ts": "1700000000.000100",
            }
        if method == "chat.postEphemeral":
            return 200, {"ok": True, "message_ts": "1700000000.000200"}
        if method == "views.publish":
            return 200, {"ok": True, "view": {"id": "V0HOME"}}
        if method == "users.info":
            user = str(data.get("user") or "")
            with self._changed:
                locale = self.locales.get(user, "en-US")
                profile = {"email": self.emails[user]} if user in self.emails else {}
                if user in self.names:
                    profile["display_name"] = self.names[user]
            return 200, {"ok": True, "user": {"id": user, "locale": locale, "profile": profile}}
        if method == "users.lookupByEmail":
            email = str(data.get("email") or "")
            with self._changed:
                found = {k.lower(): v for k, v in self.directory.items()}.get(email.lower())
            if found is None:
                return 200, {"ok": False, "error": "users_not_found"}
            return 200, {"ok": True, "user": {"id": found, "profile": {"email": email}}}
        if method == "conversations.open":
            return 200, {"ok": True, "channel": {"id": "D" + str(data.get("users", "X"))}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._files):05d}"
            return 200, {
                "ok": True,
                "file_id": file_id,
                "upload_url": f"{self.url}/upload/{file_id}",
            }
        if method == "files.completeUploadExternal":
            files = json.loads(data.get("files") or "[]")
            return 200, {
                "ok": True,
                "files": [{"id": f["id"], "title": f.get("title")} for f in files],
            }
        return 200, {"ok": False, "error": "unknown_method"}

    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    # ---------------------------------------------------------------- what tests ask

    def response_url(self, *, expired: bool = False) -> str:
        return f"{self.url}/{'expired' if expired else 'response'}/{uuid.uuid4().hex}"

    def calls(self, where: Callable[[Call], bool] = lambda c: True) -> list[Call]:
        with self._changed:
            return [c for c in self._calls if where(c)]

    def api(self, method: str) -> list[Call]:
        return self.calls(lambda c: c.method == method)

    def at(self, url: str) -> list[Call]:
        path = url[len(self.url) :]
        return self.calls(lambda c: c.path == path)

    def wait(
        self, where: Callable[[Call], bool], *, count: int = 1, timeout: float = 10.0
    ) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self._calls if where(c)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self._changed.wait(left)

    def replies(self, url: str, *, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The JSON bodies posted to one response_url (waits for `count` of them)."""
        path = url[len(self.url) :]
        found = self.wait(lambda c: c.path == path, count=count, timeout=timeout)
        assert len(found) >= count, f"{len(found)} of {count} replies arrived at {path}"
        return [c.data for c in found]


def _parse(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    text = raw.decode("utf-8", "replace")
    if "json" in content_type or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    return {}
