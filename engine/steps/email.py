"""The ``email:`` step: one message through SMTP (the standard library's smtplib).

The server comes from the step's ``smtp:`` and, for what it leaves out, from
``config.toml``'s ``[smtp]`` table, so that a workflow says only whom to tell::

    [smtp]
    host = "smtp.example.com"
    port = 587
    security = "starttls"          # or "tls" (465), or "none"
    user = "wfe@example.com"
    password_env = "SMTP_PASSWORD" # the environment variable holding the password
    from = "wfe@example.com"

A password is never written in a file: a step names a secret (``${{ secrets.NAME }}``),
the config an environment variable. TLS is verified against the system's authorities
(``SSL_CERT_FILE`` adds one). Sending runs on a worker thread, under the step's timeout.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import trio

from engine import contexts
from engine.definition import Step
from engine.errors import StepError, StepTimeout
from engine.steps.context import Outcome, StepContext

DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: str
    user: str | None
    password: str | None
    timeout: float


def config_smtp(environ: Mapping[str, str]) -> dict[str, Any]:
    """config.toml's ``[smtp]`` table (empty without one), its password read from the
    environment variable it names."""
    try:
        data = tomllib.loads(contexts.config_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StepError(f"email: cannot read {contexts.config_path()}: {exc}") from exc
    table = data.get("smtp", {})
    if not isinstance(table, dict):
        raise StepError(f"email: [smtp] in {contexts.config_path()} is not a table")
    found = dict(table)
    name = found.pop("password_env", None)
    if name is not None:
        if name not in environ:
            raise StepError(
                f"email: [smtp] password_env names {name}, which is not set in the environment"
            )
        found["password"] = environ[name]
    return found


def server(ctx: StepContext, step: Step, config: Mapping[str, Any]) -> Server:
    spec = step.email
    assert spec is not None
    smtp = spec.smtp
    host = ctx.render_text(smtp.host) if smtp.host else config.get("host")
    if not host:
        raise StepError(
            "email: no SMTP server: give smtp.host in the step or host in config.toml's [smtp]"
        )
    port = smtp.port or config.get("port")
    security = smtp.security or config.get("security")
    if security is None:
        security = {465: "tls", 587: "starttls"}.get(int(port or 25), "none")
    if security not in DEFAULT_PORTS:
        raise StepError(f"email: security {security!r}; use starttls, tls or none")
    user = ctx.render_text(smtp.user) if smtp.user else config.get("user")
    password = ctx.render_text(smtp.password) if smtp.password else config.get("password")
    if (user is None) != (password is None):
        raise StepError("email: give both user and password, or neither")
    return Server(
        str(host),
        int(port or DEFAULT_PORTS[security]),
        security,
        user,
        password,
        smtp.timeout,
    )


def message(ctx: StepContext, step: Step, config: Mapping[str, Any]) -> EmailMessage:
    spec = step.email
    assert spec is not None
    to = [spec.to] if isinstance(spec.to, str) else spec.to
    msg = EmailMessage()
    msg["From"] = (
        ctx.render_text(spec.from_)
        if spec.from_
        else config.get("from") or (f"wfe@{socket.getfqdn()}")
    )
    msg["To"] = ", ".join(ctx.render_text(t) for t in to)
    if spec.cc:
        msg["Cc"] = ", ".join(ctx.render_text(t) for t in spec.cc)
    msg["Subject"] = ctx.render_text(spec.subject)
    msg["Message-ID"] = make_msgid(domain="wfe")
    msg.set_content(ctx.render_text(spec.body))
    return msg


def send(srv: Server, msg: EmailMessage) -> dict[str, Any]:
    """Send on this (worker) thread: what the server refused, by recipient."""
    tls = ssl.create_default_context()
    client: smtplib.SMTP
    if srv.security == "tls":
        client = smtplib.SMTP_SSL(srv.host, srv.port, timeout=srv.timeout, context=tls)
    else:
        client = smtplib.SMTP(srv.host, srv.port, timeout=srv.timeout)
    with client:
        if srv.security == "starttls":
            client.starttls(context=tls)
        if srv.user is not None and srv.password is not None:
            client.login(srv.user, srv.password)
        refused = client.send_message(msg)
    return dict(refused)


async def execute(ctx: StepContext, step: Step) -> Outcome:
    config = config_smtp(ctx.environ)
    srv = server(ctx, step, config)
    msg = message(ctx, step, config)
    where = f"{srv.host}:{srv.port}"
    try:
        refused = await trio.to_thread.run_sync(send, srv, msg, abandon_on_cancel=True)
    except TimeoutError as exc:
        raise StepTimeout(f"email: {where} did not answer within {srv.timeout:g}s") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise StepError(f"email: {where} refused the login: {_said(exc)}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise StepError(
            f"email: {where} refused every recipient: {', '.join(exc.recipients)}"
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise StepError(f"email: {where}: {exc}") from exc
    except smtplib.SMTPException as exc:
        raise StepError(f"email: {where}: {_said(exc)}") from exc
    except ssl.SSLError as exc:
        raise StepError(f"email: {where}: TLS failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise StepError(f"email: cannot connect to {where}: {exc.strerror or exc}") from exc
    to = [a.strip() for a in str(msg["To"]).split(",")]
    ctx.log(f"sent {msg['Subject']!r} to {', '.join(to)} through {where} ({srv.security})")
    if refused:
        ctx.log(f"refused: {', '.join(refused)}")
    return Outcome(
        output={"to": to, "subject": str(msg["Subject"]), "message_id": str(msg["Message-ID"])}
    )


def _said(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{exc.smtp_code} {text}"
    return str(exc) or type(exc).__name__
