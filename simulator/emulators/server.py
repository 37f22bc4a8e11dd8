"""Run an ASGI app (FastAPI) with uvicorn in a background thread on 127.0.0.1 and a free port.

The socket is bound before uvicorn starts (port 0 = the kernel picks a free port), so there is no
race between choosing a port and listening on it. ``RunningServer.stop`` asks uvicorn to exit and
joins the thread; use it as a context manager in fixtures.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    """A uvicorn server running in a thread.

    Attributes:
        base_url: ``http://127.0.0.1:<port>``.
        server: The uvicorn server.
        thread: The thread running it.
    """

    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.warning("emulator at %s did not stop within %.0fs", self.base_url, timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: object, host: str = "127.0.0.1", startup_timeout: float = 10.0) -> RunningServer:
    """Start ``app`` on ``host`` and a free port; return once it accepts connections.

    Args:
        app: An ASGI application.
        host: Interface to bind (loopback by default; tests never listen on other interfaces).
        startup_timeout: Seconds to wait for uvicorn to start.

    Returns:
        The running server with its base URL.

    Raises:
        RuntimeError: The server did not start in time.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it keep-alive requests stall ~40 ms on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"emulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"emulator on {host}:{port} did not start within {startup_timeout}s")
        time.sleep(0.01)
    base_url = f"http://{host}:{port}"
    log.info("emulator listening on %s", base_url)
    return RunningServer(base_url, server, thread)
