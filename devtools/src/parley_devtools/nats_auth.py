"""An embedded nats-server with Parley's authentication on (operator mode + auth callout).

`make run` and the authenticated pytest fixture both use `prepare` (the trust chain and the
services' creds, generated once into a directory and reused, since the streams belong to the
PARLEY account's key) and `AuthNatsServer`. The callout itself is account-svc's; tests that
run without account-svc start `parley_runtime.natsauth.callout.CalloutResponder` themselves.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley_runtime.natsauth.authority import Authority, make_setup, write_setup

from parley_devtools.embedded import NatsServer

SERVICE_NAMES = ("account-svc", "routing-svc", "webhook-svc")


def observer_permissions(name: str) -> dict[str, Any]:
    """What a test tool (chaos, benchmarks) may do on the bus: watch config events and read
    STATUS through ordered consumers (as webhook-svc may); nothing else."""
    from parley_runtime.natsauth.permissions import consume
    from parley_shared import subjects

    return {
        "pub": {
            "allow": [
                "$JS.API.STREAM.INFO.*",
                "$JS.API.STREAM.NAMES",  # nats-py looks a stream up by subject
                *consume(subjects.STREAM_STATUS),
            ]
        },
        "sub": {"allow": [f"_INBOX.{name}.>", subjects.ACCOUNT_CONFIG_ALL]},
    }


@dataclass(frozen=True)
class AuthFiles:
    """Where the generated auth files are."""

    directory: Path

    @property
    def server_conf(self) -> Path:
        """The config file the embedded server runs with (it includes auth.conf)."""
        return self.directory / "server.conf"

    @property
    def authority_json(self) -> Path:
        """account-svc's secrets (ACCOUNT_NATS_AUTHORITY_FILE)."""
        return self.directory / "authority.json"

    def creds(self, name: str) -> Path:
        """The creds file of a service (or `admin`)."""
        return self.directory / f"{name}.creds"

    @property
    def operator_password_file(self) -> Path:
        """The operator credential's password (written once)."""
        return self.directory / "operator.password"

    def authority(self) -> Authority:
        """The parsed authority.json."""
        return Authority.load(self.authority_json)

    def operator_password(self) -> str:
        """The operator credential's password."""
        return self.operator_password_file.read_text("utf-8").strip()

    def observer(self, name: str) -> dict[str, Any]:
        """`nats.connect` options of a test tool's own user (`observer_permissions`)."""
        path = self.directory / f"{name}.creds"
        text = self.authority().user_creds(name, observer_permissions(name))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(text)
        return {"user_credentials": str(path), "inbox_prefix": f"_INBOX.{name}"}

    def service_env(self, name: str) -> dict[str, str]:
        """The environment a service needs to connect (and account-svc to run the callout);
        nothing for a name that is not a Parley service (its creds do not exist)."""
        if name not in SERVICE_NAMES:
            return {}
        env = {"NATS_CREDS": str(self.creds(name)), "NATS_USER": "", "NATS_PASSWORD": ""}
        if name == "account-svc":
            env["ACCOUNT_NATS_AUTHORITY_FILE"] = str(self.authority_json)
        return env


def prepare(directory: str | Path) -> AuthFiles:
    """The auth files in `directory`, generated the first time (mode 0600, dir 0700)."""
    files = AuthFiles(Path(directory))
    files.directory.mkdir(parents=True, exist_ok=True)
    os.chmod(files.directory, 0o700)
    if files.authority_json.exists() and files.server_conf.exists():
        return files
    setup = make_setup(files.directory / "resolver")
    write_setup(files.directory, setup)
    files.server_conf.write_text('include "auth.conf"\n', encoding="utf-8")
    fd = os.open(files.operator_password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(setup.operator_password + "\n")
    return files


def write_operator_json(path: str | Path, url: str, password: str) -> None:
    """`{"url","user","password"}` of the operator credential (CONTRACT section 10), 0600."""
    from parley_runtime.natsauth.permissions import OPERATOR_USER

    body = json.dumps({"url": url, "user": OPERATOR_USER, "password": password}, indent=2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(body + "\n")


class AuthNatsServer(NatsServer):
    """A `NatsServer` that runs with the auth files of `files` (no anonymous connection)."""

    def __init__(self, files: AuthFiles, **kwargs: Any) -> None:
        extra = ["-c", str(files.server_conf), *kwargs.pop("extra_args", [])]
        super().__init__(extra_args=extra, **kwargs)
        self.files = files

    def start(self) -> AuthNatsServer:
        """Start the server and wait until it accepts connections."""
        super().start()
        return self
