"""The `hawker` command explains itself."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hawker.cli import app

runner = CliRunner()


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_top_level_help_lists_every_command() -> None:
    out = _help()
    assert "live shopping" in out
    for command in ("demo", "rehearse", "serve", "migrate", "create-admin"):
        assert command in out


def test_demo_help_explains_itself() -> None:
    out = _help("demo")
    assert "simulated audience" in out
    for option in ("--port", "--host", "--viewers", "--chat-rate", "--no-audience", "--reset"):
        assert option in out


def test_rehearse_help_explains_itself() -> None:
    out = _help("rehearse")
    assert "WebSockets" in out
    for option in ("--url", "--show", "--viewers", "--chat-rate", "--duration"):
        assert option in out


@pytest.mark.parametrize("command", ["serve", "migrate", "create-admin"])
def test_other_commands_have_help(command: str) -> None:
    assert len(_help(command).strip().splitlines()) > 3


def test_rehearse_needs_a_show() -> None:
    result = runner.invoke(app, ["rehearse"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code != 0
    assert "--show" in result.output


def test_rehearse_says_when_the_server_is_not_there() -> None:
    result = runner.invoke(
        app, ["rehearse", "--url", "http://127.0.0.1:9", "--show", "1", "--duration", "1"]
    )
    assert result.exit_code == 1
    assert "cannot reach" in result.output
