"""One HTTP probe of a published URL, recorded hop by hop as the Remote Connectivity Analyzer sees it.

The probe follows redirects only within the same host name: a redirect elsewhere (a parked
domain, a login page of another site) is exactly what CONN-05 must catch, so it is recorded with
its target and not followed. Network outcomes - refused, timed out, a certificate that fails
verification - are facts for a check, so they land in ``error`` instead of being raised.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ReadTimeoutError

from cas_conformance.domain.records.http import HttpProbe as HttpProbe
from cas_conformance.errors import CollectionError

EXCERPT_BYTES = 4096
_REDIRECTS = (301, 302, 303, 307, 308)


def auth_schemes(challenges: list[str]) -> tuple[str, ...]:
    """Scheme names from WWW-Authenticate values, e.g. ``['Negotiate', 'Basic realm="x"']``.

    One header value may hold several comma-separated challenges; a piece whose first token
    contains ``=`` is a parameter of the previous challenge, not a new scheme.
    """
    schemes: list[str] = []
    for value in challenges:
        for piece in _split_outside_quotes(value):
            token = piece.strip().split(" ", 1)[0].strip()
            if token and "=" not in token and token.lower() not in (s.lower() for s in schemes):
                schemes.append(token)
    return tuple(schemes)


def _split_outside_quotes(value: str) -> list[str]:
    pieces, current, quoted = [], "", False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            pieces.append(current)
            current = ""
        else:
            current += char
    pieces.append(current)
    return pieces


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """*exc* and everything it wraps (causes, contexts, urllib3 reasons, exception args)."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 50:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(e for e in inner if isinstance(e, BaseException))


def describe_failure(exc: BaseException, timeout: float) -> str:
    """A short, stable description of why a request failed (never includes credentials)."""
    chain = list(_causes(exc))
    for error in chain:
        if isinstance(error, CollectionError):
            return error.reason
    for error in chain:
        if isinstance(error, NameResolutionError):
            return f"name does not resolve: {error}"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"TLS certificate verify failed: {error.verify_message}"
    for error in chain:
        if isinstance(error, ssl.SSLError):
            return f"TLS error: {error.reason or error}"
        timed_out = isinstance(error, (requests.Timeout, TimeoutError, socket.timeout, ReadTimeoutError))
        if timed_out or (
            isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError)
        ):
            return f"timed out after {timeout:g} s"
        if isinstance(error, ConnectionResetError):
            return "connection reset by peer"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return f"invalid URL: {exc}"
    return f"request failed: {type(exc).__name__}: {exc}"


def _same_host(a: str, b: str) -> bool:
    def host(url: str) -> str:
        return (urlsplit(url).hostname or "").lower().rstrip(".")

    return host(a) == host(b)


def _read_body(response: requests.Response, max_body: int, timeout: float) -> tuple[str, str | None]:
    """The first EXCERPT_BYTES of the body as text, and an error if it was too large or failed."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_body:
        return "", f"response larger than {max_body} bytes (Content-Length {declared})"
    body = b""
    error = None
    try:
        for chunk in response.iter_content(16384):
            body += chunk
            if len(body) > max_body:
                error = f"response larger than {max_body} bytes"
                break
    except (requests.RequestException, OSError) as exc:
        error = f"reading the body: {describe_failure(exc, timeout)}"
    try:
        text = body[:EXCERPT_BYTES].decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: the excerpt is for humans, utf-8 will do
        text = body[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    return text, error


def _challenges(response: requests.Response) -> list[str]:
    """Every WWW-Authenticate header, kept apart (requests joins repeated headers with commas)."""
    raw_headers = getattr(response.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "getlist"):
        return [str(v) for v in raw_headers.getlist("WWW-Authenticate")]
    value = response.headers.get("WWW-Authenticate")
    return [value] if value else []


def probe(
    session: requests.Session,
    url: str,
    *,
    method: str = "GET",
    timeout: float,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    auth: Any = None,
    max_redirects: int = 5,
    max_body: int = 1_000_000,
) -> HttpProbe:
    """Request *url*, follow same-host redirects, and record what came back; never raises for
    network outcomes. ``timeout`` bounds the whole probe (every hop), not each read."""
    deadline = time.monotonic() + timeout
    method = method.upper()
    current_url, current_method, current_data = url, method, data
    redirects: list[tuple[int, str]] = []

    def result(status: int | None = None, error: str | None = None, **more: Any) -> HttpProbe:
        return HttpProbe(url, method, status, current_url, tuple(redirects), error=error, **more)

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return result(error=f"timed out after {timeout:g} s")
        try:
            response = session.request(
                current_method,
                current_url,
                data=current_data,
                headers=dict(headers or {}),
                auth=auth,
                timeout=remaining,
                allow_redirects=False,
                stream=True,
            )
        except (requests.RequestException, OSError, CollectionError) as exc:
            return result(error=describe_failure(exc, timeout))
        with response:
            status = response.status_code
            challenges = _challenges(response)
            location = response.headers.get("Location")
            target = urljoin(current_url, location) if location else None
            common: dict[str, Any] = {
                "www_authenticate": auth_schemes([c for c in challenges if c]),
                "location": target,
                "content_type": response.headers.get("Content-Type"),
            }
            if status in _REDIRECTS and target is not None:
                redirects.append((status, target))
                if not _same_host(current_url, target):
                    return result(status, **common)  # recorded, not followed: the check judges it
                if len(redirects) > max_redirects:
                    return result(status, error=f"more than {max_redirects} redirects", **common)
                if status == 303 or (status in (301, 302) and current_method == "POST"):
                    current_method = "GET" if current_method != "HEAD" else "HEAD"
                    current_data = None
                current_url = target
                continue
            excerpt, error = _read_body(response, max_body, timeout)
            return result(status, error, body_excerpt=excerpt, **common)
