"""Fuzzing: schemathesis against account-svc's and routing-svc's OpenAPI documents on the live
processes; no answer may be a 5xx (issue 5, `not_a_server_error`).

schemathesis runs as a subprocess (`schemathesis run`, seeded, a bounded number of examples
per operation) so its own runner does not fight pytest-asyncio's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from e2e_parley_kit import ADMIN_PASSWORD, call
from parley_devtools.platform import Platform
from parley_devtools.waiting import eventually

pytestmark = pytest.mark.slow

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
MAX_EXAMPLES = 25
RUN_S = 120.0  # each schemathesis run (one worker, a slow CI machine)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
KV_KEY = re.compile(r"^[-/_=.A-Za-z0-9]+$")


@dataclass(frozen=True)
class ServerError:
    """One request schemathesis sent that was answered 5xx."""

    service: str
    method: str
    uri: str
    status: int
    body: str

    def __str__(self) -> str:
        return f"{self.service}: {self.method} {self.uri} -> {self.status} {self.body[:200]}"


def server_errors(service: str, report: Path) -> list[ServerError]:
    """Every request of an NDJSON report whose `not_a_server_error` check failed."""
    found = []
    for line in report.read_text().splitlines():
        event = json.loads(line)
        recorder = event.get("ScenarioFinished", {}).get("recorder")
        if not recorder:
            continue
        for case_id, checks in (recorder.get("checks") or {}).items():
            if not any(
                c["name"] == "not_a_server_error" and c["status"] != "success" for c in checks
            ):
                continue
            interaction = (recorder.get("interactions") or {}).get(case_id) or {}
            request, response = interaction.get("request", {}), interaction.get("response") or {}
            content = response.get("content") or {}
            body = base64.b64decode(content["$base64"]) if "$base64" in content else b""
            found.append(
                ServerError(
                    service,
                    request.get("method", "?"),
                    request.get("uri", "?"),
                    int(response.get("status_code", 0)),
                    body.decode(errors="replace"),
                )
            )
    return found


async def schemathesis(base: str, token: str, extra: list[str], report: Path) -> tuple[int, str]:
    """`schemathesis run base/openapi.json` with `not_a_server_error` only; (exit code, output)."""
    argv = [
        SCHEMATHESIS,
        "run",
        f"{base}/openapi.json",
        "--url",
        base,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        # One worker: with threads, hypothesis's lambda descriptions call ast.parse concurrently,
        # which CPython 3.11 does not survive ("AST constructor recursion depth mismatch", a
        # schemathesis Runtime Error seen in CI).
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-shrink",
        "--suppress-health-check",
        "all",
        "--continue-on-failure",
        "-H",
        f"Authorization: Bearer {token}",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        *extra,
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"NO_COLOR": "1", "PATH": str(Path(sys.executable).parent), "HOME": str(report.parent)},
        cwd=report.parent,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"schemathesis against {base} took over {RUN_S}s") from None
    return int(proc.returncode or 0), ANSI.sub("", out.decode(errors="replace"))


def summary(output: str) -> str:
    """The failures section and the last lines of a schemathesis run."""
    lines = output.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if "FAILURES" in line or "ERRORS" in line),
        len(lines) - 40,
    )
    return "\n".join(lines[max(start, 0) :][:300])


@pytest.mark.timeout(300)
async def test_no_5xx_from_account_and_routing_apis(platform: Platform) -> None:
    """schemathesis (seeded, 25 examples per operation) finds no 5xx answer in account-svc's API
    (bootstrap admin's token) or routing-svc's API (a plain-JSON account's API key)."""
    async with aiohttp.ClientSession() as session:
        login = await call(
            session,
            "POST",
            f"{platform.account}/v1/auth/login",
            {"username": "admin", "password": ADMIN_PASSWORD},
        )
        assert login.status == 200, login.json
        token = login.json["token"]
        ent = await call(
            session,
            "POST",
            f"{platform.account}/v1/organizations",
            {"name": "Fuzz", "kind": "enterprise"},
            token,
        )
        assert ent.status == 201, ent.json
        group = await call(
            session,
            "POST",
            f"{platform.account}/v1/business-groups",
            {"name": "Fuzz group", "enterprise_id": ent.json["id"]},
            token,
        )
        assert group.status == 201, group.json
        account = {
            "label": "fuzz",
            "enterprise_id": ent.json["id"],
            "business_group_id": group.json["id"],
            "communication_type": "outgoing",
            "traffic_type": "transactional",
            "channels": ["sms", "rcs"],
            "webhooks": {"status": None},
        }
        created = await call(session, "POST", f"{platform.account}/v1/accounts", account, token)
        assert created.status == 201, created.body
        api_key = created.json["api_key"]

        async def key_works() -> bool:
            got = await call(
                session, "GET", f"{platform.routing}/v1/consent/+919800000000", token=api_key
            )
            return bool(got.status == 200)

        await eventually(key_works, what="routing-svc to know the fuzz account")

    tmp_path = platform.root  # outside pytest's basetemp, like the rest of the platform
    started = time.monotonic()
    errors: list[ServerError] = []
    failed_runs = []
    # routing-svc first: the account-svc run may rotate or delete what routing-svc relies on.
    for name, base, auth, extra in [
        ("routing-svc", platform.routing, api_key, []),
        ("account-svc", platform.account, token, ["--exclude-path", "/v1/auth/logout"]),
    ]:
        report = tmp_path / f"{name}.ndjson"
        code, output = await schemathesis(base, auth, extra, report)
        (tmp_path / f"{name}.txt").write_text(output)
        found = server_errors(name, report)
        errors += found
        # Exit code 1 with only 5xx failures is judged below; anything else (no cases sent,
        # a schema or network error) fails here with schemathesis's own summary.
        if code != 0 and not found:
            failed_runs.append(f"=== {name} exited {code}\n{summary(output)}")
        match = re.search(r"(\d+) generated", output)
        assert match, f"{name} sent no test case:\n{output[-2000:]}"
        assert int(match.group(1)) > 0, f"{name} sent no test case:\n{output[-2000:]}"
    assert not failed_runs, "\n\n".join(failed_runs)
    assert not errors, f"{len(errors)} answers with a 5xx:\n" + "\n".join(map(str, errors))
    print(f"fuzz: no 5xx in {time.monotonic() - started:.0f}s")
