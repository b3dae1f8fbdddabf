"""The email sender port: the file backend writes each message as a complete .eml file,
readable by any mail reader; the log backend writes it to the log; the setting picks."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from pathlib import Path

import pytest

from hawker.config import Settings
from hawker.mail import FileMailer, LogMailer, make_mailer


def test_the_file_backend_writes_one_eml_file_per_message(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "mail", "Hawker <no-reply@example.com>")
    asyncio.run(mailer.send("ann@example.com", "Ada is live: “Spring”", "Watch now: /shows/1"))
    asyncio.run(mailer.send("bob@example.com", "Second", "Hello"))
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]  # no partial files left behind
    first = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert first["To"] == "ann@example.com"
    assert first["From"] == "Hawker <no-reply@example.com>"
    assert first["Subject"] == "Ada is live: “Spring”"
    assert first.get_content().strip() == "Watch now: /shows/1"


def test_the_log_backend_logs_the_message(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hawker.mail"):
        asyncio.run(LogMailer("x@example.com").send("ann@example.com", "Hi", "Body"))
    assert "ann@example.com" in caplog.text and "Body" in caplog.text


def test_the_setting_picks_the_backend(tmp_path: Path) -> None:
    filed = make_mailer(Settings(data_dir=tmp_path))
    assert isinstance(filed, FileMailer) and filed.directory == tmp_path / "mail"
    assert isinstance(make_mailer(Settings(email_backend="log")), LogMailer)
    with pytest.raises(ValueError):
        Settings(email_backend="carrier-pigeon")
