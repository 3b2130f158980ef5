"""`basebot serve` in a child process, asked through signed slash commands.

Slack is played on 127.0.0.1: a stand-in answers the Web API calls the app makes and takes
the replies posted to each command's response_url, so a timing runs from the signed POST to
the moment the reply arrives, which is what a Slack user waits for.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bench.serve import status_kib
from bot.serve import EVENTS_PATH, HEALTH_PATH

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
TEAM = "T0BENCH"
_STOP_S = 30.0


@dataclass(frozen=True)
class Reply:
    seconds: float
    ok: bool  # False: an error or apology came back instead of an answer


class SlackStandIn:
    """The Web API (every method succeeds) and response_url, on 127.0.0.1; every user reads
    German and has `email` on their profile."""

    def __init__(self, *, email: str | None = None) -> None:
        self._replies: dict[str, tuple[float, dict[str, Any]]] = {}
        self._arrived = threading.Condition()
        standin = self
        # German, so the timed replies are localised ones; the email is how `mine` finds
        # the asker's accounts.
        profile = {"email": email} if email else {}
        user_info = json.dumps(
            {"ok": True, "user": {"id": "U1", "locale": "de-DE", "profile": profile}}
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                arrived = time.perf_counter()
                if self.path.startswith("/response/"):
                    standin._arrive(self.path.removeprefix("/response/"), arrived, raw)
                    body = b"ok"
                elif self.path.startswith("/api/auth.test"):
                    body = json.dumps(
                        {"ok": True, "team_id": TEAM, "user_id": "UBOT", "bot_id": "BBOT"}
                    ).encode()
                elif self.path.startswith("/api/users.info"):
                    body = user_info
                else:
                    body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SlackStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _arrive(self, key: str, at: float, raw: bytes) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            data = {}
        with self._arrived:
            self._replies[key] = (at, data if isinstance(data, dict) else {})
            self._arrived.notify_all()

    def response_url(self) -> tuple[str, str]:
        key = uuid.uuid4().hex
        return f"{self.url}/response/{key}", key

    def wait(self, key: str, timeout: float) -> tuple[float, dict[str, Any]] | None:
        """(arrival time, JSON body) of the first reply to one response_url; None past timeout."""
        with self._arrived:
            self._arrived.wait_for(lambda: key in self._replies, timeout)
            return self._replies.pop(key, None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """`basebot serve` on a free port of 127.0.0.1, its output in `log`."""

    def __init__(
        self, *, url: str, replica_dir: Path | None, standin: SlackStandIn, log: Path
    ) -> None:
        self.standin = standin
        self.port = _free_port()
        self.log = log
        env = os.environ | {
            "DATABASE_URL": url,
            "BASEBOT_REPLICA": str(replica_dir) if replica_dir else "off",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": f"{standin.url}/api/",
            "SLACK_TEAM_ID": TEAM,
        }
        env.pop("SLACK_APP_ID", None)
        with log.open("wb") as out:
            self.child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    f"{self.port}",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.child.poll() is not None:
            return
        # SIGINT, not SIGTERM: the server then exits through atexit, which stops a replica
        # build still running in its own child process.
        self.child.send_signal(signal.SIGINT)
        try:
            self.child.wait(_STOP_S)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    def _alive(self) -> None:
        if self.child.poll() is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(
                f"basebot serve exited ({self.child.returncode}); {self.log}: " + " | ".join(tail)
            )

    def wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                try:
                    connection.request("GET", HEALTH_PATH)
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"basebot serve did not answer within {timeout:,.0f} s")
            time.sleep(0.2)

    def wait_replica(self, folder: Path, timeout: float) -> float:
        """Seconds until the server's first replica file is in place (the folder starts empty)."""
        began = time.monotonic()
        while not any(folder.glob("replica-*.duckdb")):
            self._alive()
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"the server built no read replica within {timeout:,.0f} s")
            time.sleep(0.2)
        return time.monotonic() - began

    def kib(self, field: str) -> int:
        """VmRSS, VmHWM... of the serving process (the replica builds run in its children)."""
        return status_kib(field, pid=self.child.pid)

    def ask(self, text: str, *, user: str, timeout: float) -> Reply | None:
        """One signed slash command, timed to its reply at response_url; None past timeout."""
        response_url, key = self.standin.response_url()
        body = urlencode(
            {
                "team_id": TEAM,
                "team_domain": "bench",
                "channel_id": "C0BENCH",
                "channel_name": "bench",
                "user_id": user,
                "user_name": "bench",
                "command": "/base",
                "text": text,
                "api_app_id": "A0BENCH",
                "response_url": response_url,
                "trigger_id": f"bench.{key}",
            }
        )
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
                timestamp=stamp, body=body
            )
            or "",
        }
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        began = time.perf_counter()
        try:
            connection.request("POST", EVENTS_PATH, body=body.encode(), headers=headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"basebot serve answered {response.status} to a signed command")
        arrived = self.standin.wait(key, timeout)
        if arrived is None:
            return None
        at, reply = arrived
        # Errors and apologies open with a warning sign; answers never do.
        return Reply(at - began, not str(reply.get("text", "")).startswith(":warning:"))
