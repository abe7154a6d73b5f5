"""The IMAP side: connect, select, fetch new messages as a generator, move, IDLE.

Messages are fetched with BODY.PEEK[] so nothing is marked read before it is stored; the
caller moves each one out of the inbox only after it is safely in the store.
"""

from __future__ import annotations

import imaplib
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Iterator

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from triage.config import Settings

log = logging.getLogger(__name__)

FETCH_BATCH = 25

# What a dropped connection or a restarting server looks like from imapclient.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.abort, IMAPClientError, EOFError,
)


class ImapNotConfigured(RuntimeError):
    pass


@dataclass
class FetchedMessage:
    uid: int
    raw: bytes
    uidvalidity: int


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mailbox_name(settings: Settings) -> str:
    """The key for MailboxState and the lock: user@host/folder."""
    return f"{settings.imap_user}@{settings.imap_host}/{settings.imap_folder}"


class MailboxClient:
    """One logged-in IMAP connection on the configured folder."""

    def __init__(self, settings: Settings, *, force_copy_delete: bool = False, timeout: float = 60.0):
        if not settings.imap_host or not settings.imap_user or settings.imap_password is None:
            raise ImapNotConfigured("IMAP is not configured (set TRIAGE_IMAP_HOST, _USER and _PASSWORD)")
        self.settings = settings
        self.force_copy_delete = force_copy_delete
        self.timeout = timeout
        self.client: IMAPClient | None = None
        self.uidvalidity: int | None = None
        self._caps: set[bytes] = set()

    # --- connection ---------------------------------------------------------
    def connect(self) -> "MailboxClient":
        s = self.settings
        ctx = ssl.create_default_context() if s.imap_tls else None
        client = IMAPClient(s.imap_host, port=s.imap_port, ssl=s.imap_tls, ssl_context=ctx, timeout=self.timeout)
        try:
            if not s.imap_tls and not is_loopback(s.imap_host):
                # Safeguarding mail and the mailbox password never cross a network in clear.
                if b"STARTTLS" not in set(client.capabilities()):
                    raise ImapNotConfigured(f"{s.imap_host} offers no STARTTLS and TRIAGE_IMAP_TLS is off: refusing "
                                            "to log in without encryption (plain IMAP is for loopback only)")
                client.starttls(ssl.create_default_context())
            client.login(s.imap_user, s.imap_password.get_secret_value())
            self._caps = set(client.capabilities())
            for folder in (s.imap_processed_folder, s.imap_quarantine_folder):
                if not client.folder_exists(folder):
                    client.create_folder(folder)
            info = client.select_folder(s.imap_folder)
        except Exception:
            _quiet_logout(client)
            raise
        self.client = client
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        return self

    def close(self) -> None:
        if self.client is not None:
            _quiet_logout(self.client)
            self.client = None

    def __enter__(self) -> "MailboxClient":
        return self.connect() if self.client is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def has(self, capability: str) -> bool:
        return capability.upper().encode() in self._caps

    # --- reading ------------------------------------------------------------
    def uids_after(self, last_uid: int) -> list[int]:
        # "N:*" always matches the highest UID even when it is below N, hence the filter.
        uids = self.client.search(["UID", f"{last_uid + 1}:*"]) if last_uid else self.client.search("ALL")
        return sorted(u for u in uids if u > last_uid)

    def fetch(self, last_uid: int = 0) -> Iterator[FetchedMessage]:
        """New messages in UID order, peeked (never marked \\Seen), fetched in small batches."""
        uids = self.uids_after(last_uid)
        for i in range(0, len(uids), FETCH_BATCH):
            batch = uids[i:i + FETCH_BATCH]
            data = self.client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                item = data.get(uid)
                if item is None or b"BODY[]" not in item:
                    continue  # expunged by someone else meanwhile
                yield FetchedMessage(uid=uid, raw=item[b"BODY[]"], uidvalidity=self.uidvalidity)

    # --- moving -------------------------------------------------------------
    def move(self, uid: int, folder: str) -> None:
        """Move one message out of the folder (MOVE, else COPY + \\Deleted + expunge)."""
        if self.has("MOVE") and not self.force_copy_delete:
            self.client.move([uid], folder)
            return
        self.client.copy([uid], folder)
        self.client.add_flags([uid], [b"\\Deleted"], silent=True)
        if self.has("UIDPLUS"):
            self.client.uid_expunge([uid])
        else:
            self.client.expunge()

    # --- waiting ------------------------------------------------------------
    def take_unannounced(self) -> bool:
        """True if the server reported new mail (EXISTS/RECENT) in answer to some other command.

        imaplib files untagged responses that arrive with a command's answer (SEARCH, MOVE, the
        IDLE command itself) in `untagged_responses`, where idle_check never sees them; the
        server then never repeats them, so without this check a message appended at just that
        moment would wait for the next IDLE renewal (minutes). Reading them clears them.
        """
        if self.client is None:
            return False
        pending = self.client._imap.untagged_responses  # imapclient exposes no public accessor
        return bool(pending.pop("EXISTS", None)) | bool(pending.pop("RECENT", None))

    def can_idle(self) -> bool:
        return self.settings.imap_use_idle and self.has("IDLE")

    def idle_start(self) -> None:
        self.client.idle()

    def idle_check(self, timeout: float) -> list:
        # imapclient polls the socket only; a notice that arrived in the same packet as an
        # earlier line already sits in imaplib's read buffer, where that poll never sees it.
        buffered = self._buffered_responses()
        return buffered if buffered else self.client.idle_check(timeout=timeout)

    def _buffered_responses(self) -> list:
        from imapclient.response_parser import parse_response

        imap = self.client._imap
        sock = imap.sock
        out: list = []
        sock.setblocking(False)
        try:
            while True:
                try:
                    ahead = imap.file.peek(1)
                except (BlockingIOError, OSError):  # ssl.SSLWantReadError is an OSError
                    break
                if not ahead or b"\n" not in imap.file.peek(4096):
                    break  # nothing buffered, or only part of a line: the socket poll will wake us
                line = imap._get_line()
                if line.startswith(b"* "):
                    out.append(tuple(parse_response([line[2:]])))
        finally:
            sock.setblocking(True)
            self.client._set_read_timeout()
        return out

    def idle_done(self) -> None:
        self.client.idle_done()

    def noop(self) -> None:
        self.client.noop()


def _quiet_logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass
