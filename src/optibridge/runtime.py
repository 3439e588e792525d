"""What a process shares between requests and jobs: config, database, secrets, limiter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from optibridge.comm100.client import Comm100Client
from optibridge.config import Config
from optibridge.domain.budget import Priority, parse_group_limits
from optibridge.metrics import observe_optimove_call
from optibridge.optimove.client import OptimoveClient
from optibridge.secret_box import SecretBox
from optibridge.ssrf_guard import outgoing_http
from optibridge.store.db import make_engine, one_writer_at_a_time, session_factory
from optibridge.store.group_commit import GroupCommit
from optibridge.store.limiter import RateLimiter


@dataclass
class Runtime:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    limiter: RateLimiter
    comm100_limiter: RateLimiter
    http: httpx.Client
    # The webhook intake's durable inserts, commits shared by concurrent deliveries.
    intake: GroupCommit
    # True when OPTIBRIDGE_PUBLIC_URL is unset and `config.public_url` is only the address this
    # process serves: the webhook URLs it shows are then local ones Comm100 can't reach.
    public_url_assumed: bool = False

    @classmethod
    def start(cls, config: Config, *, public_url_assumed: bool = False) -> Runtime:
        engine = make_engine(
            config.effective_database_url, sqlite_synchronous=config.sqlite_synchronous
        )
        return cls(
            config=config,
            engine=engine,
            sessions=session_factory(engine),
            box=SecretBox(config.secret_keys()),
            limiter=RateLimiter.from_config(engine, config),
            intake=GroupCommit(engine),
            comm100_limiter=RateLimiter(
                engine,
                limit=config.comm100_rate_limit,
                window_s=config.comm100_rate_window_s,
                margin_s=1.0,
            ),
            # One pool for all outgoing calls; per-call timeouts are set by each client.
            http=outgoing_http(
                allow_private_urls=config.allow_private_urls,
                limits=httpx.Limits(max_connections=50),
            ),
            public_url_assumed=public_url_assumed,
        )

    @property
    def public_url_configured(self) -> bool:
        """Whether OPTIBRIDGE_PUBLIC_URL says where Comm100 and Optimove reach this service."""
        return self.config.public_url is not None and not self.public_url_assumed

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends normally, rolled back otherwise.

        On SQLite a transaction that may write takes the write lock at its start (BEGIN
        IMMEDIATE): one that read first and wrote later would fail at once with "database is
        locked" when another process wrote in between. `read_only` ones share the database.
        """
        if read_only:
            with self.sessions() as session, session.begin():
                yield session
            return
        with one_writer_at_a_time(self.engine), self.sessions() as session, session.begin():
            session.connection(execution_options={"sqlite_immediate": True})
            yield session

    def comm100_client(
        self,
        api_base_url: str,
        agent_email: str,
        api_key: str,
        site_id: int,
        *,
        priority: Priority = "live",
    ) -> Comm100Client:
        """The engine's Comm100 client; its calls wait for Comm100's budget at `priority`."""
        return Comm100Client(
            api_base_url,
            agent_email,
            api_key,
            site_id,
            limiter=self.comm100_limiter.for_priority(priority),
            timeout_s=self.config.comm100_timeout_s,
            http=self.http,
        )

    def optimove_client(
        self, base_url: str, api_key: str, *, priority: Priority = "live"
    ) -> OptimoveClient:
        """The engine's client; its calls wait for Optimove's budget at `priority`."""
        return OptimoveClient(
            base_url,
            api_key,
            limiter=self.limiter.for_priority(priority),
            own_groups=parse_group_limits(self.config.optimove_group_limits).keys(),
            timeout_s=self.config.optimove_timeout_s,
            max_attempts=self.config.optimove_max_attempts,
            http=self.http,
            on_call=partial(observe_optimove_call, priority=priority),
        )
