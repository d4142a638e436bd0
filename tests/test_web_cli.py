"""``painterly studio`` as a user starts it: the address it prints, the warning off loopback."""

from __future__ import annotations

import time
import urllib.request

import pytest
from click.testing import CliRunner

from painterly.web import server


@pytest.fixture
def stop_after_start(monkeypatch):
    """Instead of waiting for Ctrl-C: fetch the page once, then press Ctrl-C."""
    fetched = []

    def wait(url, thread):
        assert thread.is_alive()
        fetched.append(urllib.request.urlopen(url, timeout=10).status)
        raise KeyboardInterrupt

    monkeypatch.setattr(server, "_wait", wait)
    return fetched


def run(tmp_path, *args):
    return CliRunner().invoke(server.studio_command,
                              ["--port", "0", "--results-dir", str(tmp_path), *args])


def test_studio_serves_on_loopback_and_stops_on_ctrl_c(tmp_path, stop_after_start, monkeypatch):
    opened = []
    monkeypatch.setattr(server.webbrowser, "open", opened.append)
    result = run(tmp_path, "--open")
    assert result.exit_code == 0, result.output
    assert stop_after_start == [200]
    assert "painterly studio: http://127.0.0.1:" in result.output
    assert "warning" not in result.output and "stopping" in result.output
    assert opened and opened[0].startswith("http://127.0.0.1:")
    assert len(list(tmp_path.glob("run-*/results"))) == 1


def test_studio_warns_when_listening_beyond_this_machine(tmp_path, stop_after_start,
                                                        monkeypatch):
    real_bind = server._bind  # a test binds nothing beyond loopback: fake "every address"
    monkeypatch.setattr(server, "_bind", lambda host, port: real_bind("127.0.0.1", port))
    result = run(tmp_path, "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert "warning: listening on 0.0.0.0" in result.output
    assert "http://127.0.0.1:" in result.output


def test_busy_port_is_a_one_line_error(tmp_path):
    with server.background(_tiny_app(tmp_path)) as url:
        port = url.rsplit(":", 1)[1]
        result = CliRunner().invoke(server.studio_command,
                                    ["--port", port, "--results-dir", str(tmp_path)])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not list(tmp_path.glob("run-*"))  # nothing was made


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host, loopback):
    assert server.is_loopback(host) is loopback


def _tiny_app(tmp_path):
    from painterly.models.vgg import random_vgg_like
    from painterly.web.app import create_app

    return create_app(results_dir=tmp_path / "other", extractor=random_vgg_like((8, 16)))


def test_background_server_stops_promptly(tmp_path):
    started = time.monotonic()
    with server.background(_tiny_app(tmp_path)) as url:
        assert urllib.request.urlopen(url + "/api/config", timeout=10).status == 200
    assert time.monotonic() - started < 10
