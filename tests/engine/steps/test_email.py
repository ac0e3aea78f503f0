"""The email step against a real SMTP server on 127.0.0.1 (aiosmtpd): plain, STARTTLS
and TLS with a certificate from a test authority (trustme), logins, refusals."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine import definition, store
from engine.errors import DefinitionError
from tests.support import add, run, steps_of

BACKENDS = ("sqlite",)


@dataclass
class Inbox:
    """What the server was given."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A certificate authority the step trusts (SSL_CERT_FILE), as a company's own is."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return authority


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"wfe",
        b"s3cret-pw",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server: plain (``none``), ``starttls`` or ``tls`` (the param)."""
    security = getattr(request, "param", "none")
    inbox = Inbox()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    port = free_port()
    kwargs: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "port": port,
        "authenticator": authenticator,
        # (aiosmtpd counts only STARTTLS as TLS: over implicit TLS it must not ask.)
        "auth_require_tls": security == "starttls",
    }
    if security == "starttls":
        kwargs["tls_context"] = server_tls
        kwargs["require_starttls"] = True
    elif security == "tls":
        kwargs["ssl_context"] = server_tls
    controller = Controller(inbox, **kwargs)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.mark.trio
async def test_a_plain_message_reaches_the_server(db: store.Store, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    add(
        db,
        f"""
        name: mail
        params: {{who: ops@example.com}}
        steps:
          - id: tell
            email:
              to: ["${{{{ params.who }}}}", dev@example.com]
              cc: [boss@example.com]
              from: wfe@example.com
              subject: "execution ${{{{ execution.id }}}} done"
              body: "all good"
              smtp: {{host: 127.0.0.1, port: {port}, security: none}}
        """,
    )
    handle = await run(db, "mail")
    assert handle.status == "succeeded", store.step_runs(db, handle.id)
    (msg,) = inbox.messages
    assert msg["To"] == "ops@example.com, dev@example.com" and msg["Cc"] == "boss@example.com"
    assert msg["Subject"] == f"execution {handle.id} done"
    assert msg.get_payload().strip() == "all good"
    assert inbox.envelopes == [
        ("wfe@example.com", ["ops@example.com", "dev@example.com", "boss@example.com"])
    ]
    (row,) = store.step_runs(db, handle.id)
    assert row.output["to"] == ["ops@example.com", "dev@example.com"]
    assert row.output["message_id"] == msg["Message-ID"]


@pytest.mark.trio
@pytest.mark.parametrize("smtp", ["starttls", "tls"], indirect=True)
async def test_starttls_and_tls_log_in_with_a_secret(
    db: store.Store, smtp: tuple[int, Inbox], request: pytest.FixtureRequest
) -> None:
    port, inbox = smtp
    security = request.node.callspec.params["smtp"]
    add(
        db,
        f"""
        name: mail
        secrets: [SMTP_PASSWORD]
        steps:
          - id: tell
            email:
              to: ops@example.com
              subject: over {security}
              smtp:
                host: 127.0.0.1
                port: {port}
                security: {security}
                user: wfe
                password: ${{{{ secrets.SMTP_PASSWORD }}}}
        """,
    )
    handle = await run(db, "mail", environ={"SMTP_PASSWORD": "s3cret-pw"})
    assert handle.status == "succeeded", store.step_runs(db, handle.id)[0].error
    assert [m["Subject"] for m in inbox.messages] == [f"over {security}"]
    wrong = await run(db, "mail", environ={"SMTP_PASSWORD": "wrong"})
    (row,) = store.step_runs(db, wrong.id)
    assert row.status == "failed"
    assert row.error.startswith(f"email: 127.0.0.1:{port} refused the login: 535")


@pytest.mark.trio
async def test_the_server_comes_from_config_toml(
    db: store.Store, smtp: tuple[int, Inbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = tmp_path / "workflow-engine"
    folder.mkdir()
    (folder / "config.toml").write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nfrom = "robot@example.com"\n'
    )
    add(db, "name: m\nsteps:\n  - {id: t, email: {to: a@example.com, subject: hi}}\n")
    handle = await run(db, "m")
    assert handle.status == "succeeded", store.step_runs(db, handle.id)[0].error
    assert inbox.envelopes == [("robot@example.com", ["a@example.com"])]


@pytest.mark.trio
async def test_a_server_that_is_not_there_fails_the_step_saying_so(db: store.Store) -> None:
    port = free_port()
    add(
        db,
        "name: m\nsteps:\n  - id: t\n    email: {to: a@example.com, subject: hi,"
        f" smtp: {{host: 127.0.0.1, port: {port}}}}}\n",
    )
    handle = await run(db, "m")
    (row,) = store.step_runs(db, handle.id)
    assert (row.status, row.error) == (
        "failed",
        f"email: cannot connect to 127.0.0.1:{port}: Connection refused",
    )
    assert steps_of(db, handle.id) == {"t": ("failed", 1)}


def test_a_password_written_in_the_file_is_refused() -> None:
    text = (
        "name: m\nsteps:\n  - id: t\n    email: {to: a@example.com, subject: hi,"
        " smtp: {host: mail, user: u, password: hunter2}}\n"
    )
    with pytest.raises(DefinitionError) as info:
        definition.parse(text, "m.yaml")
    assert [str(p) for p in info.value.problems] == [
        "m.yaml:4: steps[t].email: smtp.password: give a secret, ${{ secrets.NAME }}, never"
        " the password itself"
    ]
