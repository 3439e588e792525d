"""Process configuration from `OPTIBRIDGE_` environment variables (SPEC 5.1)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name)


class Config(BaseSettings):
    """Everything a process needs to know before it touches the database."""

    model_config = SettingsConfigDict(env_prefix="OPTIBRIDGE_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("./var"), description="Where SQLite and the key file live.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means SQLite in data_dir."
    )
    admin_token: SecretStr | None = Field(default=None, description="Bootstrap admin token.")
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key encrypting stored API keys; generated if absent."
    )
    allow_private_urls: bool = Field(
        default=False, description="Let settings point at loopback/private hosts and plain http."
    )
    public_url: str | None = Field(
        default=None, description="Where Comm100 and Optimove reach this service."
    )
    log_format: str = Field(default="auto", description="auto (JSON off a terminal), json, text.")
    log_level: str = Field(default="info")
    optimove_rate_limit: int = Field(default=50, ge=1, description="Calls per window per API key.")
    optimove_rate_window_s: float = Field(default=10.0, gt=0)
    optimove_rate_margin_s: float = Field(
        default=0.5,
        ge=0,
        description="Added to the window so latency jitter cannot squeeze 51 calls into 10 s.",
    )
    optimove_timeout_s: float = Field(default=10.0, gt=0)
    optimove_max_attempts: int = Field(default=5, ge=1)
    attribute_cache_ttl_s: float = Field(default=300.0, ge=0)
    customer_cache_ttl_s: float = Field(
        default=120.0, ge=0, description="How long a read customer is reused by decisions."
    )
    comm100_rate_limit: int = Field(default=300, ge=1, description="Comm100 calls per window.")
    comm100_rate_window_s: float = Field(default=300.0, gt=0)
    comm100_timeout_s: float = Field(default=10.0, gt=0)
    worker_batch_size: int = Field(default=200, ge=1, le=1000)
    worker_lease_s: float = Field(default=120.0, gt=0)
    worker_poll_s: float = Field(default=0.2, gt=0)
    sync_max_attempts: int = Field(default=6, ge=1)
    sync_retry_base_s: float = Field(default=2.0, gt=0)
    sync_retry_max_s: float = Field(default=300.0, gt=0)
    callback_timeout_s: float = Field(
        default=180.0, gt=0, description="After this, a write with no callback is read back."
    )

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value not in {"auto", "json", "text"}:
            raise ValueError("must be one of auto, json, text")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_without_slash(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'optibridge.db'}"

    def secret_key_bytes(self) -> bytes:
        """The deployment's secret key: configured, or created once in data_dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        key_path = self.data_dir / SECRET_KEY_FILE
        if not key_path.exists():
            _create_key_file(key_path)
        return key_path.read_bytes().strip()

    def fernet(self) -> Fernet:
        """The key that encrypts API keys and webhook secrets at rest."""
        return Fernet(self.secret_key_bytes())


def _create_key_file(key_path: Path) -> None:
    """Write a new key so that concurrent first starts all end up reading the same one."""
    key_path.parent.mkdir(parents=True, exist_ok=True)
    draft = key_path.with_name(f".{key_path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    try:
        os.link(draft, key_path)  # atomic: fails if another process won the race
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def new_token(prefix: str) -> str:
    """A random bearer token; the prefix tells a reader what kind it is."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
