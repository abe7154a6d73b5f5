"""Channel and user names from the Web API, cached: a busy channel must not cost two API calls a post."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class Directory:
    def __init__(self, ttl_seconds: float = 3600.0, max_entries: int = 5000):
        self._ttl = ttl_seconds
        self._max = max_entries
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, dict]] = {}

    def _get(self, key):
        with self._lock:
            hit = self._cache.get(key)
            # monotonic, not the product clock: this is a cache lifetime, not business time
            if hit and time.monotonic() - hit[0] < self._ttl:
                return hit[1]
        return None

    def _put(self, key, value: dict) -> None:
        with self._lock:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[key] = (time.monotonic(), value)

    def channel(self, client, channel_id: str) -> dict:
        """{"id", "name", "is_shared", "is_ext_shared", "is_private"}; the ID as name when the lookup fails."""
        key = ("c", channel_id)
        hit = self._get(key)
        if hit is not None:
            return hit
        info = {"id": channel_id, "name": channel_id, "is_shared": False, "is_ext_shared": False, "is_private": False}
        try:
            ch = client.conversations_info(channel=channel_id)["channel"]
            info.update({"name": ch.get("name") or channel_id, "is_shared": bool(ch.get("is_shared")),
                         "is_ext_shared": bool(ch.get("is_ext_shared")), "is_private": bool(ch.get("is_private"))})
        except SlackApiError as err:
            log.warning("conversations.info failed", extra={"ctx_channel": channel_id,
                                                            "ctx_error": err.response.get("error")})
            return info  # not cached: try again next time
        self._put(key, info)
        return info

    def user(self, client, user_id: str) -> dict:
        """{"id", "name", "is_bot"}; the name is the real name, else the handle, else the ID."""
        key = ("u", user_id)
        hit = self._get(key)
        if hit is not None:
            return hit
        info = {"id": user_id, "name": user_id, "is_bot": False}
        try:
            u = client.users_info(user=user_id)["user"]
            profile = u.get("profile") or {}
            info.update({"name": u.get("real_name") or profile.get("real_name") or profile.get("display_name")
                         or u.get("name") or user_id, "is_bot": bool(u.get("is_bot"))})
        except SlackApiError as err:
            # Slack Connect users from another org may not be visible: keep the ID.
            log.info("users.info failed", extra={"ctx_user": user_id, "ctx_error": err.response.get("error")})
            return info
        self._put(key, info)
        return info
