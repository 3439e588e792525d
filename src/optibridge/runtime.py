"""What a process shares between requests and jobs: config, database, secrets, limiter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from optibridge.config import Config
from optibridge.optimove.client import OptimoveClient
from optibridge.optimove.limiter import RateLimiter
from optibridge.services.secrets import SecretBox
from optibridge.store.db import make_engine, session_factory


@dataclass
class Runtime:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    limiter: RateLimiter
    http: httpx.Client

    @classmethod
    def start(cls, config: Config) -> Runtime:
        engine = make_engine(config.effective_database_url)
        return cls(
            config=config,
            engine=engine,
            sessions=session_factory(engine),
            box=SecretBox(config.fernet()),
            limiter=RateLimiter.from_config(engine, config),
            # One pool for all outgoing calls; per-call timeouts are set by each client.
            http=httpx.Client(limits=httpx.Limits(max_connections=50), follow_redirects=False),
        )

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: committed when the block ends normally, rolled back otherwise."""
        with self.sessions() as session, session.begin():
            yield session

    def optimove_client(self, base_url: str, api_key: str) -> OptimoveClient:
        return OptimoveClient(
            base_url,
            api_key,
            limiter=self.limiter,
            timeout_s=self.config.optimove_timeout_s,
            max_attempts=self.config.optimove_max_attempts,
            http=self.http,
        )
