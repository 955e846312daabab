"""A real MIT Kerberos KDC for the lab, unprivileged, on one loopback address.

Everything lives in a private temporary directory: ``kdc.conf`` (``KRB5_KDC_PROFILE``), a
``krb5.conf`` for clients (``KRB5_CONFIG``), the database (``kdb5_util create -s``, master key
from stdin), the stash, the KDC's log and a keytab holding the service principals' keys. Principals
are created with ``kadmin.local`` reading its commands (and the user's password, which so never
appears on a command line) from stdin. ``krb5kdc -n`` runs in the foreground on a port chosen free
at start; it is ready when its log says it commenced operation and its port accepts a TCP
connection, polled against a deadline, and a KDC that exits or never gets there is an error quoting
its log.

The client configuration turns off every DNS lookup MIT Kerberos would make (KDC and realm
discovery, host name canonicalisation, reverse lookups), so nothing leaves loopback: the lab's
names resolve only through the lab's own DNS server, which libkrb5 does not know about.

Not :mod:`k5test` (python-gssapi's test realm): it derives every port from a fixed base (61000),
so two labs on one machine collide, passes passwords on ``kadmin.local``'s command line, waits for
the KDC with an unbounded ``readline`` and starts a fixed set of principals; the few lines it would
save are written here with those points the other way round.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from cas_conformance.errors import LabError
from cas_conformance.lab.servers.net import ensure_loopback

APT_PACKAGES = "krb5-kdc krb5-admin-server krb5-user"
INSTALL_HINT = (
    f"install MIT Kerberos: apt-get install {APT_PACKAGES} libkrb5-dev (as root; `make test` does it) "
    "and pip install -e '.[kerberos]'"
)
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
_READY_TIMEOUT = 15.0
_COMMAND_TIMEOUT = 60.0
_STOP_TIMEOUT = 5.0
_LOG_TAIL = 2000
_KEYTAB_CHUNK = 16
_KEYTAB_VERSION = b"\x05\x02"


_RUNNING: weakref.WeakSet[Kdc] = weakref.WeakSet()


@atexit.register
def _stop_forgotten() -> None:
    """A KDC nobody stopped (an error path, a test that failed early) does not outlive Python."""
    for kdc in list(_RUNNING):
        kdc.stop()


class KdcUnavailable(LabError):
    """The MIT KDC programs are not installed."""


class KdcError(LabError):
    """The KDC could not be set up or started (the message quotes its log)."""


def find_program(name: str) -> str | None:
    """*name* on PATH or in the usual sbin directories (Debian puts the KDC tools in /usr/sbin)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def kdc_programs() -> dict[str, str]:
    """The paths of krb5kdc, kdb5_util and kadmin.local; KdcUnavailable naming what to install."""
    programs = {name: find_program(name) for name in ("krb5kdc", "kdb5_util", "kadmin.local")}
    missing = sorted(name for name, path in programs.items() if path is None)
    if missing:
        raise KdcUnavailable(f"MIT Kerberos KDC programs not found ({', '.join(missing)}): {INSTALL_HINT}")
    return {name: path for name, path in programs.items() if path is not None}


def realm_for(domain: str) -> str:
    """The Kerberos realm of an Active Directory DNS domain (its name in capitals)."""
    return domain.rstrip(".").upper()


def _free_port(address: str) -> int:
    """A port free for both TCP and UDP on *address* (the KDC listens on both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
                return port
    raise KdcError(f"no port free for both TCP and UDP on {address}")


def _accepts(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.5):
        return True
    return False


class Kdc:
    """An MIT KDC for *realm* on *address*, with *users* (principal name -> password) and *services*
    (principals such as ``HTTP/cas01.contoso.lab``, random keys, all in :attr:`keytab`).

    ``with Kdc(...) as kdc:`` starts and stops it. :attr:`krb5_conf` is the client configuration
    (realm, KDC address, ``.domain`` mappings for *domains*); :attr:`port` the bound port.
    """

    def __init__(
        self,
        realm: str,
        *,
        address: str = "127.0.0.1",
        users: Mapping[str, str] | None = None,
        services: Sequence[str] = (),
        domains: Sequence[str] = (),
        port: int = 0,
    ) -> None:
        ensure_loopback(address)
        if not realm or any(ch.isspace() or ch in "@/\\{}=" for ch in realm):
            raise LabError(f"not a Kerberos realm name: {realm!r}")
        self.realm = realm
        self.address = address
        self.port = port
        self._users = dict(users or {})
        self._services = list(dict.fromkeys(services))
        self._domains = [d.rstrip(".").lower() for d in domains] or [realm.lower()]
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        for name in [*self._users, *self._services]:
            if not name or any(ch.isspace() or ch in "@\\'\"" for ch in name):
                raise LabError(f"not a principal name (without realm): {name!r}")

    def __repr__(self) -> str:
        return f"Kdc({self.realm}, {self.address}:{self.port})"

    # --- where things are --------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        if self.workdir is None:
            raise LabError("the KDC is not started")
        return self.workdir / name

    @property
    def krb5_conf(self) -> Path:
        return self._path("krb5.conf")

    @property
    def keytab(self) -> Path:
        return self._path("lab.keytab")

    @property
    def log_path(self) -> Path:
        return self._path("kdc.log")

    @property
    def environ(self) -> dict[str, str]:
        """The variables a Kerberos program needs to use this realm (never KRB5CCNAME)."""
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self._path("kdc.conf"))}

    def principal(self, name: str) -> str:
        return f"{name}@{self.realm}"

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Kdc:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Kdc:
        if self.workdir is not None:
            raise LabError("the KDC is already started")
        programs = kdc_programs()
        self.workdir = Path(tempfile.mkdtemp(prefix="cas-lab-kdc-"))
        try:
            self._create_database(programs)
            # The lab's KDC address is its own (127.X.Y.9 of a random block): a port free there now
            # stays free for the KDC in practice. (krb5kdc binds with SO_REUSEADDR, so the port check
            # is ours: the readiness check below reads the KDC's own log, not just the port.)
            port = self.port or _free_port(self.address)
            self._write_configuration(port)
            self._start_kdc(programs["krb5kdc"], port)
            self.port = port
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the KDC (killed if it does not exit promptly) and remove its directory."""
        process, self._process = self._process, None
        _RUNNING.discard(self)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(_STOP_TIMEOUT)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def check(self) -> None:
        """Raise KdcError (with the log) when the KDC process has died."""
        if self._process is not None and self._process.poll() is not None:
            raise KdcError(f"the lab KDC exited with status {self._process.returncode}: {self._log_tail()}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # --- steps -------------------------------------------------------------------------------
    def _write_configuration(self, port: int) -> None:
        directory = self._path("")
        listen = f"{self.address}:{port}"
        kdc_conf = f"""[kdcdefaults]
    kdc_listen = {listen}
    kdc_tcp_listen = {listen}

[realms]
    {self.realm} = {{
        database_name = {directory / "principal"}
        key_stash_file = {directory / "stash"}
        acl_file = {directory / "kadm5.acl"}
        kdc_listen = {listen}
        kdc_tcp_listen = {listen}
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
    }}

[logging]
    kdc = FILE:{self._path("kdc.log")}
    admin_server = FILE:{self._path("kadmin.log")}
    default = FILE:{self._path("krb5lib.log")}
"""
        mappings = "".join(
            f"    .{domain} = {self.realm}\n    {domain} = {self.realm}\n" for domain in self._domains
        )
        krb5_conf = f"""[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    forwardable = true
    udp_preference_limit = 1

[realms]
    {self.realm} = {{
        kdc = {listen}
    }}

[domain_realm]
{mappings}"""
        self._path("kdc.conf").write_text(kdc_conf, encoding="utf-8")
        self._path("krb5.conf").write_text(krb5_conf, encoding="utf-8")
        self._path("kadm5.acl").write_text("", encoding="utf-8")

    def _run(self, argv: list[str], stdin: str, what: str) -> None:
        try:
            result = subprocess.run(
                argv,
                input=stdin.encode("utf-8"),
                capture_output=True,
                env=self._child_environ(),
                timeout=_COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise KdcError(f"{what} did not finish within {_COMMAND_TIMEOUT:g} s") from None
        output = (result.stdout + result.stderr).decode("utf-8", errors="replace")
        # kadmin.local exits 0 even when a command in its script failed: its messages tell.
        failed = result.returncode != 0 or any(
            marker in output
            for marker in ("while creating", "while adding", "while parsing", "while opening")
        )
        if failed:
            raise KdcError(f"{what} failed (status {result.returncode}): {output.strip()[-_LOG_TAIL:]}")

    def _child_environ(self) -> dict[str, str]:
        environ = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LC_ALL": "C"}
        environ.update(self.environ)
        return environ

    def _create_database(self, programs: Mapping[str, str]) -> None:
        self._write_configuration(self.port or 88)  # the database does not depend on the port
        master = os.urandom(24).hex()
        self._run(
            [programs["kdb5_util"], "-r", self.realm, "create", "-s", "-W"],
            f"{master}\n{master}\n",
            "kdb5_util create",
        )
        # One kadmin.local reads every command from stdin; a password prompt reads the next lines.
        lines: list[str] = []
        for user, password in self._users.items():
            if "\n" in password or "\r" in password:
                raise LabError("a lab password may not contain line breaks")
            lines += [f"addprinc -requires_preauth {self.principal(user)}", password, password]
        for service in self._services:
            lines.append(f"addprinc -randkey {self.principal(service)}")
        # ktadd slows down with every entry already in its keytab, so the keys go into small keytabs
        # that are joined after (the FILE format: a 2-byte version, then the entries).
        chunks = [self._services[i : i + _KEYTAB_CHUNK] for i in range(0, len(self._services), _KEYTAB_CHUNK)]
        for index, chunk in enumerate(chunks):
            services = " ".join(self.principal(s) for s in chunk)
            lines.append(f"ktadd -k {self._path(f'part{index}.keytab')} -norandkey {services}")
        if lines:
            self._run([programs["kadmin.local"], "-r", self.realm], "\n".join(lines) + "\n", "kadmin.local")
        if chunks:
            parts = [self._path(f"part{index}.keytab").read_bytes() for index in range(len(chunks))]
            if any(part[:2] != _KEYTAB_VERSION for part in parts):
                raise KdcError("kadmin.local wrote a keytab of an unknown format")
            fd = os.open(self._path("lab.keytab"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as keytab:
                keytab.write(_KEYTAB_VERSION + b"".join(part[2:] for part in parts))
            for index in range(len(chunks)):
                self._path(f"part{index}.keytab").unlink()

    def _start_kdc(self, program: str, port: int) -> None:
        log = self._path("kdc.stderr")
        _RUNNING.add(self)
        with open(log, "wb") as stderr:
            self._process = subprocess.Popen(
                [program, "-n", "-r", self.realm],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env=self._child_environ(),
            )
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise KdcError(f"the lab KDC exited at start with status {code}: {self._log_tail()}")
            # Its own log says it listens (a connect alone might reach another program on the port).
            if self._commenced() and _accepts(self.address, port):
                return
            if time.monotonic() > deadline:
                raise KdcError(
                    f"the lab KDC did not listen on {self.address}:{port} within "
                    f"{_READY_TIMEOUT:g} s: {self._log_tail()}"
                )
            self._process_wait(0.05)

    def _commenced(self) -> bool:
        with contextlib.suppress(OSError):
            return "commencing operation" in self.log_path.read_text(encoding="utf-8", errors="replace")
        return False

    def _process_wait(self, seconds: float) -> None:
        """Wait up to *seconds* for the KDC to exit (returns early when it does)."""
        assert self._process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(seconds)

    def _log_tail(self) -> str:
        if self.workdir is None:
            return "(no log)"
        text = ""
        for name in ("kdc.stderr", "kdc.log"):
            path = self.workdir / name
            with contextlib.suppress(OSError):
                text += path.read_text(encoding="utf-8", errors="replace")
        return text.strip()[-_LOG_TAIL:] or "(the KDC log is empty)"

    # --- a client, for tests and the lab's own checks ---------------------------------------------
    def kinit(self, user: str, password: str, ccache: Path) -> subprocess.CompletedProcess[bytes]:
        """Run the system's ``kinit`` for *user* into the FILE ccache *ccache*, password on stdin."""
        program = find_program("kinit")
        if program is None:
            raise KdcUnavailable(f"kinit not found: {INSTALL_HINT}")
        environ = {**self._child_environ(), "KRB5CCNAME": f"FILE:{ccache}"}
        return subprocess.run(
            [program, self.principal(user)],
            input=(password + "\n").encode("utf-8"),
            capture_output=True,
            env=environ,
            timeout=_COMMAND_TIMEOUT,
            check=False,
        )


def lab_kdc(domain: str, address: str, users: Mapping[str, str], hosts: Sequence[str]) -> Kdc:
    """The lab's KDC (not started): realm of *domain*, service principals of every name in *hosts*.

    Each host gets ``HTTP/<fqdn>`` (WinRM registers its listener under HTTP, and IIS's /PowerShell
    is HTTP too) and ``WSMAN/<fqdn>`` (what WinRM registers besides), as on a domain member.
    """
    names = [h.rstrip(".").lower() for h in hosts]
    services = [f"{kind}/{name}" for name in names for kind in ("HTTP", "WSMAN")]
    return Kdc(realm_for(domain), address=address, users=users, services=services, domains=[domain])
