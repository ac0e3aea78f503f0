"""Python the example workflows call (``python: examples.helpers:NAME``).

Run as ``python -m examples.helpers serve --port N`` it is the little HTTP service the
``service-check`` example starts in a parallel step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def file_digest(path: str) -> dict[str, Any]:
    data = Path(path).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def total(parts: list[Any]) -> dict[str, int]:
    return {"total": sum(int(p) for p in parts), "parts": len(parts)}


def wait_for_port(port: int | str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + float(timeout)
    tries = 0
    while True:
        tries += 1
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=1):
                return {"port": int(port), "tries": tries}
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listens on 127.0.0.1:{port} after {timeout}s"
                ) from None
            time.sleep(0.05)


def summarise_order(order: dict[str, Any]) -> str:
    return f"order {order['id']}: {order['quantity']} x {order['item']}"


class _Handler(BaseHTTPRequestHandler):
    orders = 0

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.command} {self.path}", flush=True)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/orders":
            _Handler.orders += 1
            self._reply(201, {"id": _Handler.orders, **payload})
        elif self.path == "/shutdown":
            self._reply(200, {"status": "stopping"})
            threading.Thread(target=self.server.shutdown).start()
        else:
            self._reply(404, {"error": "not found"})


def serve(port: int, idle_timeout: float) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    last = [time.monotonic()]

    def watchdog() -> None:
        while True:
            time.sleep(0.2)
            if time.monotonic() - last[0] > idle_timeout:
                print(f"idle for {idle_timeout}s, stopping", flush=True)
                server.shutdown()
                return

    original = server.finish_request

    def finish_request(request: Any, client_address: Any) -> None:
        last[0] = time.monotonic()
        original(request, client_address)

    server.finish_request = finish_request  # type: ignore[method-assign]
    threading.Thread(target=watchdog, daemon=True).start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()


# -- the maintenance example's little database ------------------------------------------


def make_shop(path: str, tables: list[str]) -> dict[str, Any]:
    """A SQLite database with a table of 200 rows for each name, a quarter of them
    marked deleted (what vacuum-table removes)."""
    import sqlite3

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        for table in tables:
            if not table.isidentifier():
                raise ValueError(f"{table!r} is not a table name")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER, deleted INTEGER)")
            conn.executemany(
                f"INSERT INTO {table} VALUES (?, ?)", [(i, int(i % 4 == 0)) for i in range(200)]
            )
    return {"path": path, "tables": len(tables)}


def ensure_table(database: str, table: str) -> dict[str, Any]:
    """The table, made (with its rows) if the database does not have it: the file's size."""
    import sqlite3

    with sqlite3.connect(database if Path(database).exists() else ":memory:") as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
    if found is None:
        make_shop(database, [table])
    return {"bytes": Path(database).stat().st_size}


def vacuum_table(database: str, table: str) -> dict[str, Any]:
    """Delete a table's rows marked deleted and compact the file: what is left."""
    import sqlite3

    if not table.isidentifier():
        raise ValueError(f"{table!r} is not a table name")
    conn = sqlite3.connect(database)
    try:
        with conn:
            deleted = conn.execute(f"DELETE FROM {table} WHERE deleted = 1").rowcount
        conn.execute("VACUUM")
        (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    finally:
        conn.close()
    return {"rows": rows, "deleted": deleted}


# -- a webhook receiver for the failure-hook example -------------------------------------

_RECEIVED: dict[int, list[dict[str, Any]]] = {}  # port -> what was posted to it
_RECEIVERS: dict[int, ThreadingHTTPServer] = {}


class _Receiver(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        _RECEIVED.setdefault(self.server.server_address[1], []).append(
            {"path": self.path, "body": body}
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")


def start_receiver(idle_timeout: float = 30.0) -> dict[str, Any]:
    """A Slack- or Teams-like webhook endpoint on a free port of 127.0.0.1, in this
    process (python steps run in the runner), gone after ``idle_timeout`` seconds."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    port = server.server_address[1]
    _RECEIVERS[port] = server
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    ).start()
    timer = threading.Timer(float(idle_timeout), stop_receiver, args=(port,))
    timer.daemon = True
    timer.start()
    return {"url": f"http://127.0.0.1:{port}", "port": port}


def stop_receiver(port: int | str) -> list[dict[str, Any]]:
    """Stop the receiver on ``port``: what was posted to it."""
    server = _RECEIVERS.pop(int(port), None)
    if server is not None:
        server.shutdown()
        server.server_close()
    return _RECEIVED.pop(int(port), [])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m examples.helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the example HTTP API on 127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--idle-timeout", type=float, default=20.0)
    args = parser.parse_args()
    serve(args.port, args.idle_timeout)
