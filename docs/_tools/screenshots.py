"""Screenshots of the built docs site in headless Chromium, served from localhost.

Builds the site (``mkdocs build --strict``) into a temporary folder unless ``--site``
names a built one, serves it over HTTP on a free localhost port (as ``mkdocs serve``
or any static host would; no network beyond localhost is needed), and saves one PNG
per page into ``--out``::

    python docs/_tools/screenshots.py --out /tmp/docs-shots
    python docs/_tools/screenshots.py --site site --out /tmp/docs-shots --pages index search

Chromium is Debian's ``chromium`` package (``apt-get install -y chromium``) or any
``chromium``/``google-chrome`` on the PATH (``--chromium`` picks one). Each shot runs
with a fresh profile and no background networking, so a page that needs the internet
(a CDN script, a web font) shows it. Chromium is driven over the DevTools protocol
(``--remote-debugging-pipe``) so that the page's scripts (math typesetting, the search
worker) get ``--wait-ms`` of real time before the shot: with ``--screenshot`` and
``--virtual-time-budget`` the search box stays on "Initializing search" (virtual time
does not wait for the Web Worker), whatever the site does. ``--file`` opens the pages from the
file system (file://) instead, as a reader of a copied site would. Look at the PNGs;
they are not part of the repository.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: name -> (path under the site, window size). "search" opens the search box with a query.
PAGES: dict[str, tuple[str, str]] = {
    "index": ("index.html", "1280,1400"),
    "index-narrow": ("index.html", "820,1400"),
    "getting-started": ("getting-started.html", "1280,2400"),
    "losses": ("reference/losses.html", "1280,2400"),
    "multitask": ("reference/losses.html#imbalance_kit.losses.MultiTaskLoss", "1280,2400"),
    "augment": ("reference/augment.html#imbalance_kit.augment.NoiseOversampler", "1280,2000"),
    "calibration": ("reference/calibration.html", "1280,2000"),
    "kernels": ("reference/kernels.html", "1280,2400"),
    "choosing-a-loss": ("guides/choosing-a-loss.html", "1280,2000"),
    "bench-losses": ("benchmarks/losses.html#sigmoid-focal-loss-forward-backward", "1280,2000"),
    "bench-smote": ("benchmarks/smote.html", "1280,2000"),
    "bench-calibration": ("benchmarks/calibration.html", "1280,1600"),
    "bench-quality": ("benchmarks/quality.html", "1280,2000"),
    "search": ("index.html?q=focal", "1280,1200"),
}

#: Tables of the page wider than its text column (they would scroll sideways).
WIDE_TABLES = """JSON.stringify(Array.from(document.querySelectorAll("article table"))
  .filter(t => t.scrollWidth > t.closest("article").clientWidth + 1)
  .map(t => `table of ${t.querySelectorAll("th").length} columns is ${t.scrollWidth}px wide, `
          + `the column ${t.closest("article").clientWidth}px`))"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def build_site(dest: Path) -> Path:
    """Build the docs with ``mkdocs build --strict`` into ``dest`` and return it."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(dest)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
    )
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``site`` on a free localhost port in a daemon thread; return (server, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def find_chromium(name: str | None) -> str:
    for candidate in [name] if name else ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(candidate)
        if path:
            return path
    raise SystemExit(
        "screenshots: error: no Chromium found (Debian: apt-get install -y chromium; "
        "or pass --chromium PATH)"
    )


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (no extra package).

    ``--remote-debugging-pipe`` makes Chromium read commands from file descriptor 3 and
    write answers to 4, one JSON message each, ended by a NUL byte.
    """

    def __init__(self, chromium: str, profile: str) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the child's fds 3 and 4 are dup2'ed from these in preexec (before exec)
        fds = (to_child_r, from_child_w)

        def wire() -> None:
            os.dup2(fds[0], 3)
            os.dup2(fds[1], 4)

        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"]
        self.proc = subprocess.Popen(
            cmd,
            pass_fds=(3, 4, *fds),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.session = None

    def send(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chromium did not answer {method}")
                ready, _, _ = select.select([self._from_child], [], [], 1.0)
                if ready:
                    chunk = os.read(self._from_child, 1 << 20)
                    if not chunk:
                        raise RuntimeError("chromium exited")
                    self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def open(self, width: int, height: int) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def shoot(self, url: str, png: Path, wait_s: float) -> list[str]:
        """Save a screenshot; return a note for each table wider than the text column."""
        self.send("Page.navigate", {"url": url})
        time.sleep(wait_s)  # real time: scripts, fonts and the search worker run meanwhile
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        png.write_bytes(base64.b64decode(data))
        found = self.send("Runtime.evaluate", {"expression": WIDE_TABLES, "returnByValue": True})
        return json.loads(found["result"].get("value") or "[]")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_child)
        os.close(self._from_child)


def screenshot(chromium: str, url: str, png: Path, size: str, wait_ms: int) -> list[str]:
    """One screenshot of ``url`` into ``png``, with a fresh profile, after ``wait_ms``."""
    width, height = (int(v) for v in size.split(","))
    with tempfile.TemporaryDirectory(
        prefix="chromium-profile-", ignore_cleanup_errors=True
    ) as profile:
        browser = Browser(chromium, profile)
        try:
            browser.open(width, height)
            notes = browser.shoot(url, png, wait_ms / 1000)
        finally:
            browser.close()
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot for {url}")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument(
        "--site", type=Path, help="a built site folder (default: build one into a temp dir)"
    )
    parser.add_argument(
        "--pages",
        nargs="+",
        choices=sorted(PAGES),
        default=list(PAGES),
        help="which pages to shoot (default: all)",
    )
    parser.add_argument("--chromium", help="the Chromium executable (default: found on PATH)")
    parser.add_argument(
        "--wait-ms",
        type=int,
        default=4000,
        help="time the page's scripts get before the shot (default: 4000)",
    )
    parser.add_argument(
        "--file", action="store_true", help="open the pages as file:// URLs, not over HTTP"
    )
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imbalance-kit-site-") as tmp:
        site = args.site if args.site else build_site(Path(tmp) / "site")
        server, base = serve(site)
        if args.file:
            base = site.resolve().as_uri() + "/"
        try:
            for name in args.pages:
                path, size = PAGES[name]
                png = args.out / f"{name}.png"
                notes = screenshot(chromium, base + path, png, size, args.wait_ms)
                print(f"{png}  <- {base + path}")
                for note in notes:
                    print(f"  wide: {note}")
        finally:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
