"""A webhook receiver on 127.0.0.1 for the tests: records every request, verifies each
signature with the Standard Webhooks reference library, and answers what the test says."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    id: str
    type: str
    event: dict[str, Any]
    status: int  # what the receiver answered
    at: float


@dataclass
class Receiver:
    """Start with `with Receiver() as hooks:`; `secret` set once the subscription is made.
    `status` is answered (500 makes the sender retry); `delay` seconds before answering."""

    secret: str = ""
    status: int = 204
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)  # requests whose signature did not verify

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    # the sender went away mid-request (a dispatcher killed mid-delivery): no
                    # request arrived, so nothing to verify, and nobody to answer
                    self.close_connection = True
                    return
                receiver.take(dict(self.headers.items()), body, self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def take(self, headers: dict[str, str], body: bytes,
             handler: http.server.BaseHTTPRequestHandler) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        if self.delay:
            time.sleep(self.delay)
        status = self.status
        try:
            Webhook(self.secret).verify(body, lowered)
        except WebhookVerificationError as error:
            with self._lock:
                self.forged.append(f"{lowered.get('webhook-id')}: {error}")
            status = 400
        else:
            message = json.loads(body)
            with self._lock:
                self.received.append(Received(lowered["webhook-id"], message["type"],
                                              message["data"], status, time.time()))
        handler.send_response(status)
        handler.send_header("content-length", "0")
        handler.end_headers()

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def __enter__(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
