"""WS-Management (MS-WSMV) SOAP messages for the lab's WinRM server: parse requests, build responses.

Only what a WinRS ``cmd`` shell needs is modelled: Create, Command, Send, Receive, Signal and Delete.
Responses are shaped like a Windows server's (same namespaces, element names and fault codes), because
pywinrm finds what it needs by tag suffix and attribute (``Name="ShellId"``, ``CommandId``, ``State``,
``RelatesTo``) and turns a fault into ``WSManFaultError`` or, for code 2150858793, a silent Receive retry.
XML is produced from string templates with escaping so that no process-global ElementTree namespace
registration is needed.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTION_CREATE = f"{NS_TRANSFER}/Create"
ACTION_DELETE = f"{NS_TRANSFER}/Delete"
ACTION_COMMAND = f"{NS_SHELL}/Command"
ACTION_SEND = f"{NS_SHELL}/Send"
ACTION_RECEIVE = f"{NS_SHELL}/Receive"
ACTION_SIGNAL = f"{NS_SHELL}/Signal"
STATE_DONE = f"{NS_SHELL}/CommandState/Done"
STATE_RUNNING = f"{NS_SHELL}/CommandState/Running"
SIGNAL_TERMINATE = f"{NS_SHELL}/signal/terminate"
SIGNAL_CTRL_C = f"{NS_SHELL}/signal/ctrl_c"
SIGNAL_CTRL_BREAK = f"{NS_SHELL}/signal/ctrl_break"
ANONYMOUS = f"{NS_ADDRESSING}/role/anonymous"

#: WSManFault codes a Windows server uses (pywinrm retries Receive on the first one).
CODE_OPERATION_TIMEOUT = 2150858793
CODE_SHELL_NOT_FOUND = 2150858843
CODE_INVALID_PARAMETER = 87

DEFAULT_OPERATION_TIMEOUT = 60.0  # seconds: WinRM's MaxTimeoutms default
DEFAULT_MAX_ENVELOPE = 153600  # bytes: WinRM 2.0's MaxEnvelopeSizekb (150) default

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?$")
_ENVELOPE_OPEN = (
    f'<s:Envelope xml:lang="en-US" xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="{NS_TRANSFER}"'
    f' xmlns:w="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
)


class WsmanFault(Exception):
    """A request the WS-Management service refuses; becomes a SOAP fault with HTTP 500.

    *reason* is client-visible text; it must never hold secrets.
    """

    def __init__(
        self,
        subcode: str,
        reason: str,
        *,
        code: str = "s:Sender",
        wsman_code: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.code = code
        self.wsman_code = wsman_code


def operation_timeout_fault() -> WsmanFault:
    """The fault a Receive gets when no output arrived within the request's OperationTimeout."""
    return WsmanFault(
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in "
        "OperationTimeout.  ",
        code="s:Receiver",
        wsman_code=CODE_OPERATION_TIMEOUT,
    )


def shell_not_found_fault(shell_id: str) -> WsmanFault:
    return WsmanFault(
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was "
        "not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no "
        "longer exists on the server. Provide the correct ShellId or create a new shell and retry the "
        "operation. ",
        wsman_code=CODE_SHELL_NOT_FOUND,
    )


def invalid_parameter_fault(detail: str = "") -> WsmanFault:
    reason = "The parameter is incorrect. " + (f"{detail} " if detail else "")
    return WsmanFault("w:InvalidParameter", reason, wsman_code=CODE_INVALID_PARAMETER)


@dataclass(frozen=True)
class WsmanRequest:
    """The parts of a WS-Management request envelope the lab acts on."""

    action: str
    message_id: str
    resource_uri: str
    selectors: Mapping[str, str]
    options: Mapping[str, str]
    operation_timeout: float
    max_envelope_size: int
    body: ET.Element = field(repr=False)

    def option(self, name: str, default: str = "") -> str:
        return self.options.get(name.upper(), default)


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def parse_duration(text: str) -> float:
    """Seconds in an xs:duration such as ``PT20S`` or ``PT1M30.500S`` (days/hours/minutes/seconds)."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise invalid_parameter_fault(f"Invalid duration {text.strip()!r}.")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def parse_request(data: bytes) -> WsmanRequest:
    """Parse a SOAP 1.2 WS-Management envelope; a malformed one raises WsmanFault."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise WsmanFault(
            "w:SchemaValidationError", f"The SOAP XML in the message is not valid: {exc}"
        ) from exc
    header = root.find(_q(NS_SOAP, "Header"))
    body = root.find(_q(NS_SOAP, "Body"))
    if root.tag != _q(NS_SOAP, "Envelope") or header is None or body is None:
        raise WsmanFault(
            "w:SchemaValidationError", "The message is not a SOAP 1.2 envelope with Header and Body."
        )

    def text(namespace: str, tag: str) -> str:
        node = header.find(_q(namespace, tag))
        return (node.text or "").strip() if node is not None else ""

    action = text(NS_ADDRESSING, "Action")
    if not action:
        raise WsmanFault("a:MessageInformationHeaderRequired", "The message has no wsa:Action header.")
    selectors = {
        node.get("Name", ""): (node.text or "").strip()
        for node in header.iterfind(f"{_q(NS_WSMAN, 'SelectorSet')}/{_q(NS_WSMAN, 'Selector')}")
    }
    options = {
        node.get("Name", "").upper(): (node.text or "").strip()
        for node in header.iterfind(f"{_q(NS_WSMAN, 'OptionSet')}/{_q(NS_WSMAN, 'Option')}")
    }
    timeout_text = text(NS_WSMAN, "OperationTimeout")
    envelope_text = text(NS_WSMAN, "MaxEnvelopeSize")
    try:
        max_envelope = int(envelope_text) if envelope_text else DEFAULT_MAX_ENVELOPE
    except ValueError as exc:
        raise invalid_parameter_fault(f"Invalid MaxEnvelopeSize {envelope_text!r}.") from exc
    return WsmanRequest(
        action=action,
        message_id=text(NS_ADDRESSING, "MessageID"),
        resource_uri=text(NS_WSMAN, "ResourceURI"),
        selectors=selectors,
        options=options,
        operation_timeout=parse_duration(timeout_text) if timeout_text else DEFAULT_OPERATION_TIMEOUT,
        max_envelope_size=max(max_envelope, 8192),
        body=body,
    )


@dataclass(frozen=True)
class ShellSpec:
    """What a Create asks for: environment variables and the streams it wants."""

    environment: Mapping[str, str]
    input_streams: str
    output_streams: str


def parse_create(request: WsmanRequest) -> ShellSpec:
    shell = request.body.find(_q(NS_SHELL, "Shell"))
    if shell is None:
        raise invalid_parameter_fault("The Create body has no rsp:Shell element.")
    environment = {
        node.get("Name", ""): node.text or ""
        for node in shell.iterfind(f"{_q(NS_SHELL, 'Environment')}/{_q(NS_SHELL, 'Variable')}")
    }
    return ShellSpec(
        environment=environment,
        input_streams=(shell.findtext(_q(NS_SHELL, "InputStreams")) or "stdin").strip(),
        output_streams=(shell.findtext(_q(NS_SHELL, "OutputStreams")) or "stdout stderr").strip(),
    )


def parse_command(request: WsmanRequest) -> tuple[str, tuple[str, ...]]:
    """The rsp:Command text and each rsp:Arguments element's text (pywinrm sends one, space-joined)."""
    line = request.body.find(_q(NS_SHELL, "CommandLine"))
    if line is None:
        raise invalid_parameter_fault("The Command body has no rsp:CommandLine element.")
    command = (line.findtext(_q(NS_SHELL, "Command")) or "").strip()
    arguments = tuple(node.text or "" for node in line.iterfind(_q(NS_SHELL, "Arguments")))
    return command, arguments


@dataclass(frozen=True)
class StdinChunk:
    command_id: str
    data: bytes
    end: bool


def parse_send(request: WsmanRequest) -> list[StdinChunk]:
    send = request.body.find(_q(NS_SHELL, "Send"))
    if send is None:
        raise invalid_parameter_fault("The Send body has no rsp:Send element.")
    chunks = []
    for stream in send.iterfind(_q(NS_SHELL, "Stream")):
        if stream.get("Name", "stdin") != "stdin":
            raise invalid_parameter_fault(f"Unknown input stream {stream.get('Name')!r}.")
        try:
            data = base64.b64decode((stream.text or "").strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_parameter_fault("The stdin stream is not valid base64.") from exc
        end = stream.get("End", "false").strip().lower() in ("true", "1")
        chunks.append(StdinChunk(stream.get("CommandId", ""), data, end))
    return chunks


def parse_receive(request: WsmanRequest) -> str:
    """The CommandId a Receive asks output for ("" when it names none)."""
    desired = request.body.find(f"{_q(NS_SHELL, 'Receive')}/{_q(NS_SHELL, 'DesiredStream')}")
    if desired is None:
        raise invalid_parameter_fault("The Receive body has no rsp:DesiredStream element.")
    return desired.get("CommandId", "")


def parse_signal(request: WsmanRequest) -> tuple[str, str]:
    """(CommandId, signal code URI) of a Signal request."""
    signal = request.body.find(_q(NS_SHELL, "Signal"))
    if signal is None:
        raise invalid_parameter_fault("The Signal body has no rsp:Signal element.")
    return signal.get("CommandId", ""), (signal.findtext(_q(NS_SHELL, "Code")) or "").strip()


def new_id() -> str:
    """A ShellId/CommandId the way Windows writes them: an upper-case GUID."""
    return str(uuid.uuid4()).upper()


def envelope(action: str, relates_to: str, body: str) -> bytes:
    """A complete response envelope (UTF-8) for *action*, answering message *relates_to*."""
    return (
        f"{_ENVELOPE_OPEN}<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{new_id()}</a:MessageID><a:To>{ANONYMOUS}</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def create_response(
    relates_to: str, address: str, shell_id: str, owner: str, client_ip: str, spec: ShellSpec
) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{RESOURCE_CMD}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        f"</x:ResourceCreated>"
        f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:ResourceUri>{RESOURCE_CMD}</rsp:ResourceUri>"
        f"<rsp:Owner>{escape(owner)}</rsp:Owner><rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP>"
        f"<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
        f"<rsp:InputStreams>{escape(spec.input_streams)}</rsp:InputStreams>"
        f"<rsp:OutputStreams>{escape(spec.output_streams)}</rsp:OutputStreams>"
        f"<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
        f"</rsp:Shell>"
    )
    return envelope(f"{NS_TRANSFER}/CreateResponse", relates_to, body)


def command_response(relates_to: str, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
    return envelope(f"{NS_SHELL}/CommandResponse", relates_to, body)


def send_response(relates_to: str) -> bytes:
    return envelope(f"{NS_SHELL}/SendResponse", relates_to, "<rsp:SendResponse/>")


def signal_response(relates_to: str) -> bytes:
    return envelope(f"{NS_SHELL}/SignalResponse", relates_to, "<rsp:SignalResponse/>")


def delete_response(relates_to: str) -> bytes:
    return envelope(f"{NS_TRANSFER}/DeleteResponse", relates_to, "")


def receive_response(
    relates_to: str,
    command_id: str,
    chunks: Iterable[tuple[str, bytes]],
    exit_code: int | None,
) -> bytes:
    """Output *chunks* (stream name, bytes); *exit_code* None means the command is still running."""
    parts = ["<rsp:ReceiveResponse>"]
    cid = quoteattr(command_id)
    for name, data in chunks:
        parts.append(
            f"<rsp:Stream Name={quoteattr(name)} CommandId={cid}>{base64.b64encode(data).decode('ascii')}"
            "</rsp:Stream>"
        )
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{STATE_RUNNING}"/>')
    else:
        parts.append(f'<rsp:Stream Name="stdout" CommandId={cid} End="true"></rsp:Stream>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId={cid} End="true"></rsp:Stream>')
        parts.append(
            f'<rsp:CommandState CommandId={cid} State="{STATE_DONE}"><rsp:ExitCode>{exit_code}</rsp:ExitCode>'
            "</rsp:CommandState>"
        )
    parts.append("</rsp:ReceiveResponse>")
    return envelope(f"{NS_SHELL}/ReceiveResponse", relates_to, "".join(parts))


def fault_response(fault: WsmanFault, relates_to: str, machine: str) -> bytes:
    """The SOAP fault envelope a Windows server returns (with HTTP 500) for *fault*."""
    detail = ""
    if fault.wsman_code is not None:
        detail = (
            f'<s:Detail><f:WSManFault xmlns:f="{NS_FAULT}" Code="{fault.wsman_code}"'
            f" Machine={quoteattr(machine)}>"
            f"<f:Message>{escape(fault.reason)}</f:Message></f:WSManFault></s:Detail>"
        )
    body = (
        f"<s:Fault><s:Code><s:Value>{escape(fault.code)}</s:Value><s:Subcode><s:Value>{escape(fault.subcode)}"
        f'</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text>'
        f"</s:Reason>{detail}</s:Fault>"
    )
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)
