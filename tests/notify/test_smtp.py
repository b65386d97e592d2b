"""Sending through a real SMTP server (aiosmtpd on 127.0.0.1): STARTTLS with a test
certificate, AUTH, and each way it must refuse to send."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.notify.smtpserver import PASSWORD, USER, Mailbox, make_ca, smtp_server
from tldsec.errors import NotifyError
from tldsec.notify.outbox import Message
from tldsec.notify.smtp import SmtpConfig, send

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def message(to: str = "registrar@example.net") -> Message:
    return Message("incident:7", "incident", to, "[example.] incident", "body\n", T0, T0)


def config(port: int, **kw: object) -> SmtpConfig:
    base: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "security": "starttls",
        "sender": "dnssec@example", "timeout": 10.0, "msgid_domain": "example",
    }  # fmt: skip
    base.update(kw)
    return SmtpConfig(**base)  # type: ignore[arg-type]


def test_starttls_and_auth_deliver_with_a_message_id(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    box = Mailbox()
    with smtp_server(box, tls=ca, auth=True) as port:
        mid = send(message(), config(port, ca_file=ca.ca_file, username=USER, password=PASSWORD))
    [mail] = box.messages
    assert mail["Message-ID"] == mid and mid.endswith("@example>")
    assert mail["To"] == "registrar@example.net" and mail["From"] == "dnssec@example"
    assert mail["X-Tldsec-Notice"] == "incident:7" and mail["Auto-Submitted"] == "auto-generated"
    assert box.envelopes == [("dnssec@example", ["registrar@example.net"])]


def test_a_wrong_password_is_refused_and_named(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    box = Mailbox()
    with smtp_server(box, tls=ca, auth=True) as port, pytest.raises(NotifyError, match="535"):
        send(message(), config(port, ca_file=ca.ca_file, username=USER, password="wrong"))
    assert box.messages == []


def test_a_server_certificate_from_an_unknown_ca_is_refused(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    box = Mailbox()
    with (
        smtp_server(box, tls=ca, auth=True) as port,
        pytest.raises(NotifyError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"),
    ):
        send(message(), config(port, username=USER, password=PASSWORD))  # system CAs only
    assert box.messages == []


def test_no_starttls_offered_means_nothing_sent(tmp_path: Path) -> None:
    box = Mailbox()
    with smtp_server(box) as port, pytest.raises(NotifyError, match="does not offer STARTTLS"):
        send(message(), config(port))
    assert box.messages == []


def test_auth_is_never_sent_in_the_clear(tmp_path: Path) -> None:
    box = Mailbox()
    with smtp_server(box) as port, pytest.raises(NotifyError, match="unencrypted"):
        send(message(), config(port, security="none", username=USER, password=PASSWORD))
    assert box.messages == []


def test_a_refusal_is_a_notify_error_with_the_code(tmp_path: Path) -> None:
    box = Mailbox(refuse=1)
    with smtp_server(box) as port, pytest.raises(NotifyError, match="451"):
        send(message(), config(port, security="none"))
    assert box.messages == []


def test_nobody_listening_is_named(tmp_path: Path) -> None:
    from tests.notify.smtpserver import free_port

    port = free_port()
    with pytest.raises(NotifyError, match=f"127.0.0.1:{port}"):
        send(message(), config(port, security="none", timeout=2.0))
