"""``painterly studio``: serve the studio with uvicorn on this machine.

``studio_command`` is a click command that ``cli.py`` registers; it only parses options,
builds the app and runs the server. Binding anywhere but loopback needs ``--host`` and
prints a warning: the studio has no accounts, so anyone who can reach the port can use it.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
import threading
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import click

from ..config import StyleConfig

DEFAULT_PORT = 8765
CPU_SIZE = 256
"""The studio's starting size on a CPU that paints in fp32 (``devices.cpu_prefers_bf16``;
its steps are ~3x slower than with fast bf16): a result in a few minutes. On a GPU or a CPU
with fast bf16 the page starts from StyleConfig's own size."""

log = logging.getLogger(__name__)


def default_results_dir() -> Path:
    """``<user data dir>/painterly/studio``; each run of the studio makes a folder in it."""
    import platformdirs

    return Path(platformdirs.user_data_dir("painterly")) / "studio"


def studio_defaults(device: str = "auto") -> StyleConfig:
    """The configuration the page starts from: the library's, smaller on a CPU without fast bf16."""
    from ..devices import cpu_prefers_bf16, resolve_device

    config = StyleConfig(device=device)
    if resolve_device(device).type == "cpu" and not cpu_prefers_bf16():
        config = config.replace(size=CPU_SIZE)
    return config


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("studio")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="TCP port to listen on (0: any free port)")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anything but loopback lets other machines in")
@click.option("--open", "open_browser", is_flag=True, help="open the page in a web browser")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where each studio run keeps its uploads and results "
                   "[default: painterly's user data folder, studio/]")
@click.option("--device", default="auto", show_default=True,
              help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps")
@click.option("--max-queued", type=click.IntRange(0, 1000), default=8, show_default=True,
              help="jobs allowed to wait behind the running one")
def studio_command(port: int, host: str, open_browser: bool, results_dir: Path | None,
                   device: str, max_queued: int) -> None:
    """Open painterly studio: a local web page to paint photos and watch them form."""
    from .app import LOOPBACK_HOSTS, create_app

    base = studio_defaults(device)
    if not is_loopback(host):
        click.echo(f"painterly: warning: listening on {host}: anyone who can reach this "
                   "machine can use the studio and upload files", err=True)
    # the address bound is this server's own name too (127.0.0.5 is loopback, but not a
    # name a rebinding page could use for it unless asked to)
    allowed = (*LOOPBACK_HOSTS, host) if is_loopback(host) else ("*",)
    sock = _bind(host, port)  # first: a busy port should fail before anything is made
    app = create_app(results_dir=results_dir or default_results_dir(), base_config=base,
                     max_queued=max_queued, allowed_hosts=allowed)
    with background(app, sock=sock) as url:
        if host in ("0.0.0.0", "::"):  # every address: this machine's own is one of them
            url = f"http://127.0.0.1:{url.rsplit(':', 1)[1]}"
        click.echo(f"painterly studio: {url}/  (results in {app.state.run_dir}; "
                   "Ctrl-C to stop)", err=True)
        if open_browser and not _open_browser(f"{url}/"):
            click.echo("painterly: warning: no web browser could be opened here; "
                       f"open {url}/ yourself", err=True)
        try:
            _wait(f"{url}/", app.state.server_thread)
        except KeyboardInterrupt:
            click.echo("painterly studio: stopping", err=True)
            return
    raise click.ClickException("the server stopped unexpectedly")


def _open_browser(url: str) -> bool:
    """True if a web browser was started (webbrowser says False when there is no display)."""
    try:
        return bool(webbrowser.open(url))
    except webbrowser.Error:
        return False


def _wait(url: str, thread: threading.Thread) -> None:
    """Until Ctrl-C (KeyboardInterrupt) or the server thread ends."""
    while thread.is_alive():
        time.sleep(0.5)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, so a busy port is refused before anything is made, and port 0
    gives a real URL. Raises ValueError (one line; the CLI makes it exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        hint = ("; is the studio already running? --port 0 picks a free port"
                if exc.errno == errno.EADDRINUSE else "")
        raise ValueError(f"cannot listen on {host}:{port}: "
                         f"{(exc.strerror or str(exc)).lower()}{hint}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def background(app, host: str = "127.0.0.1", port: int = 0, *, sock: socket.socket | None = None,
               timeout: float = 10.0, graceful: float = 2.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn from a daemon thread while inside; yields the base URL.

    Used by ``painterly studio`` and by tests. Port 0: a free port; ``sock``: a socket
    already listening (host and port are then ignored). A daemon thread (and so daemon
    worker threads under it) lets Ctrl-C end the process at once; on leaving, open streams
    get ``graceful`` seconds before they are closed.
    """
    import uvicorn

    sock = sock or _bind(host, port)
    host = sock.getsockname()[0]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           timeout_graceful_shutdown=graceful))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="painterly-studio-server", daemon=True)
    app.state.server_thread = thread
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the studio server did not start")
        time.sleep(0.02)
    try:
        netloc = f"[{host.strip('[]')}]" if ":" in host else host
        yield f"http://{netloc}:{sock.getsockname()[1]}"
    finally:
        streams = getattr(app.state, "streams", None)
        if streams is not None:  # end open event streams before uvicorn cancels them
            streams.close()
        server.should_exit = True
        thread.join(timeout + graceful)
        sock.close()
