"""Send one email over SMTP. Every message the product sends is marked auto-generated.

RFC 3834: `Auto-Submitted: auto-generated` stops well-behaved auto-responders replying,
so the product never starts a mail loop with an out-of-office.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from triage import clock
from triage.config import Settings


class EmailDisabled(RuntimeError):
    pass


def build_message(settings: Settings, *, to: list[str] | str, subject: str, text: str, html: str | None = None,
                  in_reply_to: str | None = None, headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join([to] if isinstance(to, str) else to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain=settings.smtp_from.rsplit("@", 1)[-1] or "localhost")
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def send(settings: Settings, msg: EmailMessage) -> str:
    """Send a built message; returns its Message-ID. Raises on SMTP failure (callers retry)."""
    if not settings.smtp_host:
        raise EmailDisabled("SMTP is not configured (set TRIAGE_SMTP_HOST)")
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                                context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with server:
        if settings.smtp_security == "starttls":
            server.starttls(context=ssl.create_default_context())
        if settings.smtp_user and settings.smtp_password:
            server.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        server.send_message(msg)
    return msg["Message-ID"]


def send_email(settings: Settings, *, to: list[str] | str, subject: str, text: str, html: str | None = None,
               in_reply_to: str | None = None, headers: dict[str, str] | None = None) -> str:
    return send(settings, build_message(settings, to=to, subject=subject, text=text, html=html,
                                        in_reply_to=in_reply_to, headers=headers))
