"""`storyterm serve`: the HTTP API (FastAPI under uvicorn) over this machine's sessions."""

from __future__ import annotations

import contextlib
import copy
import errno
import ipaddress
import os
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from storyterm.cli.common import get_runtime, handle_errors, say, styled
from storyterm.errors import InvalidInput

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: On Ctrl+C (or SIGTERM, SIGHUP), streams still running get this long to finish; then they are
#: stopped, and each part being written is saved as interrupted before the process ends.
GRACEFUL_SHUTDOWN_SECONDS = 5
#: The most worker processes `--workers` takes. Each holds its own database pool (up to 15
#: PostgreSQL connections) and Redis clients; past a few per core they only add memory.
MAX_WORKERS = 32


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: treat it as reachable


def check_port(host: str, port: int) -> None:
    """Fail with a message a writer can act on before uvicorn prints a traceback-ish log."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInput(
            f"Cannot listen on {host!r}: that is not an address of this machine ({exc.strerror}). "
            f"Leave --host out to serve on {DEFAULT_HOST}."
        ) from None
    family, _type, _proto, _name, address = infos[0]
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInput(
                f"Port {port} is already in use on {host} (another `storyterm serve`?). Stop "
                f"that program, or pick another port with --port {port + 1}."
            ) from None
        if exc.errno == errno.EACCES:
            raise InvalidInput(
                f"Port {port} needs administrator rights. Use a port above 1023, like "
                f"--port {DEFAULT_PORT}."
            ) from None
        raise InvalidInput(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Check --host and --port."
        ) from None


def log_config() -> dict[str, Any]:
    """uvicorn's own logging set-up, plus storyterm's loggers on the same console handler (the
    package installs a NullHandler, so without this the API's error log would be silent)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["storyterm"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@click.command("serve")
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on. Anything but loopback makes the API reachable from the network.",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    callback=lambda _ctx, _param, value: check_workers(value),
    help=f"Worker processes answering on the port (1 to {MAX_WORKERS}); more serve more "
    "writers at once. Use PostgreSQL (and Redis for live events) with more than one.",
)
@handle_errors
def serve_cmd(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API: the same sessions and accounts as the app, for editor plugins,
    web pages and scripts. Documentation at http://HOST:PORT/docs. Ctrl+C stops it (so do
    SIGTERM and SIGHUP); each part being written is saved first, marked interrupted."""
    from storyterm.api import create_app

    if not is_loopback(host):
        say(
            styled(
                f"storyterm: warning: --host {host} makes the API reachable from other machines. "
                "Every call still needs a login token, but the traffic is plain HTTP: put it "
                "behind HTTPS (a reverse proxy) before using it across a network.",
                fg="yellow",
            ),
            err=True,
        )
    check_port(host, port)
    runtime = get_runtime()
    # Open (and migrate) the database now, so a problem with it is one clear message rather
    # than a server that fails every request.
    runtime.store  # noqa: B018
    shown = f"[{host}]" if ":" in host else host
    if workers > 1:
        from storyterm.cli.serve_workers import run_workers, warn_about_setup

        warn_about_setup(runtime, workers)
        runtime.close()  # each worker opens its own; this one only migrated the database
        say(
            f"storyterm: API at http://{shown}:{port}/api (docs: /docs), {workers} workers. "
            "Ctrl+C stops it."
        )
        run_workers(host, port, workers, log_config(), GRACEFUL_SHUTDOWN_SECONDS)
        return
    say(f"storyterm: API at http://{shown}:{port}/api (docs: /docs). Ctrl+C stops it.")
    run_server(create_app(runtime, own_process=True), host, port)


def check_workers(workers: int) -> int:
    """--workers within 1..MAX_WORKERS, or a message saying what it takes."""
    if not 1 <= workers <= MAX_WORKERS:
        raise click.BadParameter(
            f"give 1 to {MAX_WORKERS} worker processes, not {workers} (about one per core is "
            f"a good start; this machine has {os.cpu_count() or 1}).",
            param_hint="'--workers'",
        )
    return workers


def run_server(app: FastAPI, host: str, port: int) -> None:
    """uvicorn, with one addition: when asked to quit, the running generations are stopped
    first, so each part is saved as interrupted and each client gets its `done` event before
    the connections close."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            stopping = app.state.generations.stop_all()
            if stopping and not self.should_exit:
                say(
                    f"storyterm: stopping {stopping} generation(s); their text is kept.",
                    err=True,
                )
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn shuts down gracefully on SIGINT and SIGTERM; SIGHUP (the terminal the
            # server runs in was closed) would end the process on the spot, leaving each part
            # being written "streaming" with only its last checkpoint. It gets the same
            # handling; as with the others, uvicorn raises it again once shut down.
            with super().capture_signals():
                hangup = getattr(signal, "SIGHUP", None)
                if hangup is None or threading.current_thread() is not threading.main_thread():
                    yield
                    return
                previous = signal.signal(hangup, self.handle_exit)
                try:
                    yield
                finally:
                    signal.signal(hangup, previous)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=log_config(),
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    # uvicorn raises the signal it caught again once it has shut down; as in uvicorn.run, a
    # Ctrl+C that stopped the server cleanly is a normal exit.
    with contextlib.suppress(KeyboardInterrupt):
        Server(config).run()


COMMANDS = [serve_cmd]
