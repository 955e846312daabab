"""The WinRS side of the lab's WinRM server: cmd shells, their commands and the handler that answers them.

A WinRS client creates a shell, starts a command in it, streams stdin with Send and polls Receive for
output until the exit code arrives; Signal and Delete clean up. :class:`ShellService` keeps that state
per shell and per command, runs the lab's :data:`Handler` in a worker thread when stdin is closed (or
the first Receive comes), and keeps what real hosts do that bites clients: the cmd.exe 8,191-character
command-line limit, output encoded in the shell's code page and Receive answering the OperationTimeout
fault while the command is still running. A shell belongs to the user who created it. It knows nothing
of HTTP: :mod:`cas_conformance.lab.servers.winrm` hands it parsed WS-Man requests.
"""

from __future__ import annotations

import codecs
import collections
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cas_conformance.lab.servers import wsman
from cas_conformance.lab.servers.net import join_within
from cas_conformance.lab.servers.wsman import WsmanFault, WsmanRequest

CMD_LINE_LIMIT = 8191  # cmd.exe's maximum command-line length
TOO_LONG = "The command line is too long.\r\n"
_STREAM_CHUNK = 32 * 1024
_HANDLER_GRACE = 0.5


@dataclass(frozen=True)
class CommandRequest:
    """One command as the simulated host sees it, handed to the lab's handler."""

    host: str
    local_address: str
    username: str
    command: str
    arguments: tuple[str, ...]
    command_line: str
    stdin: bytes
    codepage: int
    environment: Mapping[str, str]
    #: the logon holds credentials another machine accepts (CredSSP, or Kerberos with delegation)
    delegated: bool = False


@dataclass(frozen=True)
class CommandResult:
    """What the command printed and returned; str output is encoded with the shell's code page."""

    stdout: str
    stderr: str | bytes
    exit_code: int


Handler = Callable[[CommandRequest], CommandResult]


@dataclass(frozen=True)
class RequestContext:
    """Who sent a WS-Man request and where it arrived."""

    host: str
    local_address: str
    client_ip: str
    user: str
    address: str  # the endpoint URL as the client addressed it
    delegated: bool = False  # the connection's logon can make a second hop


def codec_for(codepage: int) -> str:
    """The Python codec for a Windows code page (65001 is UTF-8); unknown pages raise LookupError."""
    name = "utf-8" if codepage == 65001 else f"cp{codepage}"
    return codecs.lookup(name).name


class _Command:
    def __init__(
        self, command_id: str, command: str, arguments: tuple[str, ...], context: RequestContext
    ) -> None:
        self.command_id = command_id
        self.command = command
        self.arguments = arguments
        self.context = context
        self.stdin = bytearray()
        self.started = False
        self.done = False
        self.output: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.sent: dict[str, int] = {"stdout": 0, "stderr": 0}
        self.exit_code = 0

    @property
    def command_line(self) -> str:
        return " ".join((self.command, *self.arguments))


class _Shell:
    def __init__(self, shell_id: str, owner: str, codepage: int, environment: Mapping[str, str]) -> None:
        self.shell_id = shell_id
        self.owner = owner
        self.codepage = codepage
        self.codec = codec_for(codepage)
        self.environment = MappingProxyType(dict(environment))
        self.commands: dict[str, _Command] = {}


class ShellService:
    """WinRS cmd shells and their commands; runs the handler in worker threads."""

    def __init__(self, handler: Handler, record_error: Callable[[BaseException], None]) -> None:
        self._handler = handler
        self._record_error = record_error
        self._cond = threading.Condition()
        self._shells: dict[str, _Shell] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self.stats: collections.Counter[str] = collections.Counter()
        #: per Host name: the longest command line received (characters) and the stdin bytes sent
        self.command_line_chars: collections.Counter[str] = collections.Counter()
        self.stdin_bytes: collections.Counter[str] = collections.Counter()
        self.actions: collections.Counter[str] = collections.Counter()

    @property
    def shell_count(self) -> int:
        with self._cond:
            return len(self._shells)

    def dispatch(self, request: WsmanRequest, ctx: RequestContext) -> bytes:
        if request.resource_uri.lower() != wsman.RESOURCE_CMD:
            raise WsmanFault(
                "a:DestinationUnreachable",
                f"The WS-Management service cannot process the request. The resource URI "
                f"{request.resource_uri} is not supported by the lab.",
            )
        with self._cond:
            self.actions[request.action.rpartition("/")[2]] += 1
        if request.action == wsman.ACTION_CREATE:
            return self._create(request, ctx)
        with self._cond:
            shell = self._shell(request, ctx)
            if request.action == wsman.ACTION_COMMAND:
                return self._command(shell, request, ctx)
            if request.action == wsman.ACTION_SEND:
                return self._send(shell, request)
            if request.action == wsman.ACTION_RECEIVE:
                return self._receive(shell, request)
            if request.action == wsman.ACTION_SIGNAL:
                command = self._find_command(shell, wsman.parse_signal(request)[0])
                del shell.commands[command.command_id]
                return wsman.signal_response(request.message_id)
            if request.action == wsman.ACTION_DELETE:
                del self._shells[shell.shell_id]
                return wsman.delete_response(request.message_id)
        raise WsmanFault(
            "a:ActionNotSupported", f"The action {request.action} is not supported by the service."
        )

    def _create(self, request: WsmanRequest, ctx: RequestContext) -> bytes:
        spec = wsman.parse_create(request)
        page_text = request.option("WINRS_CODEPAGE", "437")
        try:
            codepage = int(page_text)
            shell = _Shell(wsman.new_id(), ctx.user, codepage, spec.environment)
        except (ValueError, LookupError) as exc:
            raise wsman.invalid_parameter_fault(f"Unsupported code page {page_text!r}.") from exc
        with self._cond:
            self._shells[shell.shell_id] = shell
        return wsman.create_response(
            request.message_id, ctx.address, shell.shell_id, ctx.user, ctx.client_ip, spec
        )

    def _shell(self, request: WsmanRequest, ctx: RequestContext) -> _Shell:
        shell_id = request.selectors.get("ShellId", "")
        shell = self._shells.get(shell_id.upper())
        # A shell belongs to the user who created it; others get the same fault as for a missing one.
        if shell is None or shell.owner.lower() != ctx.user.lower():
            raise wsman.shell_not_found_fault(shell_id)
        return shell

    @staticmethod
    def _find_command(shell: _Shell, command_id: str) -> _Command:
        command = shell.commands.get(command_id.upper())
        if command is None:
            raise wsman.invalid_parameter_fault(f"The command {command_id} was not found in the shell.")
        return command

    def _command(self, shell: _Shell, request: WsmanRequest, ctx: RequestContext) -> bytes:
        name, arguments = wsman.parse_command(request)
        command = _Command(wsman.new_id(), name, arguments, ctx)
        shell.commands[command.command_id] = command
        self.stats[ctx.host] += 1
        self.command_line_chars[ctx.host] = max(self.command_line_chars[ctx.host], len(command.command_line))
        skip_cmd = request.option("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        if not skip_cmd and len(command.command_line) > CMD_LINE_LIMIT:
            # cmd.exe refuses before anything runs: the handler is never asked.
            command.started = command.done = True
            command.output["stderr"] = TOO_LONG.encode(shell.codec)
            command.exit_code = 1
        return wsman.command_response(request.message_id, command.command_id)

    def _send(self, shell: _Shell, request: WsmanRequest) -> bytes:
        for chunk in wsman.parse_send(request):
            command = self._find_command(shell, chunk.command_id)
            if command.started:
                raise wsman.invalid_parameter_fault("The stdin stream of the command is already closed.")
            command.stdin += chunk.data
            self.stdin_bytes[command.context.host] += len(chunk.data)
            if chunk.end:
                self._start(shell, command)
        return wsman.send_response(request.message_id)

    def _receive(self, shell: _Shell, request: WsmanRequest) -> bytes:
        command = self._find_command(shell, wsman.parse_receive(request))
        if not command.started:
            # No (closing) Send came: the process starts with whatever stdin it got, now at EOF.
            self._start(shell, command)
        self._cond.wait_for(lambda: command.done or self._stopping, timeout=request.operation_timeout)
        if not command.done:
            raise wsman.operation_timeout_fault()
        budget = max(1024, (request.max_envelope_size - 4096) * 3 // 4)
        chunks: list[tuple[str, bytes]] = []
        for name in ("stdout", "stderr"):
            data, offset = command.output[name], command.sent[name]
            while offset < len(data) and budget > 0:
                piece = data[offset : offset + min(budget, _STREAM_CHUNK)]
                chunks.append((name, piece))
                offset += len(piece)
                budget -= len(piece)
            command.sent[name] = offset
        finished = all(command.sent[name] == len(command.output[name]) for name in command.output)
        return wsman.receive_response(
            request.message_id, command.command_id, chunks, command.exit_code if finished else None
        )

    def _start(self, shell: _Shell, command: _Command) -> None:
        command.started = True
        ctx = command.context
        call = CommandRequest(
            host=ctx.host,
            local_address=ctx.local_address,
            username=shell.owner,
            command=command.command,
            arguments=command.arguments,
            command_line=command.command_line,
            stdin=bytes(command.stdin),
            codepage=shell.codepage,
            environment=shell.environment,
            delegated=ctx.delegated,
        )
        worker = threading.Thread(
            target=self._run, args=(shell.codec, command, call), name=f"winrm-cmd-{ctx.host}", daemon=True
        )
        self._workers = [w for w in self._workers if w.is_alive()]
        self._workers.append(worker)
        worker.start()

    def _run(self, codec: str, command: _Command, call: CommandRequest) -> None:
        try:
            result = self._handler(call)
            stdout = result.stdout.encode(codec, errors="replace")
            stderr = (
                result.stderr if isinstance(result.stderr, bytes) else result.stderr.encode(codec, "replace")
            )
            exit_code = int(result.exit_code)
        except Exception as exc:
            # A broken handler is a lab bug: the client sees a failed command, check() raises it.
            self._record_error(exc)
            stdout, stderr, exit_code = b"", f"lab handler failed: {type(exc).__name__}\r\n".encode(codec), 1
        with self._cond:
            command.output = {"stdout": stdout, "stderr": stderr}
            command.exit_code = exit_code
            command.done = True
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            workers = list(self._workers)
        # Handlers cannot be interrupted; give running ones a moment, then leave them (daemon threads).
        join_within(workers, _HANDLER_GRACE)
