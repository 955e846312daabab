"""PSRP over WS-Management for the lab's Exchange remote PowerShell endpoint, on psrpcore.

A runspace pool is a WinRS shell whose resource URI names the session configuration
(``http://schemas.microsoft.com/powershell/Microsoft.Exchange``); its PSRP messages ride in the
shell's requests, base64 fragments (MS-PSRP 3.1.5.3, psrpcore ``docs/transport.md``): Create
carries ``creationXml`` (SESSION_CAPABILITY, INIT_RUNSPACEPOOL), Command carries the first fragment of
CREATE_PIPELINE and its CommandId is the pipeline id, Send carries the rest (``stdin`` / ``pr``
streams), Receive returns ``stdout`` streams (for the pool without a CommandId, for a pipeline with
one), Signal terminate closes a pipeline, Delete closes the pool. psrpcore keeps the protocol state
(fragmenting, capability exchange, pipeline states, error records); this module only moves bytes and
runs each pipeline through :class:`~cas_conformance.lab.exchange.cmdlets.ExchangeRunspace` as soon as
its CREATE_PIPELINE is complete.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import psrpcore
from psrpcore import PSRPPayload, StreamType
from psrpcore.types import PSInvocationState

from cas_conformance.lab.exchange.cmdlets import CmdletFailure, ExchangeRunspace, Invocation
from cas_conformance.lab.servers import wsman
from cas_conformance.lab.servers.wsman import NS_SHELL, WsmanFault, WsmanRequest

NS_POWERSHELL = "http://schemas.microsoft.com/powershell"
EXCHANGE_RESOURCE = f"{NS_POWERSHELL}/Microsoft.Exchange"
MAX_RECEIVE_BYTES = 96 * 1024  # raw PSRP bytes per Receive: base64 stays inside the 150 KB envelope


@dataclass
class _Pool:
    host: str
    owner: str
    runspace: psrpcore.ServerRunspacePool
    lock: threading.Condition = field(default_factory=lambda: threading.Condition(threading.Lock()))
    queued: dict[uuid.UUID | None, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    finished: set[uuid.UUID] = field(default_factory=set)


def _q(tag: str, namespace: str = NS_SHELL) -> str:
    return f"{{{namespace}}}{tag}"


def _fragments(text: str | None) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise wsman.invalid_parameter_fault("The PSRP data is not valid base64.") from exc


class PsrpShells:
    """Every open runspace pool of one endpoint (one per lab), keyed by ShellId."""

    def __init__(self, runspace: ExchangeRunspace, stopping: threading.Event) -> None:
        self.runspace = runspace
        self._stopping = stopping
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        self.peak_pipelines = 0  # most pipelines one pool had open at once (clients bound their own)

    @property
    def pool_count(self) -> int:
        with self._lock:
            return len(self._pools)

    def dispatch(self, request: WsmanRequest, host: str, user: str, address: str) -> bytes:
        if request.resource_uri.rstrip("/").lower() != EXCHANGE_RESOURCE.lower():
            raise WsmanFault(
                "w:InvalidResourceURI",
                f"The WS-Management service cannot process the request. The resource URI "
                f"({request.resource_uri}) was not found: this endpoint serves {EXCHANGE_RESOURCE} only.",
            )
        if request.action == wsman.ACTION_CREATE:
            return self._create(request, host, user, address)
        shell_id = request.selectors.get("ShellId", "")
        with self._lock:
            pool = self._pools.get(shell_id)
        if pool is None or pool.host != host:
            raise wsman.shell_not_found_fault(shell_id)
        if request.action == wsman.ACTION_DELETE:
            with self._lock:
                self._pools.pop(shell_id, None)
            return wsman.delete_response(request.message_id)
        if request.action == wsman.ACTION_COMMAND:
            return self._command(request, pool)
        if request.action == wsman.ACTION_SEND:
            return self._send(request, pool)
        if request.action == wsman.ACTION_RECEIVE:
            return self._receive(request, pool)
        if request.action == wsman.ACTION_SIGNAL:
            return self._signal(request, pool)
        raise WsmanFault("a:ActionNotSupported", f"The action {request.action} is not supported.")

    # --- requests --------------------------------------------------------------------------
    def _create(self, request: WsmanRequest, host: str, user: str, address: str) -> bytes:
        shell = request.body.find(_q("Shell"))
        creation = shell.find(_q("creationXml", NS_POWERSHELL)) if shell is not None else None
        if shell is None or creation is None:
            raise wsman.invalid_parameter_fault("A PowerShell shell needs a creationXml element.")
        shell_id = (shell.get("ShellId") or wsman.new_id()).upper()
        pool = _Pool(host, user, psrpcore.ServerRunspacePool())
        with pool.lock:
            self._feed(pool, _fragments(creation.text), StreamType.default, None)
        with self._lock:
            self._pools[shell_id] = pool
        return _create_response(request, shell_id, user, address)

    def _command(self, request: WsmanRequest, pool: _Pool) -> bytes:
        line = request.body.find(_q("CommandLine"))
        if line is None:
            raise wsman.invalid_parameter_fault("The Command body has no rsp:CommandLine element.")
        command_id = (line.get("CommandId") or wsman.new_id()).upper()
        data = b"".join(_fragments(node.text) for node in line.iterfind(_q("Arguments")))
        with pool.lock:
            pipeline_id = uuid.UUID(command_id)
            psrpcore.ServerPipeline(pool.runspace, pipeline_id)
            self.peak_pipelines = max(self.peak_pipelines, len(pool.runspace.pipeline_table))
            pool.finished.discard(pipeline_id)
            self._feed(pool, data, StreamType.default, pipeline_id)
        body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
        return wsman.envelope(f"{NS_SHELL}/CommandResponse", request.message_id, body)

    def _send(self, request: WsmanRequest, pool: _Pool) -> bytes:
        send = request.body.find(_q("Send"))
        if send is None:
            raise wsman.invalid_parameter_fault("The Send body has no rsp:Send element.")
        with pool.lock:
            for stream in send.iterfind(_q("Stream")):
                target = stream.get("CommandId")
                kind = StreamType.prompt_response if stream.get("Name") == "pr" else StreamType.default
                self._feed(pool, _fragments(stream.text), kind, uuid.UUID(target) if target else None)
        return wsman.send_response(request.message_id)

    def _receive(self, request: WsmanRequest, pool: _Pool) -> bytes:
        command_id = wsman.parse_receive(request)
        target = uuid.UUID(command_id) if command_id else None
        deadline = time.monotonic() + min(request.operation_timeout, 60.0)
        with pool.lock:
            while not pool.queued.get(target) and not (target is not None and target in pool.finished):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    raise wsman.operation_timeout_fault()
                pool.lock.wait(min(remaining, 0.5))  # re-checks the lab's stop flag twice a second
            chunks: list[bytes] = []
            size = 0
            queue = pool.queued.get(target, [])
            while queue and (not chunks or size + len(queue[0]) <= MAX_RECEIVE_BYTES):
                chunk = queue.pop(0)
                chunks.append(chunk)
                size += len(chunk)
            done = target is not None and target in pool.finished and not queue
        return _receive_response(request.message_id, command_id, chunks, done)

    def _signal(self, request: WsmanRequest, pool: _Pool) -> bytes:
        command_id, code = wsman.parse_signal(request)
        with pool.lock:
            pipeline = pool.runspace.pipeline_table.get(uuid.UUID(command_id)) if command_id else None
            if pipeline is not None and code.lower() == wsman.SIGNAL_TERMINATE.lower():
                pipeline.close()  # pipelines here always ran to completion before a client can signal
                pool.queued.pop(pipeline.pipeline_id, None)
                pool.finished.discard(pipeline.pipeline_id)
        return wsman.signal_response(request.message_id)

    # --- PSRP ------------------------------------------------------------------------------
    def _feed(self, pool: _Pool, data: bytes, kind: StreamType, pipeline_id: uuid.UUID | None) -> None:
        """Give *data* to psrpcore, act on every complete message, queue what it wants sent."""
        runspace = pool.runspace
        try:
            runspace.receive_data(PSRPPayload(data, kind, pipeline_id))
            while (event := runspace.next_event()) is not None:
                if isinstance(event, psrpcore.CreatePipelineEvent):
                    self._run(pool, event)
        except psrpcore.PSRPCoreError as exc:
            raise wsman.invalid_parameter_fault(f"PSRP error: {exc}") from exc
        while (payload := runspace.data_to_send()) is not None:
            pool.queued[payload.pipeline_id].append(payload.data)
        pool.lock.notify_all()

    def _run(self, pool: _Pool, event: psrpcore.CreatePipelineEvent) -> None:
        pipeline = pool.runspace.pipeline_table[event.pipeline_id]
        commands = [
            Invocation(str(c.command_text), bool(c.is_script), tuple(c.parameters))
            for c in event.pipeline.commands
        ]
        pipeline.start()
        try:
            outcome = self.runspace.run(pool.host, commands)
        except CmdletFailure as failure:
            # psrpcore has no public "fail": the state message with the error record is what
            # PowerShell sends for a terminating error
            pipeline._change_state(PSInvocationState.Failed, failure.record)
        else:
            for item in outcome.output:
                pipeline.write_output(item)
            for record in outcome.errors:
                pipeline.prepare_message(record, psrpcore.types.PSRPMessageType.ErrorRecord)
            pipeline.complete()
        pool.finished.add(event.pipeline_id)


def _create_response(request: WsmanRequest, shell_id: str, owner: str, address: str) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{EXCHANGE_RESOURCE}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        f"</x:ResourceCreated><rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId>"
        f"<rsp:ResourceUri>{EXCHANGE_RESOURCE}</rsp:ResourceUri><rsp:Owner>{escape(owner)}</rsp:Owner>"
        "<rsp:IdleTimeOut>PT900.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams>"
        "<rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>"
    )
    return wsman.envelope(f"{wsman.NS_TRANSFER}/CreateResponse", request.message_id, body)


def _receive_response(relates_to: str, command_id: str, chunks: list[bytes], done: bool) -> bytes:
    cid = f" CommandId={quoteattr(command_id)}" if command_id else ""
    parts = ["<rsp:ReceiveResponse>"]
    for chunk in chunks:
        parts.append(f'<rsp:Stream Name="stdout"{cid}>{base64.b64encode(chunk).decode("ascii")}</rsp:Stream>')
    if command_id:
        state = wsman.STATE_DONE if done else wsman.STATE_RUNNING
        parts.append(f'<rsp:CommandState{cid} State="{state}"/>')
    parts.append("</rsp:ReceiveResponse>")
    return wsman.envelope(f"{NS_SHELL}/ReceiveResponse", relates_to, "".join(parts))
