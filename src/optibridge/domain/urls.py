"""Whether a URL an administrator entered is safe for this service to call or link to.

Pure checks, no DNS: a host *name* that resolves to a private address can only be caught when
connecting (`optibridge.ssrf_guard`, which judges the addresses with `is_private_address`).
What is caught here is every spelling of a private address that an HTTP client would accept:
IP literals (also the numeric forms `2130706433`, `0x7f.1`, `127.1` that `getaddrinfo`
understands), `localhost` and the reserved local suffixes, and single-label names (resolved
through the resolver's search domains, i.e. to the local network).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048

_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
# NAT64's well-known prefix: on an IPv6-only network, DNS64 answers public IPv4 hosts with it.
_NAT64 = IPv6Network("64:ff9b::/96")
# 6to4 (deprecated): the IPv4 address it embeds can be a private one.
_SIX_TO_FOUR = IPv6Network("2002::/16")


def url_problem(url: str, *, base: bool, allow_private: bool) -> str | None:
    """Why `url` can't be used, in words for an administrator; None when it can.

    `base`: the URL is a prefix that paths are appended to, so it can't carry a query or a
    fragment. `allow_private`: plain `http` and private/loopback hosts are acceptable (sandboxes,
    local development).
    """
    absolute = "must be an absolute " + ("http or https URL" if allow_private else "https URL")
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        return "must not contain spaces, backslashes or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return absolute
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        return absolute
    if "@" in parts.netloc:
        return "must not contain a user name or password"
    if base and ("?" in url or "#" in url):
        return "must not contain a query (?…) or a fragment (#…)"
    host, port = _split_host_port(parts.netloc)
    if port is not None and not _valid_port(port):
        return "has an invalid port"
    ip = _host_address(host)
    if ip is None and (_ends_in_number(_plain(host)) or not _valid_host_name(host)):
        return "has an invalid host name"
    if allow_private:
        return None
    if scheme != "https":
        return "must use https"
    if _is_private(host, ip):
        return "must not point to a private, loopback or local address"
    return None


def _split_host_port(netloc: str) -> tuple[str, str | None]:
    """`host` (without IPv6 brackets, kept as `[..]` when malformed) and the port text, if any."""
    if netloc.startswith("["):
        close = netloc.find("]")
        rest = netloc[close + 1 :] if close > 0 else ""
        if close < 0 or (rest and not rest.startswith(":")):
            return netloc, None  # not a host we accept; the host check reports it
        return netloc[: close + 1], (rest[1:] if rest else None)
    host, sep, port = netloc.partition(":")
    return host, (port if sep else None)


def _valid_port(port: str) -> bool:
    return port.isascii() and port.isdigit() and 0 < int(port) <= 65535


def _host_address(host: str) -> IPv4Address | IPv6Address | None:
    """The address a host literal denotes, or None when the host is a name (or malformed)."""
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        if "%" in inner:  # a zone id only means something on the local link
            return None
        try:
            return IPv6Address(inner)
        except ValueError:
            return None
    name = _plain(host)
    return _numeric_ipv4(name) if _ends_in_number(name) else None


def _plain(host: str) -> str:
    """A host name as DNS compares it: lower case, without the root's trailing dot."""
    return host.lower().removesuffix(".")


def _ends_in_number(name: str) -> bool:
    """The WHATWG URL rule: such a host is an IPv4 address or nothing (never a DNS name)."""
    last = name.rsplit(".", 1)[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2] == "0x" and all(c in _DIGITS[16] for c in last[2:])


def _numeric_ipv4(name: str) -> IPv4Address | None:
    """IPv4 in any form `inet_aton` accepts: 1 to 4 parts, each decimal, octal (0…) or hex."""
    parts = name.split(".")
    if len(parts) > 4:
        return None
    numbers = [_ipv4_part(part) for part in parts]
    if None in numbers:
        return None
    values = [n for n in numbers if n is not None]
    *leading, last = values
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(values)):
        return None
    return IPv4Address(last + sum(n << (8 * (3 - i)) for i, n in enumerate(leading)))


def _ipv4_part(part: str) -> int | None:
    if part[:2].lower() == "0x":
        digits, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, radix = part[1:], 8
    else:
        digits, radix = part, 10
    if not part or not all(c in _DIGITS[radix] for c in digits):
        return None
    return int(digits, radix) if digits else 0


def _valid_host_name(host: str) -> bool:
    try:
        ascii_name = _plain(host).encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return 0 < len(ascii_name) <= 253 and all(
        _HOST_LABEL.fullmatch(label) for label in ascii_name.split(".")
    )


def is_private_address(ip: IPv4Address | IPv6Address) -> bool:
    """Whether connecting to `ip` could reach this machine or a network it is on, rather than
    a public host: anything Python does not call global (loopback, private, link-local such as
    the cloud metadata address 169.254.169.254, unique-local, CGNAT's 100.64.0.0/10,
    unspecified, documentation), and also multicast, reserved and site-local IPv6, and 6to4.
    IPv4-mapped and NAT64 addresses are judged by the IPv4 address they lead to.
    """
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_private_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_private_address(IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _SIX_TO_FOUR or ip.is_site_local:
            return True
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def _is_private(host: str, ip: IPv4Address | IPv6Address | None) -> bool:
    if ip is not None:
        return is_private_address(ip)
    name = _plain(host)
    return name == "localhost" or "." not in name or name.endswith(_LOCAL_SUFFIXES)
