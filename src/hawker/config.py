"""Settings: the one place that reads the environment (HAWKER_*)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAWKER_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    public_url: str | None = Field(
        None, description="The address viewers use, for links and origin checks."
    )
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        None, description="sqlite:///path or postgresql://...; default: SQLite in data_dir."
    )
    redis_url: str | None = Field(None, description="redis://...; default: in-process bus.")
    redis_namespace: str = Field(
        "hawker",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description=(
            "Prefix of every Redis key and pub/sub channel. Deployments sharing one Redis "
            "server need different ones: channels are server-wide, whatever the database number."
        ),
    )

    session_days: int = 30
    secure_cookies: bool = False

    chat_max_length: int = 300
    chat_rate_per_s: float = 1.0
    chat_burst: int = 5
    recent_chat: int = 50
    default_mute_seconds: int = 300
    max_ws_frame_bytes: int = 16 * 1024
    like_flush_s: float = 1.0
    viewers_flush_s: float = 1.0
    viewers_sample_s: float = Field(
        60.0, gt=0, description="How often each live show's viewer count is kept for its charts."
    )
    hub_tick_s: float = 0.05
    busy_chat_per_s: int = Field(
        20,
        ge=1,
        description="How many chat messages a second viewers of a room of 300 or more see"
        " (each worker shows its own sample; staff and each message's author see all).",
    )
    gc_tuning: bool = Field(
        True,
        description="Freeze what the app built at startup out of the garbage collector's"
        " walks and collect less often (web/app.py); off for servers inside a test process.",
    )
    max_upload_bytes: int = 5 * 1024 * 1024

    hold_seconds: int = Field(
        300, ge=1, le=3600, description="How long stock is held for a buyer who has not paid yet."
    )
    payment_grace_s: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="How much longer a hold lasts while its payment is being confirmed.",
    )
    secret_key: str | None = Field(
        None,
        description=(
            "Signs payment webhooks; the same on every worker. Default: made once in data_dir."
        ),
    )
    payments_provider: str = "sandbox"
    sandbox_delay_s: float = 0.1
    stock_flush_s: float = 0.25
    deals_tick_s: float = 0.5
    sweep_s: float = 1.0

    email_backend: str = Field(
        "file",
        pattern=r"^(file|log)$",
        description=(
            "Where emails to viewers go: 'file' writes each as an .eml file in email_dir, "
            "'log' writes it to the server log."
        ),
    )
    email_dir: Path | None = Field(None, description="Default: data_dir/mail.")
    email_from: str = "Hawker <no-reply@hawker.local>"

    # Video: RTMP ingest, HLS packaging and recording (hawker.video).
    rtmp_port: int = Field(1935, ge=0, le=65535, description="RTMP ingest; 0: no video ingest.")
    rtmp_host: str | None = Field(None, description="The interface RTMP listens on; default: host.")
    rtmp_public_url: str | None = Field(
        None, description="The server URL hosts paste into OBS; default: rtmp://<host>:<port>/live."
    )
    video_dir: Path | None = Field(
        None, description="Live segments and recordings; default: data_dir/video."
    )
    segment_seconds: float = Field(
        1.0, ge=0.2, le=10, description="HLS segment length (and keyframe interval)."
    )
    live_window: int = Field(6, ge=3, le=60, description="Segments in the live playlist.")
    video_max_fps: int = Field(60, ge=1, description="A higher frame rate is refused.")
    video_max_pixels: int = Field(
        1920 * 1080, ge=1, description="A larger picture (width x height) is refused."
    )
    video_probe_s: float = Field(5.0, gt=0, description="No video by then: refused.")
    ingest_idle_s: float = Field(10.0, gt=0, description="An encoder silent this long has dropped.")
    ffmpeg_path: str | None = Field(None, description="Default: the imageio-ffmpeg wheel's binary.")

    # Test harness only: services the tests need must be there (CI sets it).
    require_services: bool = False
    test_postgres_url: str = "postgresql://postgres@127.0.0.1:5432/test"
    test_redis_url: str = "redis://127.0.0.1:6379/0"

    @cached_property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hawker.db'}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def mail_root(self) -> Path:
        return self.email_dir or self.data_dir / "mail"

    @property
    def video_root(self) -> Path:
        return self.video_dir or self.data_dir / "video"

    def secret(self) -> str:
        """The configured secret, or one made on first use and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()
