"""A throwaway Dovecot IMAP server on a loopback port: for the demo, the benchmarks and the tests.

One server per test session (it starts in ~0.1 s but takes 1-3 s to stop). Users come from a
passwd-file, mail lives in a Maildir under a temp dir, and nothing touches the system Dovecot.
Tests use a fresh user each (`dovecot_user`) so mailboxes never leak between tests.

API: `server.host`, `.port`, `.user`, `.password`, `.append(folder, raw, user=None)`,
`.list(folder, user=None) -> list[bytes]`, `.count(folder)`, `.new_user()`, `.restart()`, `.stop()`.
"""

from __future__ import annotations

import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
FOLDERS = ("Processed", "Quarantine")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Dovecot did not answer on {host}:{port}")


@dataclass
class MailUser:
    user: str
    password: str


class DovecotServer:
    def __init__(self, root: Path | None = None):
        # Unix socket paths must stay short (108 bytes), so the base dir lives directly in /tmp.
        self.root = Path(root or tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self._users: list[MailUser] = []
        if os.geteuid() == 0:
            # Dovecot refuses uid 0 for mail; `nobody` owns the Maildirs.
            self.mail_uid = pwd.getpwnam("nobody").pw_uid
            self.mail_gid = grp.getgrnam("nogroup").gr_gid if _has_group("nogroup") else pwd.getpwnam("nobody").pw_gid
            self._internal = "dovecot"
            self._login = "dovenull"
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
            me = pwd.getpwuid(os.getuid()).pw_name
            self._internal = self._login = me
        (self.root / "mail").mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chown(self.root / "mail", self.mail_uid, self.mail_gid)
        self.users_file = self.root / "users"
        self.users_file.write_text("")
        first = self.new_user("qa-intel")
        self.user, self.password = first.user, first.password
        self.config = self.root / "dovecot.conf"
        self.config.write_text(self._config())

    # --- users ---------------------------------------------------------------
    def new_user(self, prefix: str = "u") -> MailUser:
        """A fresh mailbox (passwd-file is re-read on each login, no restart needed)."""
        u = MailUser(f"{prefix}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
        self._users.append(u)
        with self.users_file.open("a") as f:
            f.write(f"{u.user}:{{PLAIN}}{u.password}::::::\n")
        return u

    def wait_login(self, user: str, password: str, timeout: float = 15.0) -> None:
        """Block until the user can log in: after a restart the auth service answers a moment
        after the listener, and a just-added passwd-file user must be seen by it first."""
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError

        deadline = time.monotonic() + timeout
        while True:
            try:
                with IMAPClient(self.host, port=self.port, ssl=False, timeout=5) as c:
                    c.login(user, password)
                    c.logout()
                return
            except (LoginError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _password(self, user: str) -> str:
        for u in self._users:
            if u.user == user:
                return u.password
        raise KeyError(user)

    # --- config and process --------------------------------------------------
    def _config(self) -> str:
        r = self.root
        return f"""
protocols = imap
shutdown_clients = yes
listen = {self.host}
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {self._internal}
default_login_user = {self._login}
first_valid_uid = 1
mail_location = maildir:{r}/mail/%u/Maildir
mail_uid = {self.mail_uid}
mail_gid = {self.mail_gid}
mail_privileged_group =
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={r}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Processed {{
    auto = create
  }}
  mailbox Quarantine {{
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def start(self) -> "DovecotServer":
        if self.proc and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        try:
            _wait_port(self.host, self.port)
        except RuntimeError:
            self.stop()
            log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
            raise RuntimeError(f"Dovecot failed to start:\n{log[-3000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Client (imap) processes can outlive the master; a real restart drops their connections too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same mail (clients see a dropped connection)."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- client helpers ------------------------------------------------------
    def client(self, user: str | None = None):
        from imapclient import IMAPClient

        c = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        c.login(user or self.user, self._password(user or self.user))
        return c

    def append(self, folder: str, raw: bytes, user: str | None = None) -> None:
        c = self.client(user)
        try:
            _ensure(c, folder)
            c.append(folder, raw)
        finally:
            c.logout()

    def append_many(self, folder: str, raws: list[bytes], user: str | None = None) -> None:
        c = self.client(user)
        try:
            _ensure(c, folder)
            for raw in raws:
                c.append(folder, raw)
        finally:
            c.logout()

    def list(self, folder: str, user: str | None = None) -> list[bytes]:
        """Raw messages in the folder, in UID order (peeked: flags untouched)."""
        c = self.client(user)
        try:
            _ensure(c, folder)
            c.select_folder(folder, readonly=True)
            uids = sorted(c.search("ALL"))
            if not uids:
                return []
            data = c.fetch(uids, ["BODY.PEEK[]"])
            return [data[u][b"BODY[]"] for u in uids]
        finally:
            c.logout()

    def count(self, folder: str, user: str | None = None) -> int:
        c = self.client(user)
        try:
            _ensure(c, folder)
            return int(c.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])
        finally:
            c.logout()

    def flags(self, folder: str, user: str | None = None) -> list[tuple]:
        c = self.client(user)
        try:
            c.select_folder(folder, readonly=True)
            uids = sorted(c.search("ALL"))
            return [tuple(v) for _, v in sorted(c.get_flags(uids).items())] if uids else []
        finally:
            c.logout()


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _ensure(c, folder: str) -> None:
    if not c.folder_exists(folder):
        c.create_folder(folder)


def dovecot_reason() -> str | None:
    if not Path(DOVECOT).exists():
        return "dovecot is not installed (make system-deps installs Debian's dovecot-imapd)"
    return None
