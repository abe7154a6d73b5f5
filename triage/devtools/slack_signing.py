"""Sign a request the way Slack does (v0 HMAC-SHA256), for the demo, tests and benches."""

from __future__ import annotations

import hashlib
import hmac
import time


def signature(secret: str, body: bytes | str, timestamp: int | str) -> str:
    if isinstance(body, str):
        body = body.encode()
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes | str, *, timestamp: int | None = None,
                   content_type: str = "application/json", retry_num: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, body, ts),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers
