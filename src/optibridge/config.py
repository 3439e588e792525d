"""Process configuration from `OPTIBRIDGE_` environment variables (SPEC 5.1)."""

from __future__ import annotations

import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from optibridge.domain.budget import parse_group_limits

SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name)


class Config(BaseSettings):
    """Everything a process needs to know before it touches the database."""

    # Errors never repeat the value given: it may be a key or a token.
    model_config = SettingsConfigDict(
        env_prefix="OPTIBRIDGE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    data_dir: Path = Field(default=Path("./var"), description="Where SQLite and the key file live.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means SQLite in data_dir."
    )
    admin_token: SecretStr | None = Field(default=None, description="Bootstrap admin token.")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet keys (newest first, separated by commas or whitespace) encrypting "
        "stored API keys; generated if absent.",
    )
    allow_private_urls: bool = Field(
        default=False, description="Let settings point at loopback/private hosts and plain http."
    )
    public_url: str | None = Field(
        default=None, description="Where Comm100 and Optimove reach this service."
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite's durability: FULL syncs every commit to disk before a webhook is "
        "answered (SPEC 4.4); NORMAL may lose the last commits on a power cut (not on a crash).",
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
    optimove_group_limits: str = Field(
        default="",
        description="Limits of Optimove endpoint groups of their own, e.g. 'reads=50/10,"
        "writes=20/10' (groups: reads, writes, attributes); the others share the key's"
        " OPTIBRIDGE_OPTIMOVE_RATE_LIMIT per window.",
    )
    optimove_timeout_s: float = Field(default=10.0, gt=0)
    optimove_max_attempts: int = Field(default=5, ge=1)
    attribute_cache_ttl_s: float = Field(default=300.0, ge=0)
    customer_cache_ttl_s: float = Field(
        default=120.0, ge=0, description="How long a read customer is reused by decisions."
    )
    conversation_read_max_age_s: float = Field(
        default=4 * 3600.0,
        ge=0,
        description="How long the customer an agent looked up during a conversation serves that"
        " conversation's own end (kept current by Refresh and our own writes).",
    )
    comm100_rate_limit: int = Field(default=300, ge=1, description="Comm100 calls per window.")
    comm100_rate_window_s: float = Field(default=300.0, gt=0)
    comm100_timeout_s: float = Field(default=10.0, gt=0)
    write_gather_max_s: float = Field(
        default=20.0,
        ge=0,
        le=30,
        description="How long a round's updates may wait for more to share their"
        " UpdateCustomerAttributes call while more are surely coming (agents have chats open in"
        " the tab, or events keep arriving while Optimove's budget is in use); otherwise none.",
    )
    write_gather_busy_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="The budget counts as in use once this share of its window's calls is taken"
        " (or callers wait); below it, writes go at once.",
    )
    interactive_timeout_s: float = Field(
        default=4.0,
        gt=0,
        description="Per-call timeout of what an administrator waits on (a connection test, "
        "the site page's reads, Save's check of the field names); the engine's, when shorter.",
    )
    interactive_max_attempts: int = Field(
        default=2,
        ge=1,
        description="Attempts of such a call; the engine's, when fewer. With the defaults a "
        "connection test answers within about 10 s, whatever Optimove or Comm100 does.",
    )
    worker_batch_size: int = Field(default=200, ge=1, le=1000)
    worker_lease_s: float = Field(default=120.0, gt=0)
    worker_poll_s: float = Field(default=0.2, gt=0)
    backfill_page_size: int = Field(
        default=50,
        ge=1,
        le=100,
        description="Conversations a backfill lists from Comm100 per call; it lists no more "
        "while that many of its records are still unfinished.",
    )
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

    @field_validator("optimove_group_limits")
    @classmethod
    def _valid_group_limits(cls, value: str) -> str:
        parse_group_limits(value)
        return value

    @field_validator("secret_key")
    @classmethod
    def _valid_secret_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_secret_keys(value.get_secret_value())
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

    def secret_keys(self) -> tuple[bytes, ...]:
        """The deployment's secret keys, newest first: configured, or read from the key file in
        data_dir (created with one key at the first start). Raises `SecretKeyInvalid`."""
        if self.secret_key is not None:
            return parse_secret_keys(self.secret_key.get_secret_value())
        key_path = self.data_dir / SECRET_KEY_FILE
        if not key_path.exists():
            _create_key_file(key_path)
        try:
            return parse_secret_keys(key_path.read_bytes().decode("utf-8", errors="replace"))
        except SecretKeyInvalid as error:
            raise SecretKeyInvalid(f"{key_path}: {error}") from None


class SecretKeyInvalid(ValueError):
    """A secret key list Fernet can't use. The message names the entry, never its value."""


def parse_secret_keys(text: str) -> tuple[bytes, ...]:
    """Fernet keys separated by commas or whitespace, newest first: the first encrypts and
    signs, every one decrypts and verifies (so a new key can go in front before the stored
    secrets are re-encrypted under it)."""
    entries = [entry for entry in re.split(r"[\s,]+", text) if entry]
    if not entries:
        raise SecretKeyInvalid("no key given (one or more Fernet keys, newest first)")
    keys = []
    for position, entry in enumerate(entries, start=1):
        key = entry.encode()
        try:
            Fernet(key)
        except (ValueError, TypeError):
            which = "the key" if len(entries) == 1 else f"key {position} of {len(entries)}"
            raise SecretKeyInvalid(
                f"{which} is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from None
        keys.append(key)
    return tuple(keys)


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
