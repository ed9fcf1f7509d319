"""`python -m parley_runtime.natsauth init DIR`: a deployment's NATS trust chain and creds.

Writes into DIR (mode 0600; never over an existing authority.json):

- `auth.conf`: what every nats-server node includes (operator, system account, resolver
  with its directory `--resolver-dir`, preloaded accounts, the callout's sentinel);
- `account-svc.creds`, `routing-svc.creds`, `webhook-svc.creds`: each service's NATS_CREDS;
- `admin.creds`: the streams Job's (creates and updates streams, nothing else);
- `authority.json`: account-svc's ACCOUNT_NATS_AUTHORITY_FILE (signing keys, the callout's and
  the system user's creds, the operator credential's password hash);
- `operator.password`: the operator credential's password (user `operator`).

Keep DIR as secret as the master key; generate it once per deployment (the streams belong to
the PARLEY account's key: a new chain is a new, empty platform).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from parley_runtime.natsauth.authority import make_setup, write_setup


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write the files."""
    parser = argparse.ArgumentParser(prog="python -m parley_runtime.natsauth")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="generate the trust chain and creds into DIR")
    init.add_argument("directory", type=Path)
    init.add_argument(
        "--resolver-dir",
        default="/data/jwt",
        help="where each nats-server keeps account JWTs (on its persistent volume)",
    )
    args = parser.parse_args(argv)
    folder: Path = args.directory
    if (folder / "authority.json").exists():
        print(f"{folder}/authority.json exists: refusing to replace a trust chain", file=sys.stderr)
        return 1
    setup = make_setup(args.resolver_dir)
    paths = write_setup(folder, setup)
    secret = folder / "operator.password"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(setup.operator_password + "\n")
    print(json.dumps({"written": sorted([*map(str, paths.values()), str(secret)])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
