"""A headless Firefox for tests/test_page.py, driven through Firefox's own Marionette protocol (plain
sockets: Playwright's Firefox is a patched build we cannot download, and geckodriver is not packaged).

Marionette speaks length-prefixed JSON over TCP: `LEN:[0, id, "Command", {params}]` in,
`LEN:[1, id, error, result]` back. Firefox picks a free port itself (marionette.port = 0) and writes it
into the profile as MarionetteActivePort, so parallel test runs cannot collide on 2828.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# WebDriver's codes for the keys the page follows.
KEYS = {"ArrowLeft": "\ue012", "ArrowRight": "\ue014", "ArrowUp": "\ue013", "ArrowDown": "\ue015",
        "Home": "\ue011", "End": "\ue010", "PageUp": "\ue00e", "PageDown": "\ue00f", "Tab": "\ue004", " ": "\ue00d"}

# A profile that cannot reach the network (every http(s) request goes to a proxy on the discard port,
# where nothing listens, and DNS fails) and that does not phone home on start.
_PREFS = {
    "marionette.port": 0,
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.socks": "127.0.0.1",
    "network.proxy.socks_port": 9,
    "network.proxy.no_proxies_on": "",
    "network.proxy.allow_hijacking_localhost": True,
    "network.dns.disableIPv6": True,
    "network.trr.mode": 5,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
}


def firefox() -> str | None:
    """A Firefox executable on PATH, or None."""
    for name in ("firefox", "firefox-esr"):
        found = shutil.which(name)
        if found:
            return found
    return None


class MarionetteError(RuntimeError):
    pass


class Firefox:
    """One headless Firefox with a fresh profile and one WebDriver session; `close()` ends both."""

    def __init__(self, executable: str, width: int = 1280, height: int = 800, timeout: float = 30,
                 prefs: dict | None = None):
        """`prefs`: more of Firefox's preferences (a reader's settings: font size, reduced motion) over _PREFS."""
        self.profile = Path(tempfile.mkdtemp(prefix="interp-firefox-"))
        (self.profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in {**_PREFS, **(prefs or {})}.items()))
        from tests.browser import browser_env  # its crash reports out of the user's ~/.config/mozilla/

        env = dict(browser_env(), MOZ_HEADLESS="1", MOZ_HEADLESS_WIDTH=str(width), MOZ_HEADLESS_HEIGHT=str(height))
        self.process = subprocess.Popen(
            [executable, "--headless", "--marionette", "--no-remote", "--profile", str(self.profile),
             "about:blank"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # its own process group: close() ends the content processes too
        self._id = 0
        try:
            self._sock = self._connect(timeout)
            self._buf = b""
            self._read()  # the greeting: {"applicationType": "gecko", "marionetteProtocol": 3}
            self.version = self.send("WebDriver:NewSession", {"capabilities": {}})["capabilities"]["browserVersion"]
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout: float) -> socket.socket:
        port_file = self.profile / "MarionetteActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MarionetteError(f"firefox exited with status {self.process.returncode} on start")
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text:
                try:
                    return socket.create_connection(("127.0.0.1", int(text)), timeout=timeout)
                except OSError:
                    pass
            time.sleep(0.1)
        raise MarionetteError(f"firefox did not open Marionette within {timeout:.0f} s")

    def _read(self):
        while b":" not in self._buf:
            self._recv()
        length, _, rest = self._buf.partition(b":")
        while len(rest) < int(length):
            self._recv()
            length, _, rest = self._buf.partition(b":")
        self._buf = rest[int(length):]
        return json.loads(rest[:int(length)])

    def _recv(self) -> None:
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            raise MarionetteError("firefox closed the Marionette connection")
        self._buf += chunk

    def send(self, command: str, params: dict | None = None):
        self._id += 1
        data = json.dumps([0, self._id, command, params or {}]).encode()
        self._sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            kind, msgid, error, result = self._read()
            if kind == 1 and msgid == self._id:
                break
        if error:
            raise MarionetteError(f"{command}: {error.get('error')}: {error.get('message')}")
        return result

    def navigate(self, url: str) -> None:
        self.send("WebDriver:Navigate", {"url": url})

    def run(self, script: str, *args):
        """A function body run in the page (`arguments` holds args); a returned promise is awaited."""
        return self.send("WebDriver:ExecuteScript", {"script": script, "args": list(args)})["value"]

    def evaluate(self, function: str):
        """A JavaScript function's source called in the page, as Playwright's page.evaluate(function) does
        (so tests/browser.shown_frame reads Firefox's pixels too)."""
        return self.run(f"return ({function})();")

    def press(self, key: str) -> None:
        """One key press (a name from KEYS) sent to the focused element, as a user's keyboard would."""
        code = KEYS[key]
        self.send("WebDriver:PerformActions", {"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": code}, {"type": "keyUp", "value": code}]}]})
        self.send("WebDriver:ReleaseActions")

    def touch(self, x: float, y: float, hold_ms: int = 0) -> None:
        """One finger put down at (x, y) in CSS px from the viewport's top left, held `hold_ms`, and lifted: a
        tap, or a long press (WebDriver's touch pointer: Firefox fires touch and pointer events, then a click)."""
        actions = [{"type": "pointerMove", "x": round(x), "y": round(y), "origin": "viewport"},
                   {"type": "pointerDown", "button": 0}, {"type": "pause", "duration": hold_ms},
                   {"type": "pointerUp", "button": 0}]
        self.send("WebDriver:PerformActions", {"actions": [
            {"type": "pointer", "id": "finger", "parameters": {"pointerType": "touch"}, "actions": actions}]})
        self.send("WebDriver:ReleaseActions")

    def close(self) -> None:
        try:
            if getattr(self, "_sock", None) is not None:
                try:
                    self.send("Marionette:Quit")  # ends the session too
                except (OSError, MarionetteError):
                    pass
                self._sock.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever of the group is left (a hung parent, content processes)
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
