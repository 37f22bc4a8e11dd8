"""A minimal Chrome DevTools Protocol driver for headless Chromium (Debian's package), for the portal's browser test.

No Playwright or Selenium (they download their own browsers): Chromium is started with
``--remote-debugging-port=0``, the port is read from ``DevToolsActivePort`` in its profile folder, a
page target is opened over the ``/json/new`` endpoint and driven over its WebSocket (``websockets``'
sync client): navigate, evaluate JavaScript from outside the page (the portal itself has none, and
its CSP forbids it), set a file input's files, and read each main-document response status. Console
messages and log entries (CSP violations among them) are collected so a test can assert there were
none. The network is pointed nowhere except 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--proxy-server=127.0.0.1:9",  # nothing outside 127.0.0.1 is reachable
    "--proxy-bypass-list=127.0.0.1",
    "--window-size=412,915",  # a phone: the portal is mobile first
]


class Browser:
    """Headless Chromium with one page, driven over CDP."""

    def __init__(self, binary: str, profile: Path, timeout: float = 20.0) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=timeout) as resp:
            target = json.load(resp)
        self.ws = connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout)
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.timeout = timeout
        for domain in ("Page", "Runtime", "Network", "Log", "DOM"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a CDP method and return its result (events received meanwhile are kept)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, since: int) -> dict[str, Any]:
        """The first event ``method`` received after ``len(self.events) == since``."""
        deadline = time.monotonic() + self.timeout
        while True:
            for msg in self.events[since:]:
                if msg.get("method") == method:
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} within {self.timeout} s")
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                continue

    def _settle(self, since: int) -> int:
        """Wait for the page load after ``since``; return the main document's last HTTP status."""
        self.wait_for("Page.loadEventFired", since)
        statuses = [
            m["params"]["response"]["status"]
            for m in self.events[since:]
            if m.get("method") == "Network.responseReceived" and m["params"].get("type") == "Document"
        ]
        return statuses[-1] if statuses else 0

    def goto(self, url: str) -> int:
        """Navigate and wait for the load; return the document's HTTP status."""
        since = len(self.events)
        self.send("Page.navigate", url=url)
        return self._settle(since)

    def js(self, expression: str) -> Any:
        """Evaluate an expression in the page (from DevTools, outside the page's CSP) and return its value."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def click_and_wait(self, selector: str) -> int:
        """Click an element that navigates (a link or a submit button); return the new document's status."""
        since = len(self.events)
        self.js(f"document.querySelector({json.dumps(selector)}).click()")
        return self._settle(since)

    def fill(self, selector: str, value: str) -> None:
        """Set an input's value."""
        self.js(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")

    def set_files(self, selector: str, *paths: Path) -> None:
        """Choose files in a file input, as a user would."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])

    def text(self, selector: str = "body") -> str:
        """The visible text of an element."""
        return self.js(f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText")

    def problems(self) -> list[str]:
        """Console errors and log entries of level error/warning (CSP violations are such entries)."""
        out = []
        for m in self.events:
            if m.get("method") == "Log.entryAdded" and m["params"]["entry"]["level"] in ("error", "warning"):
                entry = m["params"]["entry"]
                out.append(f"{entry['text']} @ {entry.get('url', '')}")
            if m.get("method") == "Runtime.consoleAPICalled" and m["params"]["type"] in ("error", "warning"):
                out.append(str(m["params"]["args"]))
        return out

    def close(self) -> None:
        """Stop the browser (its whole process group)."""
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
