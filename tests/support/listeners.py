"""A plain TCP listener on 127.0.0.1 that records every connection made to it (and the first bytes
sent): the witness that a guarded destination was never contacted, or that an allowed one was."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


@dataclass
class Listener:
    port: int
    received: list[bytes] = field(default_factory=list)  # one entry per accepted connection
    arrived: threading.Event = field(default_factory=threading.Event)


@contextmanager
def tcp_listener() -> Iterator[Listener]:
    """Accept on 127.0.0.1 (and ::1 on the same port when the machine has IPv6), read what the
    client sends first, close without answering."""
    v4 = socket.create_server(("127.0.0.1", 0))
    listener = Listener(port=v4.getsockname()[1])
    sockets = [v4]
    with suppress(OSError):
        sockets.append(socket.create_server(("::1", listener.port), family=socket.AF_INET6))
    for sock in sockets:
        sock.settimeout(0.2)
    stopping = threading.Event()

    def accept(sock: socket.socket) -> None:
        while not stopping.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
            listener.received.append(data)
            listener.arrived.set()

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in sockets]
    for thread in threads:
        thread.start()
    try:
        yield listener
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
        for sock in sockets:
            sock.close()
