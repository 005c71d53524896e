"""Private keys for SSH: parsed once (parsing an RSA key costs a tenth of a second of key
validation; doing it per connection makes fan-out several times slower) and checked at the
moment a credential is saved, so a bad key or passphrase is a 400 then, not a failure later."""

from __future__ import annotations

import hashlib
import io

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


class KeyProblem(ValueError):
    """Why a private key cannot be used; safe to show (it never contains the key)."""


_CLASSES: tuple[tuple[type, type[paramiko.PKey]], ...] = (
    (rsa.RSAPrivateKey, paramiko.RSAKey),
    (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
)


def load_private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    data = text.strip().encode() + b"\n"
    password = passphrase.encode() if passphrase else None
    try:
        loaded = _parse(data, password)
    except TypeError as exc:
        # cryptography says TypeError for a passphrase missing, or given to a plain key.
        if password is None:
            raise KeyProblem("the key is encrypted: give its passphrase") from exc
        raise KeyProblem("the key is not encrypted: leave the passphrase out") from exc
    except ValueError as exc:
        if password is not None and _is_encrypted(data):
            raise KeyProblem("the passphrase does not open this key") from exc
        raise KeyProblem("not a private key in OpenSSH or PEM format") from exc
    except Exception as exc:  # unsupported ciphers and key types surface as various errors
        raise KeyProblem("not a private key this server can use") from exc
    for crypto_class, pkey_class in _CLASSES:
        if isinstance(loaded, crypto_class):
            # Re-encoded in OpenSSH's own format (in memory only), which paramiko reads for
            # every key type, whatever the PEM flavour given (PKCS#1, PKCS#8, SEC1).
            openssh = loaded.private_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ).decode()
            try:
                return pkey_class.from_private_key(io.StringIO(openssh))
            except (paramiko.SSHException, ValueError) as exc:
                raise KeyProblem("not a private key this server can use") from exc
    raise KeyProblem("unsupported key type: use RSA, ECDSA or Ed25519")


def _parse(data: bytes, password: bytes | None) -> object:
    try:
        return serialization.load_ssh_private_key(data, password=password)
    except ValueError:
        if b"OPENSSH PRIVATE KEY" in data:
            raise
        return serialization.load_pem_private_key(data, password=password)


def _is_encrypted(data: bytes) -> bool:
    """Whether the key needs a passphrase (so a failure with one means a wrong one)."""
    try:
        _parse(data, None)
    except TypeError:
        return True
    except Exception:
        return False
    return False


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a (public or private) key: `SHA256:base64`."""
    import base64

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(text: str) -> tuple[str, str]:
    """A host's public key as `<type> <base64>` (an authorized_keys or known_hosts line is
    fine: a leading host name or trailing comment is dropped), and its fingerprint."""
    import base64
    import binascii

    parts = text.strip().split()
    for index in range(len(parts) - 1):
        key_type, encoded = parts[index], parts[index + 1]
        if not key_type.startswith(("ssh-", "ecdsa-")):
            continue
        try:
            blob = base64.b64decode(encoded, validate=True)
            key = paramiko.PKey.from_type_string(key_type, blob)
        except (binascii.Error, ValueError, paramiko.SSHException) as exc:
            raise KeyProblem("not a valid public key") from exc
        return f"{key.get_name()} {key.get_base64()}", fingerprint(key)
    raise KeyProblem("expected a public key as '<type> <base64>', e.g. 'ssh-ed25519 AAAA…'")
