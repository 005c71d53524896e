"""Credentials: metadata readable, secrets write-only (SecretStr in, never out)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, StringConstraints

from app.models.enums import CredentialKind
from app.schemas.common import NO_NUL, Description, Name, ORMModel

Login = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Password = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
Pem = Annotated[SecretStr, Field(min_length=1, max_length=32768)]


class SshPasswordSecret(BaseModel):
    model_config = {"extra": "forbid"}
    password: Password


class SshKeySecret(BaseModel):
    model_config = {"extra": "forbid"}
    private_key: Pem = Field(description="OpenSSH or PEM private key: RSA, ECDSA or Ed25519.")
    passphrase: Password | None = None


class WinrmPasswordSecret(BaseModel):
    model_config = {"extra": "forbid"}
    password: Password


class WinrmCertificateSecret(BaseModel):
    model_config = {"extra": "forbid"}
    certificate: Pem = Field(description="The client certificate, PEM.")
    private_key: Pem = Field(description="Its private key, PEM, not encrypted.")


SECRET_SCHEMAS: dict[CredentialKind, type[BaseModel]] = {
    CredentialKind.ssh_password: SshPasswordSecret,
    CredentialKind.ssh_key: SshKeySecret,
    CredentialKind.winrm_password: WinrmPasswordSecret,
    CredentialKind.winrm_certificate: WinrmCertificateSecret,
}


SecretFields = dict[str, SecretStr | None]


class CredentialCreate(BaseModel):
    name: Name
    kind: CredentialKind
    username: Login
    description: Description | None = None
    secret: SecretFields = Field(
        description="By kind: `ssh-password` {password}; `ssh-key` {private_key, passphrase?} "
        "(OpenSSH or PEM; RSA, ECDSA or Ed25519); `winrm-password` {password}; "
        "`winrm-certificate` {certificate, private_key} (PEM). Checked now, never shown again.",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "deploy-key",
                    "kind": "ssh-key",
                    "username": "deploy",
                    "secret": {"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n…"},
                },
                {
                    "name": "web-password",
                    "kind": "ssh-password",
                    "username": "ops",
                    "secret": {"password": "…"},
                },
            ]
        }
    }


class CredentialUpdate(BaseModel):
    name: Name | None = None
    username: Login | None = None
    description: Description | None = None
    secret: SecretFields | None = Field(
        None,
        description="Replaces every secret field at once, validated for the credential's kind.",
    )


class CredentialOut(ORMModel):
    id: uuid.UUID
    name: str
    kind: CredentialKind
    username: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    system_count: int = 0
    public_key_fingerprint: str | None = Field(
        None, description="For ssh-key credentials: the SHA256 fingerprint of the public key."
    )
