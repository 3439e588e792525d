"""Which URLs an administrator may enter (SPEC 3): absolute https to public hosts, unless the
deployment allows plain http and private hosts (sandboxes)."""

from __future__ import annotations

import pytest

from optibridge.domain.urls import MAX_URL_LENGTH, url_problem

PRIVATE = "must not point to a private, loopback or local address"


def base_url_problem(url: str, *, allow_private: bool = False) -> str | None:
    return url_problem(url, base=True, allow_private=allow_private)


@pytest.mark.parametrize(
    "url",
    [
        "https://api4.optimove.net",
        "https://api4.optimove.net/current",
        "https://api11.comm100.io/v4/",
        "HTTPS://API4.Optimove.NET",
        "https://example.com:8443/api",
        "https://example.com./",
        "https://xn--bcher-kva.de",
        "https://bücher.de",
        "https://8.8.8.8",
        "https://[2606:4700:4700::1111]:443/",
        "https://my_host.example.com",
    ],
)
def test_an_https_url_to_a_public_host_is_accepted(url: str) -> None:
    assert base_url_problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost",
        "https://LOCALHOST.:8443",
        "https://api.localhost",
        "https://printer.local",
        "https://metadata.google.internal",
        "https://router.home.arpa",
        "https://box.localdomain",
        "https://intranet",
        "https://127.0.0.1",
        "https://127.8.9.10",
        "https://10.1.2.3",
        "https://172.16.0.1",
        "https://192.168.1.1",
        "https://169.254.169.254",
        "https://100.64.0.1",
        "https://0.0.0.0",
        "https://224.0.0.1",
        "https://[::1]",
        "https://[::]",
        "https://[fe80::1]",
        "https://[fc00::1]",
        "https://[::ffff:127.0.0.1]",
        "https://[::ffff:7f00:1]",
    ],
)
def test_a_private_loopback_or_local_host_is_refused(url: str) -> None:
    assert base_url_problem(url) == PRIVATE


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433",  # 127.0.0.1 as one number
        "https://0x7f.1",
        "https://0X7F000001",
        "https://127.1",
        "https://0177.0.0.1",
        "https://10.0x1.1",
        "https://0",
    ],
)
def test_numeric_spellings_of_a_private_address_are_refused(url: str) -> None:
    """HTTP clients resolve these with inet_aton, so they reach the private address."""
    assert base_url_problem(url) == PRIVATE


def test_a_numeric_spelling_of_a_public_address_is_accepted() -> None:
    assert base_url_problem("https://134744072") is None  # 8.8.8.8


@pytest.mark.parametrize(
    "url",
    ["https://localhost:8000", "http://127.0.0.1:8000/sandbox/optimove", "http://10.0.0.5"],
)
def test_private_hosts_and_plain_http_are_accepted_when_allowed(url: str) -> None:
    assert base_url_problem(url, allow_private=True) is None


def test_plain_http_is_refused_even_to_a_public_host() -> None:
    assert base_url_problem("http://api4.optimove.net") == "must use https"


@pytest.mark.parametrize(
    "url",
    [
        "api4.optimove.net",
        "//api4.optimove.net",
        "https:/api4.optimove.net",
        "https:api4.optimove.net",
        "ftp://api4.optimove.net",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "",
    ],
)
def test_a_url_must_be_absolute_https(url: str) -> None:
    assert base_url_problem(url) == "must be an absolute https URL"


def test_when_http_is_allowed_the_message_says_so() -> None:
    assert base_url_problem("ftp://example.com", allow_private=True) == (
        "must be an absolute http or https URL"
    )


@pytest.mark.parametrize(
    "url", ["https://user:pass@example.com", "https://user@example.com", "https://@example.com"]
)
def test_credentials_in_a_url_are_refused(url: str) -> None:
    assert base_url_problem(url) == "must not contain a user name or password"


@pytest.mark.parametrize(
    "url", ["https://example.com/?a=1", "https://example.com?", "https://example.com/#/x"]
)
def test_a_base_url_cannot_have_a_query_or_fragment(url: str) -> None:
    assert base_url_problem(url) == "must not contain a query (?…) or a fragment (#…)"


def test_a_link_may_have_a_query_and_fragment() -> None:
    url = "https://acme.optimove.net/?x=1#/customer/42"

    assert url_problem(url, base=False, allow_private=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://exa mple.com",
        "https://example.com/\ta",
        "https://example.com\\@evil.example",
        "https://example.com/\x00",
    ],
)
def test_spaces_backslashes_and_control_characters_are_refused(url: str) -> None:
    assert base_url_problem(url) == "must not contain spaces, backslashes or control characters"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com:0",
        "https://example.com:65536",
        "https://example.com:https",
        "https://example.com:",
        "https://[2606:4700::1111]:x",
    ],
)
def test_an_invalid_port_is_refused(url: str) -> None:
    assert base_url_problem(url) == "has an invalid port"


@pytest.mark.parametrize(
    "url",
    [
        "https://-example.com",
        "https://example-.com",
        "https://a..b.com",
        "https://exa$mple.com",
        "https://" + "a" * 64 + ".com",
        "https://1.2.3.256",
        "https://1.2.3.4.5",
        "https://08.1.2.3",
        "https://[fe80::1%25eth0]",
        "https://:443",
    ],
)
def test_an_invalid_host_is_refused(url: str) -> None:
    assert base_url_problem(url) == "has an invalid host name"


def test_a_url_has_a_maximum_length() -> None:
    url = "https://example.com/" + "a" * MAX_URL_LENGTH

    assert base_url_problem(url) == f"must be at most {MAX_URL_LENGTH} characters"
