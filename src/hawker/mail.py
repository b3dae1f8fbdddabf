"""The email sender port: what Hawker tells people by email (a show they follow is live).

Backends, picked by `HAWKER_EMAIL_BACKEND`: `file` writes each message as an .eml file in a
directory (the embedded default: open them with any mail reader, or point a relay at the
directory), `log` writes it to the server log. A backend for a real relay fits the same
`Mailer` protocol.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from hawker.config import Settings

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, to: str, subject: str, text: str) -> None: ...


def message(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="hawker.local")
    msg.set_content(text)
    return msg


class FileMailer:
    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, to: str, subject: str, text: str) -> None:
        await asyncio.to_thread(self._write, message(self.sender, to, subject, text))

    def _write(self, msg: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed: whoever reads the directory never
        # sees half a message.
        # Named by time first, so that a listing of the directory is in the order sent.
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(msg.as_bytes())
        partial.rename(self.directory / name)


class LogMailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, to: str, subject: str, text: str) -> None:
        log.info("email to %s: %s\n%s", to, subject, text)


def make_mailer(settings: Settings) -> Mailer:
    if settings.email_backend == "log":
        return LogMailer(settings.email_from)
    return FileMailer(settings.mail_root, settings.email_from)
