"""Checks that the ports a server will listen on are free, before it loads anything.

Loading the models takes a minute; a port already taken (another server still
running) must be reported at once, not after that minute. The check binds and
releases each port the way the servers will (`SO_REUSEADDR`, as gRPC and
asyncio set it), so a port in TIME_WAIT counts as free and a listening one
does not. Another process may still take the port between the check and the
real bind; that bind then fails with its own error.
"""

from __future__ import annotations

import errno
import socket


# The flag of `lepton-tf serve` that moves each port.
FLAGS = {"gRPC": "--port", "REST": "--rest_api_port"}


class PortInUseError(OSError):
    """A port a server needs is taken."""


def check_ports_free(host: str, ports: dict[str, int]) -> None:
    """Binds and releases each port; raises on the first one that is taken.

    Args:
        host: the address the server will bind ("127.0.0.1", "0.0.0.0", "::").
        ports: what each port is for ("gRPC", "REST") -> port number; 0 (any
            free port) is skipped.

    Raises:
        PortInUseError: a port is in use (the message names it and the flag
            that moves it).
        OSError: the host cannot be bound at all (an address of no interface).
    """
    for purpose, port in ports.items():
        if not port:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise PortInUseError(
                        f"{purpose} port {host}:{port} is already in use (another server "
                        f"still running?): stop it, or choose another port "
                        f"({FLAGS.get(purpose, '--port')} N)") from None
                raise OSError(f"cannot bind {purpose} to {host}:{port}: {e.strerror}") from None
