"""``painterly studio`` as a user starts it: the address it prints, the warning off loopback."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.request

import pytest
from click.testing import CliRunner

from painterly.cli import cli
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
    monkeypatch.setattr(server.webbrowser, "open", lambda url: opened.append(url) or True)
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


def test_busy_port_is_a_one_line_error_with_a_hint(tmp_path):
    with server.background(_tiny_app(tmp_path)) as url:
        port = url.rsplit(":", 1)[1]
        result = CliRunner().invoke(cli, ["studio", "--port", port, "--results-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"painterly: error: cannot listen on "
                                                   f"127.0.0.1:{port}: address already in use")
    assert "--port 0" in lines[0]
    assert not list(tmp_path.glob("run-*"))  # nothing was made


def test_open_without_a_browser_says_so(tmp_path, stop_after_start, monkeypatch):
    monkeypatch.setattr(server.webbrowser, "open", lambda url: False)  # no display
    result = run(tmp_path, "--open")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("painterly: warning: no web browser")
    assert "http://127.0.0.1:" in warning[0]


def test_a_loopback_address_other_than_127_0_0_1_answers_requests(tmp_path, monkeypatch):
    try:  # all of 127.0.0.0/8 is loopback on Linux; elsewhere only 127.0.0.1 may be bound
        socket.create_server(("127.0.0.5", 0)).close()
    except OSError:
        pytest.skip("127.0.0.5 is not an address of this machine")
    fetched = []

    def wait(url, thread):
        fetched.append(url)
        fetched.append(urllib.request.urlopen(url + "api/config", timeout=10).status)
        raise KeyboardInterrupt

    monkeypatch.setattr(server, "_wait", wait)
    result = run(tmp_path, "--host", "127.0.0.5")
    assert result.exit_code == 0, result.output
    assert fetched[0].startswith("http://127.0.0.5:") and fetched[1] == 200


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


def test_open_event_streams_end_quietly_when_the_server_stops(tmp_path):
    """Ctrl-C with the page open: its event stream ends before uvicorn would cancel it (and
    log a CancelledError traceback), and the running job is cancelled."""
    from test_web_api import CAT, NIGHT, make_app

    app, errors, lines = make_app(tmp_path), [], []
    body = json.dumps({"content": CAT, "style": NIGHT, "iterations": 2000}).encode()

    def follow(url):
        with urllib.request.urlopen(url, timeout=20) as stream:
            lines.extend(line.decode() for line in stream)  # until the server ends it

    with server.background(app) as url:
        recorder = logging.Handler(logging.ERROR)
        recorder.emit = errors.append
        logging.getLogger("uvicorn").addHandler(recorder)
        request = urllib.request.Request(url + "/api/jobs", data=body,
                                         headers={"content-type": "application/json"})
        job = json.load(urllib.request.urlopen(request, timeout=10))
        reader = threading.Thread(target=follow, args=(url + job["events"],))
        reader.start()
        while not any(line.startswith("event: progress") for line in list(lines)):
            assert reader.is_alive()
            time.sleep(0.02)
        stopping = time.monotonic()
    logging.getLogger("uvicorn").removeHandler(recorder)
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - stopping < 5
    assert not [record.getMessage() for record in errors]
    assert app.state.jobs.get(job["id"]).state == "cancelled"
