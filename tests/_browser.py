"""Headless Chromium driven over the DevTools protocol (websocket-client): load a page, collect
console errors, exceptions and network requests, take a screenshot."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
import websocket  # websocket-client: a test extra

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
NO_CHROMIUM = (
    f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}): the browser tests of the HTML reports "
    "need it (CI installs it in .ci/run; locally: apt-get install chromium)"
)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def in_ci() -> bool:
    """True where the environment says CI=true: there, a missing browser is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_chromium(path: str | None) -> str:
    """``path``, or a failure naming the missing browser (reached only under CI=true: locally the
    browser test module skips itself when ``find_chromium()`` is None)."""
    if path is None:
        pytest.fail(f"CI=true: {NO_CHROMIUM}", pytrace=False)
    return path


class Browser:
    """One headless browser process with one page target."""

    def __init__(self, executable: str, width: int = 1200, height: int = 2000):
        self._profile = tempfile.mkdtemp(prefix="nimask-chromium-")
        self.proc = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
             "--disable-background-networking", "--remote-debugging-port=0", f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        port = self._wait_port()
        deadline = time.time() + 20
        targets = []
        while time.time() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:  # local DevTools only
                targets = [t for t in json.load(resp) if t.get("type") == "page"]
            if targets:
                break
            time.sleep(0.1)
        if not targets:
            self.close()
            raise RuntimeError("chromium opened no page target")
        self.ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.call(method)

    def _wait_port(self) -> int:
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if match:
                return int(match.group(1))
        self.close()
        raise RuntimeError("chromium did not start its DevTools endpoint")

    def call(self, method: str, **params) -> dict:
        self._id += 1
        ident = self._id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def _pump(self, seconds: float) -> None:
        end = time.time() + seconds
        self.ws.settimeout(0.1)
        try:
            while time.time() < end:
                try:
                    msg = json.loads(self.ws.recv())
                except Exception:  # timeout: nothing more to read right now
                    continue
                if "method" in msg:
                    self.events.append(msg)
        finally:
            self.ws.settimeout(30)

    def load(self, path: str, settle: float = 0.5) -> dict:
        """Open a local file; return its console errors, exceptions, requests and a PNG screenshot."""
        self.events = []
        url = "file://" + os.path.abspath(path)
        self.call("Page.navigate", url=url)
        deadline = time.time() + 30
        while time.time() < deadline and not any(e["method"] == "Page.loadEventFired" for e in self.events):
            self._pump(0.2)
        self._pump(settle)
        errors = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(p["entry"].get("text", ""))
        requests = [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1})
        return {"url": url, "errors": errors, "requests": requests, "png": base64.b64decode(shot["data"]),
                "loaded": any(e["method"] == "Page.loadEventFired" for e in self.events)}

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            shutil.rmtree(self._profile, ignore_errors=True)


def external_requests(result: dict) -> list[str]:
    """Requests other than the page itself and its embedded data: URIs."""
    return [u for u in result["requests"] if u != result["url"] and not u.startswith("data:")]


def png_variance(png: bytes) -> float:
    """Variance of the grey levels of a PNG (0 for a blank page)."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(img.var())
