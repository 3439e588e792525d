"""The SSRF guard: a vendor host is called only when every address its name resolves to is
public, and the call goes to an address that was checked, still naming the host (Host header,
TLS SNI and certificate). Private URLs allowed (sandboxes), nothing is guarded."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from optibridge.app import create_app
from optibridge.comm100.client import Comm100Client
from optibridge.comm100.errors import PrivateAddressError as Comm100PrivateAddress
from optibridge.comm100.errors import UnreachableError as Comm100Unreachable
from optibridge.config import Config
from optibridge.domain.urls import url_problem
from optibridge.optimove.client import OptimoveClient
from optibridge.optimove.errors import PrivateAddressError as OptimovePrivateAddress
from optibridge.optimove.errors import UnreachableError as OptimoveUnreachable
from optibridge.runtime import Runtime
from optibridge.ssrf_guard import Address, GuardedTransport, PrivateAddressRefused, pin
from optibridge.store.migrate import upgrade_to_head
from tests.comm100.conftest import SANDBOX_KEY as COMM100_SANDBOX_KEY
from tests.comm100.conftest import SANDBOX_SITE as COMM100_SANDBOX_SITE
from tests.comm100.conftest import Sandbox as Comm100Sandbox
from tests.comm100.conftest import start_sandbox as start_comm100_sandbox
from tests.optimove.conftest import SANDBOX_KEY as OPTIMOVE_SANDBOX_KEY
from tests.optimove.conftest import Sandbox as OptimoveSandbox
from tests.optimove.conftest import start_sandbox as start_optimove_sandbox
from tests.optimove.fakes import CountingLimiter
from tests.web.conftest import ADMIN_TOKEN, Service
from tests.web.ui_client import page, post_form, sign_in

pytestmark = pytest.mark.security

NAME = "api5.example.com"
PUBLIC = "93.184.215.14"
OTHER_PUBLIC = "198.41.0.4"
SECRET_KEY = "k3y-DO-NOT-LEAK-7f9a"
AGENT = "agent@example.com"
SITE = 10000
# Names that look public but that `made_up_names` points at this machine.
OPTIMOVE_NAME = "api.optimove-guard.test"
COMM100_NAME = "api.comm100-guard.test"
NAT64 = IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = IPv6Network("2002::/16")


# --- a guard whose DNS and connections are the test's ------------------------------------------


@dataclass
class RecordingPool(httpx.BaseTransport):
    """Stands for one host's connection pool: answers 200, or refuses the connection to the
    addresses in `down`."""

    down: set[str] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    closed: bool = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host in self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(200, json=[], request=request)

    def close(self) -> None:
        self.closed = True


@dataclass
class Guard:
    """A guarded client; `answers` is the DNS (name → addresses), `pools` one per host."""

    answers: dict[str, list[str]]
    down: set[str] = field(default_factory=set)
    pools: dict[str, RecordingPool] = field(default_factory=dict)
    lookups: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.transport = GuardedTransport(
            resolver=self.resolve, pool_factory=self.new_pool, proxies={}
        )
        self.http = httpx.Client(transport=self.transport, follow_redirects=False)

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]

    def new_pool(self) -> RecordingPool:
        pool = RecordingPool(self.down)
        self.pools[f"pool {len(self.pools) + 1}"] = pool
        return pool

    def sent(self) -> list[httpx.Request]:
        return [request for pool in self.pools.values() for request in pool.requests]


def resolving(*addresses: str, name: str = NAME) -> Guard:
    return Guard({name: list(addresses)})


# --- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.7",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "fd12:3456::1",
        "fe80::1",
        "fe80::1%eth0",
        "fec0::1",
        "ff02::1",
        "64:ff9b::a00:7",  # NAT64 to 10.0.0.7
        "2002:a00:7::1",  # 6to4 through 10.0.0.7
        "::7f00:1",  # IPv4-compatible 127.0.0.1
    ],
)
def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    address: str,
) -> None:
    guard = resolving(address)
    with pytest.raises(PrivateAddressRefused) as caught:
        guard.http.get(f"https://{NAME}/current/model/GetCustomerAttributeList")
    assert caught.value.host == NAME
    assert caught.value.address == ip_address(address.partition("%")[0])
    assert guard.sent() == []


@pytest.mark.parametrize(
    "answers", [[PUBLIC, "10.0.0.7"], ["10.0.0.7", PUBLIC], [PUBLIC, OTHER_PUBLIC, "::1"]]
)
def test_one_private_address_among_public_ones_refuses_the_name(answers: list[str]) -> None:
    guard = resolving(*answers)
    with pytest.raises(PrivateAddressRefused, match="private address"):
        guard.http.get(f"https://{NAME}/")
    assert guard.sent() == []


def test_every_request_resolves_again_so_a_rebound_name_is_refused() -> None:
    guard = resolving(PUBLIC)
    assert guard.http.get(f"https://{NAME}/first").status_code == 200
    guard.answers[NAME] = ["127.0.0.1"]
    with pytest.raises(PrivateAddressRefused):
        guard.http.get(f"https://{NAME}/second")
    assert [r.url.path for r in guard.sent()] == ["/first"]
    assert guard.lookups == [(NAME, 443), (NAME, 443)]


def test_a_name_that_does_not_resolve_fails_like_before_with_the_dns_error_as_cause() -> None:
    guard = Guard({})
    with pytest.raises(httpx.ConnectError) as caught:
        guard.http.get(f"https://{NAME}/")
    assert not isinstance(caught.value, PrivateAddressRefused)
    assert isinstance(caught.value.__cause__, socket.gaierror)


# --- allowed, and pinned to the checked address ------------------------------------------------


def test_a_public_answer_is_called_at_that_address_with_the_name_in_host_and_sni() -> None:
    guard = resolving(PUBLIC)
    response = guard.http.get(f"https://{NAME}/current/Customers/42/Attributes?x=1")
    assert response.status_code == 200
    [sent] = guard.sent()
    assert str(sent.url) == f"https://{PUBLIC}/current/Customers/42/Attributes?x=1"
    assert sent.headers["host"] == NAME
    assert sent.extensions["sni_hostname"] == NAME


def test_a_port_is_kept_in_the_url_and_the_host_header() -> None:
    guard = resolving(PUBLIC)
    guard.http.get(f"https://{NAME}:8443/v4/contact/fields")
    [sent] = guard.sent()
    assert str(sent.url) == f"https://{PUBLIC}:8443/v4/contact/fields"
    assert sent.headers["host"] == f"{NAME}:8443"
    assert guard.lookups == [(NAME, 8443)]


def test_an_ipv6_answer_is_bracketed_in_the_url() -> None:
    guard = resolving("2606:4700:4700::1111")
    guard.http.get(f"https://{NAME}/x")
    [sent] = guard.sent()
    assert str(sent.url) == "https://[2606:4700:4700::1111]/x"
    assert sent.headers["host"] == NAME


def test_plain_http_is_pinned_without_sni() -> None:
    guard = resolving(PUBLIC)
    guard.http.get(f"http://{NAME}/x")
    [sent] = guard.sent()
    assert str(sent.url) == f"http://{PUBLIC}/x"
    assert "sni_hostname" not in sent.extensions


def test_the_method_headers_body_and_timeouts_travel_unchanged() -> None:
    guard = resolving(PUBLIC)
    guard.http.post(
        f"https://{NAME}/current/Customers/UpdateCustomerAttributes",
        json={"Customers": [{"CustomerID": "1"}]},
        headers={"X-API-KEY": SECRET_KEY},
        timeout=3.0,
    )
    [sent] = guard.sent()
    assert sent.method == "POST"
    assert sent.headers["x-api-key"] == SECRET_KEY
    assert json.loads(sent.read()) == {"Customers": [{"CustomerID": "1"}]}
    assert sent.extensions["timeout"]["connect"] == 3.0


def test_an_address_that_refuses_the_connection_gives_way_to_the_next_checked_one() -> None:
    guard = resolving(PUBLIC, OTHER_PUBLIC)
    guard.down.add(PUBLIC)
    assert guard.http.get(f"https://{NAME}/x").status_code == 200
    assert [r.url.host for r in guard.sent()] == [PUBLIC, OTHER_PUBLIC]


def test_when_every_address_refuses_the_last_error_is_raised() -> None:
    guard = resolving(PUBLIC, OTHER_PUBLIC)
    guard.down.update({PUBLIC, OTHER_PUBLIC})
    with pytest.raises(httpx.ConnectError, match="refused"):
        guard.http.get(f"https://{NAME}/x")
    assert len(guard.sent()) == 2


def test_two_names_on_one_address_never_share_a_connection_pool() -> None:
    """A connection verified for one name must not carry a request for another name."""
    guard = Guard({NAME: [PUBLIC], "other.example.net": [PUBLIC]})
    guard.http.get(f"https://{NAME}/a")
    guard.http.get("https://other.example.net/b")
    guard.http.get(f"https://{NAME}/c")
    assert [[r.url.path for r in pool.requests] for pool in guard.pools.values()] == [
        ["/a", "/c"],
        ["/b"],
    ]


class ForwardProxy(BaseHTTPRequestHandler):
    """An egress proxy: answers with the request line it was given (an absolute URL)."""

    def do_GET(self) -> None:
        body = json.dumps({"request_line": self.requestline, "host": self.headers["Host"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def egress_proxy() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), ForwardProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_behind_an_egress_proxy_the_name_is_checked_then_sent_through_the_proxy(
    egress_proxy: str,
) -> None:
    answers = {NAME: [PUBLIC], "rebound.example.com": ["10.0.0.7"]}
    transport = GuardedTransport(
        resolver=lambda host, port: answers[host], proxies={"http": egress_proxy}
    )
    with httpx.Client(transport=transport) as http:
        answer = http.get(f"http://{NAME}/model/GetCustomerAttributeList").json()
        with pytest.raises(PrivateAddressRefused):
            http.get("http://rebound.example.com/")
    # The proxy connects by name (it resolves it): the request is not pinned to the address.
    assert answer == {
        "request_line": f"GET http://{NAME}/model/GetCustomerAttributeList HTTP/1.1",
        "host": NAME,
    }


def test_closing_the_guard_closes_every_pool() -> None:
    guard = Guard({NAME: [PUBLIC], "other.example.net": [OTHER_PUBLIC]})
    guard.http.get(f"https://{NAME}/a")
    guard.http.get("https://other.example.net/b")
    guard.http.close()
    assert all(pool.closed for pool in guard.pools.values())


# --- the classification, against Python's `is_global` -----------------------------------------

SPECIAL_NETWORKS = [
    ip_network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
]
addresses = st.one_of(
    st.ip_addresses(),
    st.sampled_from(SPECIAL_NETWORKS).flatmap(lambda network: st.ip_addresses(network=network)),
    st.ip_addresses(v=4).map(lambda v4: IPv6Address(f"::ffff:{v4}")),
    st.ip_addresses(v=4).map(lambda v4: IPv6Address(int(NAT64.network_address) | int(v4))),
)


# The machine is shared with benchmarks: an example's time says nothing here.
unhurried = settings(deadline=None)


def guard_refuses(address: Address) -> bool:
    guard = resolving(str(address))
    try:
        guard.http.get(f"https://{NAME}/")
    except PrivateAddressRefused:
        return True
    assert guard.sent()
    return False


def embedded_ipv4(address: Address) -> IPv4Address | None:
    """Where an IPv4-mapped or NAT64 address really leads."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None


@unhurried
@given(addresses)
def test_an_address_python_calls_not_global_is_refused(address: Address) -> None:
    """Except an IPv4-mapped address, judged by its IPv4 address (so ::ffff:8.8.8.8 passes,
    where Python calls the whole mapped block private)."""
    if embedded_ipv4(address) is None and not address.is_global:
        assert guard_refuses(address)


@unhurried
@given(addresses)
def test_an_ipv4_mapped_or_nat64_address_is_judged_by_its_ipv4_address(address: Address) -> None:
    inner = embedded_ipv4(address)
    if inner is not None:
        assert guard_refuses(address) == guard_refuses(inner)


@unhurried
@given(addresses)
def test_beyond_python_only_multicast_reserved_site_local_and_6to4_are_refused(
    address: Address,
) -> None:
    """The documented differences from `is_global`: multicast (Python calls 224.0.0.0/4 and
    ff00::/8 global), IPv6 outside the ranges IANA allocates (`is_reserved`, e.g. the
    IPv4-compatible ::a.b.c.d), deprecated site-local fec0::/10, and 6to4 2002::/16, whose
    IPv4 address may be a private one."""
    if embedded_ipv4(address) is None and address.is_global and guard_refuses(address):
        assert address.is_multicast or (
            isinstance(address, IPv6Address)
            and (address.is_reserved or address.is_site_local or address in SIX_TO_FOUR)
        )


@unhurried
@given(addresses)
def test_the_connect_time_guard_agrees_with_the_check_when_saving(address: Address) -> None:
    literal = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    problem = url_problem(f"https://{literal}/", base=True, allow_private=False)
    assert guard_refuses(address) == (
        problem == "must not point to a private, loopback or local address"
    )


# --- the vendor clients classify the refusal ----------------------------------------------------


def test_the_optimove_client_says_which_host_was_refused_and_does_not_retry() -> None:
    guard = resolving("10.0.0.7")
    sleeps: list[float] = []
    client = OptimoveClient(
        f"https://{NAME}/current/",
        SECRET_KEY,
        limiter=CountingLimiter(),
        http=guard.http,
        sleep=sleeps.append,
    )
    with pytest.raises(OptimovePrivateAddress) as caught:
        client.check_connection()
    error = caught.value
    assert error.message == (
        f"The Optimove host {NAME} resolves to a private address (10.0.0.7), so it was not "
        "called (GET model/GetCustomerAttributeList). Set OPTIBRIDGE_ALLOW_PRIVATE_URLS=1 only "
        "for sandboxes and local development."
    )
    assert (error.code, error.status, error.retryable) == ("optimove_private_address", 502, False)
    assert sleeps == []
    assert len(guard.lookups) == 1


def test_the_comm100_client_says_which_host_was_refused_without_its_query_or_key() -> None:
    guard = resolving("169.254.169.254")
    client = Comm100Client(
        f"https://{NAME}/v4",
        AGENT,
        SECRET_KEY,
        SITE,
        limiter=CountingLimiter(),
        http=guard.http,
        sleep=lambda _: None,
    )
    with pytest.raises(Comm100PrivateAddress) as caught:
        client.check_connection()
    error = caught.value
    assert f"The Comm100 host {NAME} resolves to a private address (169.254.169.254)" in (
        error.message
    )
    assert (error.code, error.retryable) == ("comm100_private_address", False)
    assert "siteId" not in error.message
    assert SECRET_KEY not in error.message
    assert len(guard.lookups) == 1


def test_a_name_that_does_not_resolve_is_still_unreachable_for_both_clients() -> None:
    guard = Guard({})
    optimove = OptimoveClient(
        f"https://{NAME}/current/", SECRET_KEY, limiter=CountingLimiter(), http=guard.http
    )
    comm100 = Comm100Client(
        f"https://{NAME}/v4", AGENT, SECRET_KEY, SITE, limiter=CountingLimiter(), http=guard.http
    )
    with pytest.raises(OptimoveUnreachable, match="the host name does not resolve"):
        optimove.check_connection()
    with pytest.raises(Comm100Unreachable, match="the host name does not resolve"):
        comm100.check_connection()


# --- over real TLS: the certificate is checked against the name, not the IP --------------------


@dataclass
class TlsServer:
    port: int
    ca: ssl.SSLContext  # a client context trusting the server's certificate authority
    hosts: list[str]  # the Host header of each request
    sni: list[str | None]  # the SNI of each handshake


def certificate_authority() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guard test CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def server_certificate(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, dns_name: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def serve_tls(tmp_path: Path, dns_name: str) -> Iterator[TlsServer]:
    """An https server on 127.0.0.1 whose certificate names `dns_name`."""
    ca_key, ca = certificate_authority()
    key, certificate = server_certificate(ca_key, ca, dns_name)
    chain, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    hosts: list[str] = []
    sni: list[str | None] = []

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers["Host"])
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    def note_sni(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        sni.append(name)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    context.sni_callback = note_sni
    server = HTTPServer(("127.0.0.1", 0), Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    trusting = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    try:
        yield TlsServer(server.server_address[1], trusting, hosts, sni)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    yield from serve_tls(tmp_path, NAME)


@pytest.fixture
def tls_server_of_another_name(tmp_path: Path) -> Iterator[TlsServer]:
    yield from serve_tls(tmp_path, "someone-else.example.org")


def send_pinned(server: TlsServer, name: str) -> httpx.Response:
    request = httpx.Request("GET", f"https://{name}:{server.port}/current/x")
    with httpx.HTTPTransport(verify=server.ca) as transport:
        response = transport.handle_request(pin(request, IPv4Address("127.0.0.1")))
        response.read()
        return response


@pytest.mark.integration
def test_a_pinned_https_request_sends_the_name_in_sni_and_host_and_verifies_it(
    tls_server: TlsServer,
) -> None:
    response = send_pinned(tls_server, NAME)
    assert response.status_code == 200
    assert tls_server.sni == [NAME]
    assert tls_server.hosts == [f"{NAME}:{tls_server.port}"]


@pytest.mark.integration
def test_a_pinned_https_request_refuses_a_certificate_for_another_name(
    tls_server_of_another_name: TlsServer,
) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        send_pinned(tls_server_of_another_name, NAME)
    assert tls_server_of_another_name.hosts == []


# --- end to end: the real clients, wired by the runtime, against the sandboxes -----------------


@pytest.fixture
def made_up_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """`OPTIMOVE_NAME` and `COMM100_NAME` resolve to 127.0.0.1, for the guard and for httpx."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (OPTIMOVE_NAME, COMM100_NAME):
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def optimove_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OptimoveSandbox]:
    yield from start_optimove_sandbox(tmp_path_factory.mktemp("optimove") / "sandbox.log")


@pytest.fixture(scope="module")
def comm100_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Comm100Sandbox]:
    yield from start_comm100_sandbox(tmp_path_factory.mktemp("comm100") / "sandbox.log")


RuntimeFactory = Callable[[bool], Runtime]


@pytest.fixture
def runtime_with(tmp_path: Path) -> Iterator[RuntimeFactory]:
    """Starts the runtime of a deployment that allows private URLs, or not."""
    started: list[Runtime] = []

    def start(allow_private_urls: bool) -> Runtime:
        data_dir = tmp_path / f"private-{allow_private_urls}"
        runtime = Runtime.start(Config(data_dir=data_dir, allow_private_urls=allow_private_urls))
        upgrade_to_head(runtime.engine)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.close()


def on_made_up_name(sandbox_url: str, name: str) -> str:
    return str(httpx.URL(sandbox_url).copy_with(host=name))


@pytest.mark.integration
@pytest.mark.usefixtures("made_up_names")
def test_optimove_on_a_name_resolving_to_loopback_is_refused_unless_private_urls_are_allowed(
    runtime_with: RuntimeFactory, optimove_sandbox: OptimoveSandbox
) -> None:
    optimove_sandbox.control("POST", "reset")
    base_url = on_made_up_name(optimove_sandbox.url, OPTIMOVE_NAME)

    guarded = runtime_with(False).optimove_client(base_url, OPTIMOVE_SANDBOX_KEY)
    with pytest.raises(OptimovePrivateAddress, match=f"{OPTIMOVE_NAME} resolves to a private"):
        guarded.check_connection()
    assert optimove_sandbox.requests() == []

    allowed = runtime_with(True).optimove_client(base_url, OPTIMOVE_SANDBOX_KEY)
    assert allowed.check_connection() > 0
    assert len(optimove_sandbox.requests()) == 1


@pytest.mark.integration
@pytest.mark.usefixtures("made_up_names")
def test_comm100_on_a_name_resolving_to_loopback_is_refused_unless_private_urls_are_allowed(
    runtime_with: RuntimeFactory, comm100_sandbox: Comm100Sandbox
) -> None:
    comm100_sandbox.control("POST", "reset")
    base_url = on_made_up_name(comm100_sandbox.api_base_url, COMM100_NAME)
    connection = (base_url, AGENT, COMM100_SANDBOX_KEY, COMM100_SANDBOX_SITE)

    guarded = runtime_with(False).comm100_client(*connection)
    with pytest.raises(Comm100PrivateAddress, match=f"{COMM100_NAME} resolves to a private"):
        guarded.check_connection()
    assert comm100_sandbox.requests() == []

    allowed = runtime_with(True).comm100_client(*connection)
    assert allowed.check_connection() > 0
    assert len(comm100_sandbox.requests()) == 1


# --- the administrator sees why -------------------------------------------------------------------


@pytest.fixture
def guarded_service(tmp_path: Path, made_up_names: None) -> Iterator[Service]:
    """The service as deployed: private URLs not allowed."""
    config = Config(data_dir=tmp_path, admin_token=ADMIN_TOKEN, optimove_max_attempts=2)
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        service = Service(client, runtime, tmp_path / "optibridge.db")
        created = client.post(
            "/api/v1/sites", json={"site_id": SITE, "name": "Acme"}, headers=service.admin()
        )
        assert created.status_code == 201, created.text
        yield service
    runtime.close()


def test_the_optimove_connection_test_reports_the_refusal(guarded_service: Service) -> None:
    response = guarded_service.client.post(
        f"/api/v1/sites/{SITE}/optimove/test",
        json={"base_url": f"https://{OPTIMOVE_NAME}/current/", "api_key": SECRET_KEY},
        headers=guarded_service.admin(),
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "optimove_private_address"
    assert f"{OPTIMOVE_NAME} resolves to a private address (127.0.0.1)" in error["message"]
    assert SECRET_KEY not in response.text


def test_the_comm100_connection_test_reports_the_refusal(guarded_service: Service) -> None:
    response = guarded_service.client.post(
        f"/api/v1/sites/{SITE}/comm100/test",
        json={
            "api_base_url": f"https://{COMM100_NAME}/v4",
            "agent_email": AGENT,
            "api_key": SECRET_KEY,
        },
        headers=guarded_service.admin(),
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "comm100_private_address"
    assert f"{COMM100_NAME} resolves to a private address (127.0.0.1)" in error["message"]
    assert SECRET_KEY not in response.text


def test_the_connect_button_shows_the_refusal_and_saves_nothing(guarded_service: Service) -> None:
    sign_in(guarded_service.client)
    form = f"/ui/sites/{SITE}"
    response = post_form(
        guarded_service.client,
        f"{form}/optimove",
        {"base_url": f"https://{OPTIMOVE_NAME}/current/", "api_key": SECRET_KEY},
        from_page=form,
    )
    assert response.status_code == 502
    result = page(response).by_id("optimove-connection").find_all("div", role="alert")[0]
    assert f"{OPTIMOVE_NAME} resolves to a private address (127.0.0.1)" in result.text()
    assert SECRET_KEY not in response.text
    saved = guarded_service.client.get(
        f"/api/v1/sites/{SITE}/settings", headers=guarded_service.admin()
    )
    assert saved.json()["optimove"]["base_url"] is None
