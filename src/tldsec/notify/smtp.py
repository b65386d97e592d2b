"""Sending one message through an SMTP server (smtplib), with STARTTLS or TLS and AUTH.

The server's certificate is checked (``ssl.create_default_context``, with ``[notify]
ca_file`` when set); AUTH is refused over a connection that is not encrypted. Every
failure of the connection or the server becomes a ``NotifyError`` naming the server.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from tldsec.errors import NotifyError, NotifyUnsendable
from tldsec.notify.outbox import Message


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to reach the SMTP server (``[notify]``)."""

    host: str
    port: int
    security: str  # "starttls", "tls", "none"
    sender: str
    timeout: float = 30.0
    username: str = ""
    password: str = ""
    ca_file: Path | None = None
    msgid_domain: str = "localhost"


def email_of(message: Message, config: SmtpConfig) -> EmailMessage:
    """The message as RFC 5322 text, with a new Message-ID."""
    mail = EmailMessage()
    mail["From"] = config.sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(message.created)
    mail["Message-ID"] = make_msgid(domain=config.msgid_domain)
    mail["X-Tldsec-Notice"] = message.notice
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834
    mail.set_content(message.body)
    return mail


def send(message: Message, config: SmtpConfig) -> str:
    """Send ``message``; its Message-ID once the server accepted it."""
    where = f"SMTP server {config.host}:{config.port}"
    try:
        mail = email_of(message, config)
    except ValueError as exc:  # a header with a line break: never sent as written
        raise NotifyUnsendable(f"message for {message.recipient!r} not sent: {exc}") from exc
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    try:
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with client:
            client.ehlo()
            if config.security == "starttls":
                if not client.has_extn("starttls"):
                    raise NotifyError(f"{where} does not offer STARTTLS (RFC 3207)")
                client.starttls(context=context)
                client.ehlo()
            if config.username:
                if config.security == "none":
                    raise NotifyError(f"{where}: AUTH over an unencrypted connection refused")
                _login(client, config.username, config.password)
            refused = client.send_message(mail)
            if refused:
                raise NotifyError(f"{where} refused {', '.join(sorted(refused))}")
    except NotifyError:
        raise
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise NotifyError(f"{where} answered {exc.smtp_code} {text}") from exc
    except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise NotifyError(f"{where}: {exc}") from exc
    return str(mail["Message-ID"])


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN where offered (one attempt, one clear refusal: over TLS it is as safe
    as any), else whatever ``smtplib`` picks."""
    offered = client.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in offered:
        client.login(username, password)
        return
    client.user, client.password = username, password
    code, reply = client.auth("PLAIN", client.auth_plain)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)
