"""Notifications when a quarterly job finishes: an HTTP webhook (JSON POST) and email over SMTP.

Example:
    >>> cfg = NotifyConfig.from_dict({"webhook": {"url": "http://127.0.0.1:9/hook"}})
    >>> cfg.webhook.url
    'http://127.0.0.1:9/hook'
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from quantray.errors import ConfigError, QuantrayError

__all__ = [
    "EmailConfig",
    "NotificationError",
    "NotifyConfig",
    "WebhookConfig",
    "send_email",
    "send_webhook",
]


class NotificationError(QuantrayError):
    """A notification could not be delivered (names the destination and the cause)."""


def _reject(cls: type, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {valid}")
    return dict(data)


@dataclass(frozen=True, kw_only=True)
class WebhookConfig:
    """``url`` to POST a JSON summary to; extra ``headers``; ``timeout`` seconds; ``secret_env``: the name of an
    environment variable whose value is sent as ``X-Quantray-Secret``."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    secret_env: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"notify.webhook.url: expected an http(s) URL, got {self.url!r}")
        if not self.timeout > 0:
            raise ConfigError(f"notify.webhook.timeout: must be > 0, got {self.timeout!r}")


@dataclass(frozen=True, kw_only=True)
class EmailConfig:
    """SMTP delivery: ``host``, ``port``, ``sender``, ``to`` (list), ``starttls`` / ``ssl``, ``username`` and
    ``password_env`` (the name of an environment variable holding the password), ``attach`` (attach the
    rendered files up to ``max_attachment_mb`` in total)."""

    host: str
    port: int = 25
    sender: str = "quantray@localhost"
    to: tuple[str, ...] = ()
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout: float = 20.0
    attach: bool = True
    max_attachment_mb: float = 10.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("notify.email.host: required")
        if not self.to:
            raise ConfigError("notify.email.to: at least one recipient is required")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"notify.email.port: expected 1..65535, got {self.port!r}")
        if self.starttls and self.ssl:
            raise ConfigError("notify.email: `starttls` and `ssl` exclude each other")


@dataclass(frozen=True, kw_only=True)
class NotifyConfig:
    """Where to send the job's notification: ``webhook`` and/or ``email`` (either may be None)."""

    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, where: str = "notify") -> NotifyConfig:
        """From YAML: ``{webhook: {url, headers, timeout, secret_env}, email: {host, port, sender, to, ...}}``."""
        d = _reject(cls, data or {}, where)
        wh = d.get("webhook")
        em = d.get("email")
        webhook = WebhookConfig(**_reject(WebhookConfig, wh, f"{where}.webhook")) if wh else None
        email = None
        if em:
            e = _reject(EmailConfig, em, f"{where}.email")
            to = e.get("to") or ()
            e["to"] = (to,) if isinstance(to, str) else tuple(to)
            email = EmailConfig(**e)
        return cls(webhook=webhook, email=email)


def send_webhook(cfg: WebhookConfig, payload: Mapping[str, Any]) -> int:
    """POST ``payload`` as JSON to ``cfg.url``; return the HTTP status (2xx) or raise NotificationError."""
    body = json.dumps(payload, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "quantray-reports/1", **dict(cfg.headers)}
    if cfg.secret_env:
        secret = os.environ.get(cfg.secret_env)
        if secret is None:
            raise NotificationError(f"webhook {cfg.url}: environment variable {cfg.secret_env} is not set")
        headers["X-Quantray-Secret"] = secret
    req = urllib.request.Request(cfg.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=cfg.timeout) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        raise NotificationError(f"webhook {cfg.url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise NotificationError(f"webhook {cfg.url}: cannot deliver: {exc}") from None
    if not 200 <= status < 300:
        raise NotificationError(f"webhook {cfg.url}: HTTP {status}")
    return status


def send_email(
    cfg: EmailConfig, subject: str, text: str, *, html: str | None = None, attachments: Sequence[str] = ()
) -> None:
    """Send one message over SMTP (plain text, optional HTML alternative, local files attached)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.to)
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    budget = cfg.max_attachment_mb * 1024 * 1024
    mimes = {
        ".pdf": ("application", "pdf"),
        ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ".md": ("text", "markdown"),
        ".html": ("text", "html"),
        ".json": ("application", "json"),
    }
    for path in attachments if cfg.attach else ():
        p = Path(path)
        if not p.is_file():
            continue
        size = p.stat().st_size
        if size > budget:
            continue
        budget -= size
        maintype, subtype = mimes.get(p.suffix.lower(), ("application", "octet-stream"))
        msg.add_attachment(p.read_bytes(), maintype=maintype, subtype=subtype, filename=p.name)
    password = os.environ.get(cfg.password_env) if cfg.password_env else None
    if cfg.password_env and password is None:
        raise NotificationError(f"email via {cfg.host}: environment variable {cfg.password_env} is not set")
    try:
        smtp: smtplib.SMTP
        if cfg.ssl:
            smtp = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        with smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username:
                smtp.login(cfg.username, password or "")
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise NotificationError(f"email via {cfg.host}:{cfg.port}: {type(exc).__name__}: {exc}") from None
