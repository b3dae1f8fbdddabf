"""Real `hawker serve` processes for tests that need more than one worker, or a worker to die.

Each process is started the way an operator starts one (the `hawker` command, settings from
HAWKER_* variables), in a session of its own, so that a signal meant for it reaches nothing
else; it is stopped and killed by its process id only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.harness import free_port

HAWKER = Path(sys.executable).with_name("hawker")


@dataclass
class ServerProcess:
    """One `hawker serve` on 127.0.0.1:`port`. `env` holds the HAWKER_* settings; the
    process sees no other HAWKER_* variable of the test's own environment."""

    name: str
    port: int
    env: dict[str, str]
    work_dir: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def log_path(self) -> Path:
        return self.work_dir / f"{self.name}.log"

    def start(self, *, timeout: float = 60.0) -> None:
        """Start the process and wait until it answers HTTP."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAWKER_")}
        env.update(self.env)
        env["HAWKER_HOST"] = "127.0.0.1"
        env["HAWKER_PORT"] = str(self.port)
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"\n--- start {self.starts} ---\n".encode())
        self._log.flush()
        # The schema is upgraded by the test before any worker starts; two workers upgrading
        # one database at once is a deployment question, not this test's.
        self.proc = subprocess.Popen(
            [str(HAWKER), "serve", "--no-migrate", *self.args],
            env=env,
            cwd=self.work_dir,  # no stray .env file from the repository is read
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited while starting:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.api}/shows").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} did not answer in {timeout}s:\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no cleanup, in-flight requests cut off."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def stop(self, *, timeout: float = 15.0) -> None:
        """A clean stop (SIGTERM), and kill -9 if it does not come."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def server_env(
    *,
    database_url: str,
    redis_url: str | None,
    data_dir: Path,
    secret_key: str,
    **settings: object,
) -> dict[str, str]:
    """HAWKER_* variables for a worker; extra settings by name, e.g. hold_seconds=10."""
    env = {
        "HAWKER_DATABASE_URL": database_url,
        "HAWKER_DATA_DIR": str(data_dir),
        "HAWKER_SECRET_KEY": secret_key,
    }
    if redis_url:
        env["HAWKER_REDIS_URL"] = redis_url
    for name, value in settings.items():
        env[f"HAWKER_{name.upper()}"] = str(value)
    return env


@contextmanager
def servers(
    count: int, env: Mapping[str, str], work_dir: Path, args: tuple[str, ...] = ()
) -> Iterator[list[ServerProcess]]:
    """`count` workers sharing `env` (database, Redis, secret), each on a port of its own;
    all stopped afterwards, whatever happened."""
    with ExitStack() as stack:
        out: list[ServerProcess] = []
        for n in range(count):
            worker = ServerProcess(
                f"worker-{n}", free_port(), dict(env), work_dir / f"worker-{n}", args
            )
            stack.callback(worker.stop)
            worker.start()
            out.append(worker)
        yield out
