"""Parley's NATS trust chain (operator mode), generated once per deployment.

Accounts: SYS (the system account), PARLEY (the services and every stream), AUTH (the auth
callout: a plain user/password connection is given the `default_sentinel` bearer user of AUTH,
whose account sends it to the callout), and one account per integrator, created at run time
(`tenants.py`). The keys:

- operator identity key: signs only the operator JWT; kept offline (not in authority.json);
- operator signing key: signs account JWTs (account-svc pushes integrators' accounts);
- PARLEY signing key: signs service users (creds files) and the operator credential's user;
- AUTH account key: signs the callout's answers;
- tenant secret: every integrator account key, and its signing key per API key, derive from
  it (HMAC), so nothing per account needs storing and a new key evicts the old connections.

`write_setup` writes the server include file, one creds file per service and the secrets
account-svc needs (`authority.json`), all mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley_runtime.natsauth import jwt
from parley_runtime.natsauth.jwt import ACCOUNT, OPERATOR, USER, Key
from parley_runtime.natsauth.permissions import (
    SERVICES,
    admin_permissions,
    parley_exports,
    service_permissions,
)

CALLOUT_USER = "account-svc-callout"
SYSTEM_USER = "account-svc-system"
_NO_PERMISSIONS = {"pub": {"deny": [">"]}, "sub": {"deny": [">"]}}


def password_digest(password: str) -> str:
    """What is stored for the operator password: hex SHA-256 (it is 32 random bytes)."""
    return hashlib.sha256(password.encode()).hexdigest()


@dataclass(frozen=True)
class Authority:
    """The secrets account-svc holds to authorise connections and run integrators' accounts."""

    operator_signing: Key
    parley: str  # PARLEY account public key
    parley_signing: Key
    auth: Key
    tenant_secret: bytes
    operator_password_sha256: str
    callout_creds: str  # the AUTH user that answers auth requests
    system_creds: str  # the SYS user that pushes and deletes account JWTs

    def tenant_account(self, account_id: str) -> Key:
        """The NATS account key of a Parley access account (a pure function of its id)."""
        return Key.derived(self.tenant_secret, f"account:{account_id}", ACCOUNT)

    def tenant_signer(self, account_id: str, api_key_hash: str) -> Key:
        """The key that signs an integrator's users while `api_key_hash` is its key's hash.

        A new API key means a new signer: pushing the account JWT with only the new signer
        makes the server close every connection the old one signed.
        """
        return Key.derived(self.tenant_secret, f"signer:{account_id}:{api_key_hash}", ACCOUNT)

    def user_creds(self, name: str, permissions: dict[str, Any]) -> str:
        """A creds file of a new PARLEY user with `permissions` (for tools: chaos, scripts)."""
        user = Key.new(USER)
        claims = jwt.user_claims(user.public, name, permissions, issuer_account=self.parley)
        return jwt.creds(jwt.encode(claims, self.parley_signing), user.seed)

    def operator_password_ok(self, password: str) -> bool:
        """Whether `password` is the operator credential's (constant-time)."""
        return hmac.compare_digest(password_digest(password), self.operator_password_sha256)

    def to_json(self) -> dict[str, Any]:
        """The JSON of authority.json."""
        return {
            "operator_signing_seed": self.operator_signing.seed,
            "parley_account": self.parley,
            "parley_signing_seed": self.parley_signing.seed,
            "auth_account_seed": self.auth.seed,
            "tenant_secret": base64.b64encode(self.tenant_secret).decode(),
            "operator_password_sha256": self.operator_password_sha256,
            "callout_creds": self.callout_creds,
            "system_creds": self.system_creds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Authority:
        """Read authority.json's content."""
        return cls(
            operator_signing=Key(str(data["operator_signing_seed"])),
            parley=str(data["parley_account"]),
            parley_signing=Key(str(data["parley_signing_seed"])),
            auth=Key(str(data["auth_account_seed"])),
            tenant_secret=base64.b64decode(str(data["tenant_secret"])),
            operator_password_sha256=str(data["operator_password_sha256"]),
            callout_creds=str(data["callout_creds"]),
            system_creds=str(data["system_creds"]),
        )

    @classmethod
    def load(cls, path: str | Path) -> Authority:
        """Read an authority.json file."""
        return cls.from_json(json.loads(Path(path).read_text("utf-8")))


@dataclass(frozen=True)
class Setup:
    """Everything `write_setup` made, as text (server include, creds) and the authority."""

    authority: Authority
    server_conf: str
    creds: dict[str, str]  # account-svc, routing-svc, webhook-svc, admin
    operator_password: str


def _user(name: str, account: Key, signer: Key, permissions: dict[str, Any], **kw: Any) -> str:
    user = Key.new(USER)
    claims = jwt.user_claims(user.public, name, permissions, issuer_account=account.public, **kw)
    return jwt.creds(jwt.encode(claims, signer), user.seed)


def make_setup(resolver_dir: str | Path, operator_password: str | None = None) -> Setup:
    """A fresh trust chain: keys, account JWTs, service creds and the server include file."""
    operator, operator_signing = Key.new(OPERATOR), Key.new(OPERATOR)
    system, parley, auth = Key.new(ACCOUNT), Key.new(ACCOUNT), Key.new(ACCOUNT)
    parley_signing, system_signing = Key.new(ACCOUNT), Key.new(ACCOUNT)
    password = operator_password or secrets.token_urlsafe(32)
    callout = Key.new(USER)
    sentinel = Key.new(USER)
    operator_jwt = jwt.encode(
        jwt.operator_claims(operator, operator_signing, system.public), operator
    )
    accounts = {
        system.public: jwt.account_claims(
            system.public, "SYS", signing_keys=[system_signing.public]
        ),
        parley.public: jwt.account_claims(
            parley.public,
            "PARLEY",
            jetstream=True,
            signing_keys=[parley_signing.public],
            exports=parley_exports(),
        ),
        auth.public: jwt.account_claims(
            auth.public,
            "AUTH",
            authorization={"auth_users": [callout.public], "allowed_accounts": ["*"]},
        ),
    }
    preload = {pub: jwt.encode(claims, operator_signing) for pub, claims in accounts.items()}
    creds = {
        service: _user(service, parley, parley_signing, service_permissions(service))
        for service in SERVICES
    }
    creds["admin"] = _user("parley-admin", parley, parley_signing, admin_permissions())
    callout_perms: dict[str, Any] = {
        "pub": {"allow": ["_INBOX.>"]},
        "sub": {"allow": ["$SYS.REQ.USER.AUTH"]},
        "resp": {"max": 1, "ttl": 0},  # answers each auth request once
    }
    callout_jwt = jwt.encode(jwt.user_claims(callout.public, CALLOUT_USER, callout_perms), auth)
    creds["callout"] = jwt.creds(callout_jwt, callout.seed)
    system_perms = {
        "pub": {"allow": ["$SYS.REQ.CLAIMS.UPDATE", "$SYS.REQ.CLAIMS.DELETE"]},
        "sub": {"allow": ["_INBOX.>"]},
    }
    creds["system"] = _user(SYSTEM_USER, system, system_signing, system_perms)
    sentinel_jwt = jwt.encode(
        jwt.user_claims(sentinel.public, "sentinel", _NO_PERMISSIONS, bearer=True), auth
    )
    where = str(resolver_dir)
    resolver = f"  dir: {where}" if where.startswith("$") else f'  dir: "{where}"'
    lines = [
        "# Generated by parley_runtime.natsauth: Parley's operator-mode trust chain.",
        f'operator: "{operator_jwt}"',
        f"system_account: {system.public}",
        "resolver: {",
        "  type: full",
        resolver,  # a `$NAME` is resolved by nats-server from the environment (dir per node)
        "  allow_delete: true",
        '  interval: "2m"',
        '  timeout: "1.9s"',
        "}",
        "resolver_preload: {",
        *(f'  {pub}: "{token}"' for pub, token in preload.items()),
        "}",
        f'default_sentinel: "{sentinel_jwt}"',
        "# A service's user JWT carries its permissions in CONNECT (routing-svc's is ~9 KB).",
        "max_control_line: 32768",
        "",
    ]
    authority = Authority(
        operator_signing=operator_signing,
        parley=parley.public,
        parley_signing=parley_signing,
        auth=auth,
        tenant_secret=secrets.token_bytes(32),
        operator_password_sha256=password_digest(password),
        callout_creds=creds.pop("callout"),
        system_creds=creds.pop("system"),
    )
    return Setup(authority, "\n".join(lines), creds, password)


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)


def write_setup(directory: str | Path, setup: Setup) -> dict[str, Path]:
    """Write auth.conf, `<name>.creds` and authority.json into `directory`; their paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"auth.conf": folder / "auth.conf", "authority.json": folder / "authority.json"}
    _write(paths["auth.conf"], setup.server_conf)
    _write(paths["authority.json"], json.dumps(setup.authority.to_json(), indent=2) + "\n")
    for name, text in setup.creds.items():
        paths[name] = folder / f"{name}.creds"
        _write(paths[name], text)
    return paths
