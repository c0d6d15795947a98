"""A Hugging Face Hub on 127.0.0.1 for tests: huggingface_hub's own HTTP path against a real socket.

huggingface_hub reads `HF_ENDPOINT` and asks `HEAD` then `GET /{repo}/resolve/{revision}/{filename}`:
the HEAD for the commit (`X-Repo-Commit`), the etag (an LFS file's sha256, which interp compares with
a preset's) and the size; the GET for the bytes, with `Range: bytes=N-` when it resumes. This serves
exactly that, from files in memory, and can misbehave the ways a real hub or network does:

    hub.fault = Fault(drop_after=1000)          # close the connection after 1000 bytes of the body
    hub.fault = Fault(stall_after=1000)         # send 1000 bytes, then nothing until `hub.close()`
    hub.fault = Fault(status=503)               # every request answered 503 (with the hub's X-Error-Code for
                                                #   401/403/404, so huggingface_hub raises what the real hub causes)
    hub.fault = Fault(status=503, on="GET")     # the HEAD succeeds, the GET fails
    hub.fault = Fault(body=b"...")              # the bytes sent instead of the file's (same length)
    hub.fault = Fault(delay=1.0, on="GET")      # a slow hub: the body starts after a second (a HEAD: its answer)
    hub.fault = Fault(status=403, unless_token="hf_x")  # a gated repo, open to that token (HF_TOKEN)
    hub.fault = Fault(hide_size=True)           # a HEAD without the size (a hub file behind some proxies)
    hub.fault = Fault(rate=5_000_000, on="GET") # a slow link: the body at 5 MB/s
    hub.fault = Fault(hold=event, on="GET")     # no answer until the test sets `event` (a threading.Event)

`Fault(only="a.pt")` limits a fault to the files whose path ends so; `times=N` to its first N requests; a list
of faults applies the first that matches a request.

Files are served as the real hub serves an LFS file (every checkpoint is one): the resolve URL answers 302 with
the sha256 as `X-Linked-Etag`, the size as `X-Linked-Size` and a `Location` on the storage (here `/cdn/{sha256}`),
where the bytes come from. `LocalHub(lfs=False)` answers the resolve URL itself (a small git file's way).
`hub.gets` counts the requests for bytes, `hub.requests` lists every (method, path, Range) seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"

# What the real hub says for these statuses, so that huggingface_hub picks the same error class.
_ERROR_CODES = {401: "RepoNotFound", 403: "GatedRepo", 404: "EntryNotFound"}


@dataclass
class Fault:
    drop_after: int | None = None
    stall_after: int | None = None
    status: int | None = None
    body: bytes | None = None
    delay: float = 0.0
    hide_size: bool = False
    rate: int | None = None  # bytes a second the body is sent at
    unless_token: str | None = None
    only: str | None = None
    on: str = "HEAD GET"
    times: int | None = None  # how many requests misbehave before the hub is well again (None: all)
    hold: threading.Event | None = None  # the answer waits until it is set (or the hub closes)


@dataclass
class LocalHub:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    fault: Fault | list[Fault] | None = None
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lfs: bool = True

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stored: dict[str, str] = {}  # sha256 -> filename, for the storage URLs
        self._stop = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def gets(self) -> int:
        with self._lock:
            return sum(1 for method, path, _ in self.requests
                       if method == "GET" and ("/resolve/" in path or path.startswith("/cdn/")))

    def put(self, repo_id: str, filename: str, payload: bytes) -> str:
        """Serve `payload` as `repo_id`'s `filename`; returns its sha256 (the etag the hub advertises)."""
        self.files[(repo_id, filename)] = payload
        sha256 = hashlib.sha256(payload).hexdigest()
        self._stored[sha256] = filename
        return sha256

    def close(self) -> None:
        self._stop.set()  # a stalled answer gives up
        self._server.shutdown()
        self._server.server_close()

    def _fault_for(self, method: str, filename: str, authorization: str | None, storage: bool) -> Fault | None:
        with self._lock:
            faults = self.fault if isinstance(self.fault, list) else [self.fault]
            for fault in faults:
                if fault is None or method not in fault.on.split():
                    continue
                if fault.only is not None and not filename.endswith(fault.only):
                    continue
                # The hub checks tokens; its storage's URLs are signed, and huggingface_hub sends them none.
                if fault.unless_token is not None and (storage or authorization == f"Bearer {fault.unless_token}"):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
            return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up mid-answer (a stopped or timed-out download) is what these tests do on purpose.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler(hub: LocalHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # no access log on the test's stderr
            pass

        def do_HEAD(self):
            self._answer(body=False)

        def do_GET(self):
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            method = "GET" if body else "HEAD"
            with hub._lock:
                hub.requests.append((method, self.path, self.headers.get("Range")))
            # /{owner}/{repo}/resolve/{revision}/{path/in/repo}, or /cdn/{sha256}: the storage it redirects to
            parts = unquote(self.path.split("?")[0]).lstrip("/").split("/")
            storage = len(parts) == 2 and parts[0] == "cdn" and parts[1] in hub._stored
            if storage:
                filename = hub._stored[parts[1]]
                payload = next(data for (_, name), data in hub.files.items() if name == filename)
            elif len(parts) >= 5 and parts[2] == "resolve":
                filename = "/".join(parts[4:])
                payload = hub.files.get((f"{parts[0]}/{parts[1]}", filename))
                if payload is None:
                    return self._status(404, "EntryNotFound")
            else:
                return self._status(404, "RepoNotFound")
            fault = hub._fault_for(method, filename, self.headers.get("Authorization"), storage)
            if fault is not None and fault.hold is not None:
                while not fault.hold.wait(0.05) and not hub._stop.is_set():
                    pass
            if fault is not None and fault.delay and not body:
                hub._stop.wait(fault.delay)  # a HEAD answered late
            if fault is not None and fault.status is not None:
                return self._status(fault.status, _ERROR_CODES.get(fault.status))
            sha256 = hashlib.sha256(payload).hexdigest()
            if hub.lfs and not storage:
                self.send_response(302)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha1(filename.encode()).hexdigest()}"')  # the LFS pointer's
                self.send_header("X-Linked-Etag", f'"{sha256}"')
                self.send_header("Location", f"{hub.endpoint}/cdn/{sha256}")
                if fault is None or not fault.hide_size:
                    self.send_header("X-Linked-Size", str(len(payload)))
                    # Without the other, huggingface_hub 0.20 took this one for the file's size.
                    self.send_header("Content-Length", "0")
                self.end_headers()
                return
            sent = fault.body if fault is not None and fault.body is not None else payload
            start = _range_start(self.headers.get("Range"), len(sent))
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{sha256}"')
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            if body or fault is None or not fault.hide_size:
                self.send_header("Content-Length", str(len(sent) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(sent) - 1}/{len(sent)}")
            self.end_headers()
            if not body:
                return
            rest = sent[start:]
            if fault is not None and fault.delay:
                hub._stop.wait(fault.delay)
            cut = None if fault is None else (fault.drop_after if fault.drop_after is not None else fault.stall_after)
            if cut is None and fault is not None and fault.rate:
                chunk = max(1, fault.rate // 20)  # 20 writes a second
                for offset in range(0, len(rest), chunk):
                    if hub._stop.wait(chunk / fault.rate):
                        break
                    self.wfile.write(rest[offset:offset + chunk])
                return
            if cut is None:
                self.wfile.write(rest)
                return
            self.wfile.write(rest[:cut])
            self.wfile.flush()
            if fault.stall_after is not None:
                hub._stop.wait(60)
            self.close_connection = True
            self.connection.shutdown(2)  # the peer sees the connection end before Content-Length bytes

        def _status(self, status: int, error_code: str | None) -> None:
            message = json.dumps({"error": f"test hub says {status}"}).encode()
            self.send_response(status)
            self.send_header("X-Repo-Commit", COMMIT)
            if error_code:
                self.send_header("X-Error-Code", error_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(message)

    return Handler


def _range_start(header: str | None, size: int) -> int:
    if not header or not header.startswith("bytes=") or not header[6:].split("-")[0].isdigit():
        return 0
    return min(int(header[6:].split("-")[0]), size)


# --------------------------------------------------------------------------------------------------
# `python -m tests.hub_server ARGS`: the interp command, with the presets in $INTERP_TEST_PRESETS


def add_test_presets() -> None:
    """The presets in $INTERP_TEST_PRESETS, added to this process's interp (a Python caller's, or `main`'s)."""
    from interp_cli import weights

    for fields in json.loads(os.environ.get("INTERP_TEST_PRESETS", "[]")):
        weights.PRESETS[fields["name"]] = weights.Preset(**fields)


def main() -> None:
    """`interp ARGS` as `python -m interp_cli` runs it, with test presets (JSON list of Preset fields) added:
    a preset is code, and a subprocess (a cluster job's worker) cannot be handed one any other way."""
    from interp_cli.stops_at_start import hold_stops_at_start

    hold_stops_at_start()
    add_test_presets()
    from interp_cli.cli import run

    sys.argv[0] = "interp"
    run()


if __name__ == "__main__":
    main()
