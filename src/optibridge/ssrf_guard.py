"""The SSRF guard: calls to the vendors' hosts reach public addresses only, checked at connect time.

Settings are checked when they are saved (`domain.urls`), but a host *name* can resolve to a
private address, today or after its DNS answer changes (rebinding). `GuardedTransport` resolves
the host of every request, refuses it when any address is not public (judged by
`domain.urls.is_private_address`), and pins the request to the checked addresses: the URL's host
becomes the IP, the `Host` header keeps the name, and for https the `sni_hostname` extension
makes httpcore send the name in SNI and verify the certificate against it. Nothing resolves the
name again, so the address checked is the address connected to.

httpcore pools connections by origin, which is now an IP; each host name gets its own pool (with
the given limits), so a connection whose certificate was verified for one name never carries a
request for another name on the same IP.

Behind an egress proxy (`HTTPS_PROXY`/`HTTP_PROXY`, minus `NO_PROXY`, as httpx reads them
without the guard) the name is still resolved and checked here, but the proxy connects, so it
resolves the name again: pinning against rebinding is then the proxy's to enforce.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from ipaddress import IPv4Address, IPv6Address, ip_address

import httpx

from optibridge.domain.urls import is_private_address

Address = IPv4Address | IPv6Address
# (host, port) → the addresses it resolves to, in the order to try them.
Resolver = Callable[[str, int], Iterable[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_INET = (socket.AF_INET, socket.AF_INET6)


class PrivateAddressRefused(httpx.ConnectError):
    """A host resolves to an address that is not public; nothing was sent."""

    def __init__(self, host: str, address: Address) -> None:
        super().__init__(f"{host} resolves to a private address ({address})")
        self.host = host
        self.address = address


def resolve(host: str, port: int) -> list[str]:
    """The addresses `socket.create_connection` would try for `host`, in its order."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for family, _, _, _, sockaddr in answers if family in _INET]


def pin(request: httpx.Request, address: Address) -> httpx.Request:
    """`request` sent to `address`, still naming its host (`Host` header, TLS SNI and
    certificate check)."""
    extensions = dict(request.extensions)
    if request.url.scheme == "https":
        extensions["sni_hostname"] = request.url.raw_host.decode("ascii")
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(address)),
        headers=request.headers,  # holds `Host` with the name (and the port, when not default)
        stream=request.stream,
        extensions=extensions,
    )


class GuardedTransport(httpx.BaseTransport):
    """Sends a request only when every address its host resolves to is public."""

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        resolver: Resolver = resolve,
        pool_factory: Callable[[], httpx.BaseTransport] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self._resolver = resolver
        # scheme → proxy URL, from the environment like httpx's own (`getproxies`).
        self._proxies = dict(urllib.request.getproxies() if proxies is None else proxies)
        self._limits = limits or httpx.Limits()
        if pool_factory is None:
            # One TLS context (the CA bundle loaded once) for the pools of every host.
            tls = httpx.create_ssl_context()
            pool_factory = partial(httpx.HTTPTransport, limits=limits or httpx.Limits(), verify=tls)
        self._pool_factory = pool_factory
        self._pools: dict[str, httpx.BaseTransport] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or _DEFAULT_PORTS.get(request.url.scheme, 443)
        addresses = self._public_addresses(host, port)
        proxy = self._proxies.get(request.url.scheme)
        if proxy and not urllib.request.proxy_bypass(host):
            return self._pool(f"proxy {proxy}", proxy).handle_request(request)
        pool = self._pool(host)
        *others, last = addresses
        for address in others:
            try:
                return pool.handle_request(pin(request, address))
            except httpx.ConnectError:
                continue  # like `socket.create_connection`: the next address, also checked
        return pool.handle_request(pin(request, last))

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()

    def _public_addresses(self, host: str, port: int) -> list[Address]:
        try:
            answers = list(dict.fromkeys(self._resolver(host, port)))
        except socket.gaierror as exc:
            # Chained, so that the clients can tell "does not resolve" from a broken connection.
            raise httpx.ConnectError(f"{host}: {exc}") from exc
        if not answers:
            no_address = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            raise httpx.ConnectError(f"{host}: no address") from no_address
        # A scope id (`fe80::1%eth0`) only narrows a link-local address, refused anyway.
        addresses = [ip_address(answer.partition("%")[0]) for answer in answers]
        for address in addresses:
            if is_private_address(address):
                raise PrivateAddressRefused(host, address)
        return addresses

    def _pool(self, key: str, proxy: str | None = None) -> httpx.BaseTransport:
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = (
                    httpx.HTTPTransport(proxy=proxy, limits=self._limits)
                    if proxy
                    else self._pool_factory()
                )
            return pool


def outgoing_http(*, allow_private_urls: bool, limits: httpx.Limits) -> httpx.Client:
    """The connection pool for calls to Optimove and Comm100: through the guard, unless the
    deployment lets settings point at private hosts (sandboxes, local development)."""
    transport = None if allow_private_urls else GuardedTransport(limits=limits)
    return httpx.Client(limits=limits, transport=transport, follow_redirects=False)
