"""Ansible Vault (format 1.1 and 1.2, AES256): decrypt and encrypt values, read the password file.

The format is public (docs.ansible.com, "Ansible Vault" / "Vault payload format"): a header line
``$ANSIBLE_VAULT;1.1;AES256`` (1.2 adds ``;label``), then the hex of three hex lines: the salt, the
HMAC-SHA256 of the ciphertext and the ciphertext. Keys come from PBKDF2-HMAC-SHA256 of the
password and salt, 10000 iterations, 80 bytes: 32 for AES-256-CTR, 32 for the HMAC, 16 for the
counter's initial value. The plaintext is PKCS#7-padded to the 128-bit AES block.
"""

from __future__ import annotations

import binascii
import hmac
import os
import subprocess
from hashlib import sha256

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from cas_conformance.inventory.child_environment import child_environment

HEADER = "$ANSIBLE_VAULT"
PASSWORD_FILE_ENV = "ANSIBLE_VAULT_PASSWORD_FILE"
_ITERATIONS = 10000
_SCRIPT_TIMEOUT = 30.0


class VaultFormatError(ValueError):
    """Not a Vault text this reader understands (bad header, bad hex, unknown cipher)."""


class VaultPasswordError(ValueError):
    """The Vault text is well formed but the password does not open it (the HMAC differs)."""


def is_vault(text: str) -> bool:
    return text.lstrip().startswith(HEADER)


def _keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=_ITERATIONS)
    derived = kdf.derive(password)
    return derived[:32], derived[32:64], derived[64:]


def _unhex(data: str | bytes) -> bytes:
    try:
        return binascii.unhexlify(data)
    except (binascii.Error, ValueError):
        raise VaultFormatError("the Vault payload is not hexadecimal") from None


def decrypt(vaulttext: str, password: bytes) -> str:
    """The plaintext of *vaulttext*; VaultPasswordError for a wrong password."""
    lines = vaulttext.strip().splitlines()
    header = lines[0].strip().split(";") if lines else []
    if len(header) < 3 or header[0] != HEADER or header[1] not in ("1.1", "1.2"):
        raise VaultFormatError("expected a '$ANSIBLE_VAULT;1.1;AES256' header")
    if header[2].strip() != "AES256":
        raise VaultFormatError(f"unsupported Vault cipher {header[2].strip()!r}: only AES256")
    payload = _unhex("".join(line.strip() for line in lines[1:])).split(b"\n")
    if len(payload) != 3:
        raise VaultFormatError("the Vault payload does not hold salt, HMAC and ciphertext")
    salt, mac, ciphertext = (_unhex(part) for part in payload)
    aes_key, hmac_key, counter = _keys(password, salt)
    if not hmac.compare_digest(hmac.new(hmac_key, ciphertext, sha256).digest(), mac):
        raise VaultPasswordError("the Vault password does not decrypt this value")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(counter)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise VaultFormatError("the decrypted Vault value is not padded UTF-8 text") from None


def encrypt(plaintext: str, password: bytes, *, salt: bytes | None = None) -> str:
    """*plaintext* as Vault 1.1 text (80-column lines, as ansible-vault writes it)."""
    salt = os.urandom(32) if salt is None else salt
    aes_key, hmac_key, counter = _keys(password, salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CTR(counter)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = hmac.new(hmac_key, ciphertext, sha256).digest()
    body = b"\n".join(binascii.hexlify(part) for part in (salt, mac, ciphertext))
    hexed = binascii.hexlify(body).decode("ascii")
    return "\n".join([f"{HEADER};1.1;AES256", *(hexed[i : i + 80] for i in range(0, len(hexed), 80))])


def read_password_file(path: str) -> bytes:
    """The password in *path* (surrounding whitespace stripped), or the output of *path* when it
    is executable (as Ansible runs a password script). OSError/ValueError say why not."""
    if os.access(path, os.X_OK) and os.path.isfile(path):
        try:
            done = subprocess.run(
                [os.path.abspath(path)],
                capture_output=True,
                timeout=_SCRIPT_TIMEOUT,
                env=child_environment(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ValueError(f"the Vault password script did not finish in {_SCRIPT_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            raise ValueError(f"the Vault password script exited with status {done.returncode}")
        data = done.stdout
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    password = data.strip()
    if not password:
        raise ValueError("the Vault password file is empty")
    return password
