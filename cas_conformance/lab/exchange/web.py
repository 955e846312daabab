"""What the lab's IIS answers: OWA's sign-in redirect, 401 challenges per virtual directory,
Autodiscover (POX) for the test mailbox.

Autodiscover reads the request as Exchange does: a body that is not a well-formed request with an
``EMailAddress`` gets error 600 ("Invalid Request. The XML request was improperly formatted."), an
address other than the test mailbox's gets error 500 ("The e-mail address cannot be found."), both
with HTTP 200: the codes of [MS-OXDSCLI] 2.2.4.1.1.3.1 ErrorCode (https://learn.microsoft.com/en-us/
openspecs/exchange_server_protocols/ms-oxdscli/713ef4f4-83b2-4375-9d64-60c97ee5b166), the message
as an Exchange 2010 CAS words it in an Outlook log ("Autodiscover - E-mail address cannot be found",
https://learn.microsoft.com/en-us/archive/blogs/tips_from_the_inside/autodiscover-e-mail-address-cannot-be-found)."""

from __future__ import annotations

import base64
import binascii
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html import escape

from cas_conformance.lab.scenario.model import Scenario
from cas_conformance.lab.servers.http import HttpRequest, HttpResponse

_AUTODISCOVER_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
_OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
_REQUEST_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006}"


def _challenge(*schemes: str) -> HttpResponse:
    headers = [("WWW-Authenticate", scheme) for scheme in schemes]
    headers.append(("Content-Type", "text/html"))
    return HttpResponse(401, headers, b"<html><body>401 - Unauthorized: Access is denied.</body></html>")


def _basic_user(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization") or request.headers.get("authorization") or ""
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _requested_address(body: bytes) -> str | None:
    """The request's EMailAddress, or None when the body is not a well-formed POX request."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if root.tag != f"{_REQUEST_NS}Autodiscover":
        return None
    address = root.findtext(f"{_REQUEST_NS}Request/{_REQUEST_NS}EMailAddress")
    return address.strip() if address and address.strip() else None


def _autodiscover_error(code: int, message: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{_AUTODISCOVER_NS}">
  <Response>
    <Error Time="00:00:00.0000000" Id="2756139375">
      <ErrorCode>{code}</ErrorCode>
      <Message>{escape(message)}</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
""".encode()


def _autodiscover_answer(scenario: Scenario, body: bytes) -> bytes:
    address = _requested_address(body)
    if address is None:
        return _autodiscover_error(600, "Invalid Request")
    if address.lower() != scenario.probe_mailbox.lower():
        return _autodiscover_error(500, "The e-mail address cannot be found.")
    return _autodiscover_xml(scenario)


def _autodiscover_xml(scenario: Scenario) -> bytes:
    db = next((d for d in scenario.databases if d.name == scenario.probe_database), scenario.databases[0])
    cas = next(x for x in scenario.servers if x.is_cas and x.outlook_anywhere_host)
    expr = scenario.autodiscover_expr_server or cas.outlook_anywhere_host
    legacy_dn = f"/o={scenario.organisation}/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=labprobe"
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{_AUTODISCOVER_NS}">
  <Response xmlns="{_OUTLOOK_NS}">
    <User>
      <DisplayName>Lab Probe</DisplayName>
      <LegacyDN>{escape(legacy_dn)}</LegacyDN>
      <AutoDiscoverSMTPAddress>{escape(scenario.probe_mailbox)}</AutoDiscoverSMTPAddress>
    </User>
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol>
        <Type>EXCH</Type>
        <Server>{escape(db.rpc_client_access_server)}</Server>
        <ServerVersion>738180DA</ServerVersion>
        <MdbDN>/o={escape(scenario.organisation)}/cn=Configuration/cn=Servers/cn={escape(db.server)}/cn={escape(db.name)}</MdbDN>
        <ASUrl>https://{escape(cas.external_host)}/EWS/Exchange.asmx</ASUrl>
      </Protocol>
      <Protocol>
        <Type>EXPR</Type>
        <Server>{escape(expr)}</Server>
        <SSL>On</SSL>
        <AuthPackage>Basic</AuthPackage>
        <ASUrl>https://{escape(cas.external_host)}/EWS/Exchange.asmx</ASUrl>
      </Protocol>
    </Account>
  </Response>
</Autodiscover>
"""
    return body.encode("utf-8")


def exchange_site(
    scenario: Scenario, credentials: Callable[[], tuple[str, str]]
) -> Callable[[HttpRequest], HttpResponse]:
    """The handler for every published host name; *credentials* gives the test mailbox's login."""

    def handle(request: HttpRequest) -> HttpResponse:
        path = request.path.split("?", 1)[0].lower().rstrip("/")
        host = request.host
        if path in ("", "/owa") or path == "/ecp":
            target = f"https://{host}/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2f{host}%2fowa%2f"
            # IIS says "Object moved" in the body of its redirects, as real OWA does
            moved = (
                "<html><head><title>Object moved</title></head><body><h2>Object moved to "
                f'<a href="{escape(target)}">here</a>.</h2></body></html>'
            )
            return HttpResponse(302, [("Location", target), ("Content-Type", "text/html")], moved.encode())
        if path == "/owa/auth/logon.aspx":
            page = (
                b"<html><head><title>Outlook Web App</title></head><body><form action='/owa/auth.owa'>"
                b"</form></body></html>"
            )
            return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], page)
        if path == "/ews/exchange.asmx":
            if scenario.ews_status != 401:
                return HttpResponse(
                    scenario.ews_status, [("Content-Type", "text/html")], b"<h1>Not Found</h1>"
                )
            return _challenge("Negotiate", "NTLM")
        if path == "/microsoft-server-activesync":
            return _challenge(f'Basic realm="{host}"')
        if path == "/oab":
            return _challenge("Negotiate", "NTLM")
        if path == "/rpc/rpcproxy.dll":
            return _challenge(f'Basic realm="{host}"', "NTLM")
        if path == "/autodiscover/autodiscover.xml":
            login = _basic_user(request)
            user, password = credentials()
            if (
                request.method == "POST"
                and login is not None
                and login[0].lower() == user.lower()
                and hmac.compare_digest(login[1].encode(), password.encode())
            ):
                return HttpResponse(
                    200,
                    [("Content-Type", "text/xml; charset=utf-8")],
                    _autodiscover_answer(scenario, request.body),
                )
            return _challenge("Negotiate", "NTLM", f'Basic realm="{host}"')
        return HttpResponse(
            404, [("Content-Type", "text/html")], b"<h1>404 - File or directory not found.</h1>"
        )

    return handle
