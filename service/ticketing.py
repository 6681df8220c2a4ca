"""Push-back clients for the ticketing systems: add the screening tags to a ticket.

Standard library only (``urllib.request``). Every call has a timeout; an optional overall
``deadline`` (a ``time.monotonic()`` value) bounds a whole ``add_tags`` so a webhook answer
never waits on a slow ticketing system past the service's request time limit. Redirects are not
followed (the credentials must not travel to another address). Any failure raises
:class:`TicketingError` with a short reason that never holds the credentials or response bodies.
"""
from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_TIMEOUT_S = 5.0


class TicketingError(Exception):
    """A push-back call failed; ``str(e)`` is a short, log-safe reason."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirect)


def _base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("a ticketing base URL must be http(s)://host[:port][/path]")
    return url.rstrip("/")


def _numeric_id(ticket_id) -> int:
    """Ticket ids go into URLs and API bodies: only plain non-negative integers are accepted."""
    if isinstance(ticket_id, bool):
        raise TicketingError("ticket id is not numeric")
    if isinstance(ticket_id, int) and ticket_id >= 0:
        return ticket_id
    if isinstance(ticket_id, str) and ticket_id.isascii() and ticket_id.isdigit() and len(ticket_id) <= 20:
        return int(ticket_id)
    raise TicketingError("ticket id is not numeric")


class _Client:
    def __init__(self, base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.base_url = _base(base_url)
        self.timeout_s = timeout_s

    def _auth_header(self) -> str:
        raise NotImplementedError

    def _send(self, method: str, path: str, body: dict, deadline: float | None) -> None:
        timeout = self.timeout_s
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0.05:
                raise TicketingError("no time left for the call")
        req = urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(), method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "Authorization": self._auth_header(), "User-Agent": "kasuhara-webhooks/1"})
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                resp.read(65536)
        except urllib.error.HTTPError as e:
            e.close()
            raise TicketingError(f"HTTP {e.code} from {method} {path}") from None
        except (TimeoutError, socket.timeout):
            raise TicketingError(f"timeout after {timeout:.1f} s on {method} {path}") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise TicketingError(f"timeout after {timeout:.1f} s on {method} {path}") from None
            raise TicketingError(f"connection error on {method} {path}: {type(e.reason).__name__}") from None
        except OSError as e:  # reset mid-answer, TLS errors, ...
            raise TicketingError(f"connection error on {method} {path}: {type(e).__name__}") from None


class ZendeskClient(_Client):
    """``PUT {base}/api/v2/tickets/{id}/tags.json`` adds tags (keeps the ticket's other tags)."""

    def __init__(self, base_url: str, email: str, token: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        super().__init__(base_url, timeout_s)
        self._auth = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode("ascii")

    def _auth_header(self) -> str:
        return self._auth

    def add_tags(self, ticket_id, tags: list[str], deadline: float | None = None) -> None:
        tid = _numeric_id(ticket_id)
        self._send("PUT", f"/api/v2/tickets/{tid}/tags.json", {"tags": list(tags)}, deadline)

    def __repr__(self) -> str:
        return f"ZendeskClient({self.base_url!r})"


class ZammadClient(_Client):
    """One ``POST {base}/api/v1/tags/add`` per tag (Zammad's tag API takes one item a call)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        super().__init__(base_url, timeout_s)
        self._auth = f"Token token={token}"

    def _auth_header(self) -> str:
        return self._auth

    def add_tags(self, ticket_id, tags: list[str], deadline: float | None = None) -> None:
        tid = _numeric_id(ticket_id)
        for n, tag in enumerate(tags):
            try:
                self._send("POST", "/api/v1/tags/add", {"object": "Ticket", "o_id": tid, "item": tag}, deadline)
            except TicketingError as e:
                raise TicketingError(f"{e} (tag {n + 1} of {len(tags)})") from None

    def __repr__(self) -> str:
        return f"ZammadClient({self.base_url!r})"
