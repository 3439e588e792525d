"""The listening socket of a server command, bound before anything else starts.

Binding first means a taken port is reported at once, in one line that names the option to
change, instead of after migrations and start-up work, as a traceback from deep inside uvicorn.
The bound socket is handed to uvicorn, so nothing can take the port in between.
"""

from __future__ import annotations

import errno
import socket


class CannotListen(Exception):
    """The address can't be listened on; the message says why and what to change."""


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), ready for uvicorn's `sockets=`."""
    if not 0 < port < 65536:
        raise CannotListen(f"--port {port} is not a port number (1 to 65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise CannotListen(f"--host {host!r} is not an address of this machine") from None
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"port {port} on {host} is already in use: choose another with --port N "
                "(make run PORT=N)"
            ) from None
        if error.errno == errno.EACCES:
            raise CannotListen(
                f"not allowed to listen on port {port}: choose one above 1023 with --port"
            ) from None
        raise CannotListen(
            f"can't listen on {host}:{port} ({error.strerror}): check --host"
        ) from None
    listener.set_inheritable(True)
    return listener


def served_url(host: str, port: int) -> str:
    """The http URL at which this machine reaches a server listening on (host, port): a
    wildcard address is reached on loopback, an IPv6 address is written in brackets."""
    if host in {"0.0.0.0", "::"}:  # noqa: S104 (read, not bound)
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
