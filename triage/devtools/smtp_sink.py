"""A throwaway SMTP server (aiosmtpd) that keeps what it receives: for the demo, tests and benches."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMail:
    envelope_from: str
    recipients: list[str]
    message: EmailMessage
    received_at: float


@dataclass
class _Handler:
    messages: list[ReceivedMail] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        with self.cond:
            self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), msg, time.time()))
            self.cond.notify_all()
        return "250 OK"


class SmtpSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._handler = _Handler()
        self._controller = Controller(self._handler, hostname=host, port=port or _free_port(host))
        self.host = host

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._handler.cond:
            return list(self._handler.messages)

    def start(self) -> "SmtpSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, predicate, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until predicate(messages) is truthy; returns the messages (raises on timeout)."""
        deadline = time.monotonic() + timeout
        with self._handler.cond:
            while not predicate(self._handler.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"SMTP sink: condition not met within {timeout}s "
                                       f"({len(self._handler.messages)} messages received)")
                self._handler.cond.wait(left)
            return list(self._handler.messages)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
