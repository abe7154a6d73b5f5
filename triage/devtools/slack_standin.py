"""A local stand-in for Slack's Web API: records every call and answers as Slack does.

Used by the demo, the benchmarks and the tests (tests/slack_stub.py adds the request driver).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


JSON_ARGS = ("blocks", "attachments", "view", "options")


@dataclass
class Call:
    method: str
    args: dict
    token: str | None
    at: float = field(default_factory=time.monotonic)

    def __getitem__(self, key):
        return self.args[key]

    def get(self, key, default=None):
        return self.args.get(key, default)

    def text_of_blocks(self) -> str:
        """Every string inside the call's blocks or view, for "does it mention X" assertions."""
        out: list[str] = []

        def walk(x):
            if isinstance(x, str):
                out.append(x)
            elif isinstance(x, dict):
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(self.args.get("blocks"))
        walk(self.args.get("view"))
        return "\n".join(out)


class SlackStub:
    def __init__(self, *, users: dict[str, str] | None = None, channels: dict[str, str] | None = None,
                 shared_channels: tuple[str, ...] = (), token: str | None = None, bot_user_id: str = "UBOT0TRIAGE",
                 bot_id: str = "BBOT0TRIAGE", team_id: str = "T0STUB"):
        self.users: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}
        self.token = token
        self.bot_user_id, self.bot_id, self.team_id = bot_user_id, bot_id, team_id
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict] = {}
        self.views: dict[str, dict] = {}
        self.errors: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        for uid, name in (users or {}).items():
            self.add_user(uid, name)
        for cid, name in (channels or {}).items():
            self.add_channel(cid, name, shared=cid in shared_channels)

    # --- set-up ----------------------------------------------------------------------------------
    def add_user(self, user_id: str, real_name: str, *, is_bot: bool = False) -> None:
        handle = real_name.lower().replace(" ", ".")
        self.users[user_id] = {"id": user_id, "team_id": self.team_id, "name": handle, "real_name": real_name,
                               "is_bot": is_bot, "deleted": False,
                               "profile": {"real_name": real_name, "display_name": handle}}

    def add_channel(self, channel_id: str, name: str, *, shared: bool = False, private: bool = False) -> None:
        self.channels[channel_id] = {"id": channel_id, "name": name, "is_channel": not private,
                                     "is_group": private, "is_private": private, "is_member": True,
                                     "is_shared": shared, "is_ext_shared": shared, "is_org_shared": False}

    def fail_next(self, method: str, error: str = "internal_error") -> None:
        """The next call of `method` answers {"ok": false, "error": error}."""
        with self._lock:
            self.errors.setdefault(method, []).append(error)

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "SlackStub":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                args: dict[str, Any] = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                ctype = self.headers.get("Content-Type", "")
                if raw:
                    if "json" in ctype:
                        args.update(json.loads(raw))
                    else:
                        args.update({k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
                for key in JSON_ARGS:
                    if isinstance(args.get(key), str):
                        try:
                            args[key] = json.loads(args[key])
                        except ValueError:
                            pass
                auth = self.headers.get("Authorization", "")
                token = auth[7:] if auth.startswith("Bearer ") else args.pop("token", None)
                method = parsed.path.rstrip("/").rsplit("/", 1)[-1]
                body = stub._answer(method, args, token)
                out = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="slack-stub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        """The Web API base URL (TRIAGE_SLACK_API_URL), with the trailing slash slack_sdk expects."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    @property
    def response_url(self) -> str:
        """A response_url for slash-command payloads; posts to it are recorded as method "response_url"."""
        return self.url + "response_url"

    # --- what happened ------------------------------------------------------------------------------------
    def calls_to(self, method: str, where: Callable[[Call], bool] | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (where is None or where(c))]

    def wait_for(self, method: str, where: Callable[[Call], bool] | None = None, *, count: int = 1,
                 timeout: float = 20.0) -> list[Call]:
        """Poll until at least `count` calls of `method` (matching `where`) were made; AssertionError if not."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.calls_to(method, where)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} call(s) to {method}, got {len(got)}; calls made: {seen}")
            time.sleep(0.02)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def message(self, channel: str, ts: str) -> dict | None:
        with self._lock:
            return self.messages.get((channel, ts))

    def dm_channel(self, user_id: str) -> str:
        return "D" + user_id.lstrip("UW")

    # --- answers ------------------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        return f"{1800000000 + next(self._ts)}.000100"

    def _answer(self, method: str, args: dict, token: str | None) -> dict:
        with self._lock:
            self.calls.append(Call(method, args, token))
            queued = self.errors.get(method)
            if queued:
                return {"ok": False, "error": queued.pop(0)}
        if method != "response_url":
            if not token:
                return {"ok": False, "error": "not_authed"}
            if self.token and token != self.token:
                return {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        return handler(args)

    def _m_auth_test(self, args):
        return {"ok": True, "url": "https://stub.slack.com/", "team": "Stub Council", "user": "triage",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _resolve_channel(self, channel: str | None) -> str | None:
        if not channel:
            return None
        if channel.startswith(("U", "W")):  # posting to a user ID opens (or reuses) the DM
            return self.dm_channel(channel)
        return channel

    def _m_chat_postMessage(self, args):
        channel = self._resolve_channel(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not (args.get("text") or args.get("blocks")):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        msg = {"type": "message", "ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks") or [],
               "bot_id": self.bot_id, "user": self.bot_user_id, "thread_ts": args.get("thread_ts")}
        with self._lock:
            self.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _m_chat_update(self, args):
        channel, ts = args.get("channel"), args.get("ts")
        with self._lock:
            msg = self.messages.get((channel, ts))
            if msg is None:
                return {"ok": False, "error": "message_not_found"}
            msg.update({"text": args.get("text", msg["text"]), "blocks": args.get("blocks") or msg["blocks"],
                        "edited": True})
        return {"ok": True, "channel": channel, "ts": ts, "text": msg["text"], "message": msg}

    def _m_chat_postEphemeral(self, args):
        channel, user = args.get("channel"), args.get("user")
        if not channel or not (channel in self.channels or channel.startswith("D")):
            return {"ok": False, "error": "channel_not_found"}
        if user not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _view(self, args, *, kind: str | None = None) -> dict:
        view = dict(args.get("view") or {})
        vid = args.get("view_id") or view.get("id") or "V" + uuid.uuid4().hex[:10].upper()
        view.update({"id": vid, "team_id": self.team_id, "hash": uuid.uuid4().hex, "state": {"values": {}}})
        if kind:
            view["type"] = kind
        with self._lock:
            self.views[vid] = view
        return {"ok": True, "view": view}

    def _m_views_open(self, args):
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return self._view(args)

    def _m_views_update(self, args):
        if not (args.get("view_id") or args.get("external_id")):
            return {"ok": False, "error": "not_found"}
        return self._view(args)

    def _m_views_publish(self, args):
        if args.get("user_id") not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return self._view(args, kind="home")

    def _m_conversations_info(self, args):
        ch = self.channels.get(args.get("channel"))
        return {"ok": True, "channel": ch} if ch else {"ok": False, "error": "channel_not_found"}

    def _m_conversations_open(self, args):
        users = args.get("users") or ""
        return {"ok": True, "channel": {"id": self.dm_channel(users.split(",")[0])}}

    def _m_users_info(self, args):
        u = self.users.get(args.get("user"))
        return {"ok": True, "user": u} if u else {"ok": False, "error": "user_not_found"}

    def _m_response_url(self, args):
        return {"ok": True}


