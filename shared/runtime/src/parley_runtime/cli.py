"""A service's command line: `<service> [command]`, one function per command.

Every service starts the same way: parse the command, read the settings (defaults, then the
environment, validated), set up logging, warn about renamed settings, then run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from parley_shared.logging import configure_logging
from pydantic import BaseModel

from parley_runtime.settings import warn_renamed, warn_retired


class ServiceSettings(Protocol):
    """What every service's settings carry for logging."""

    log_level: str
    log_json: bool | None


S = TypeVar("S", bound=ServiceSettings)


def run_command(
    prog: str,
    description: str | None,
    commands: Mapping[str, Callable[[], int]],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse `argv` (the first command is the default) and run that command's function."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    names = list(commands)
    parser.add_argument("command", nargs="?", default=names[0], choices=names)
    args = parser.parse_args(argv)
    return commands[args.command]()


def load_settings(
    settings: Callable[[], S], service: str, retired: Mapping[str, str] | None = None
) -> S:
    """The service's settings from the environment, with logging set up by them and a
    warning logged for each renamed setting still set under its old name, and for each
    `retired` one (name -> what replaced it) still set."""
    loaded = settings()
    configure_logging(service, loaded.log_level, loaded.log_json)
    if isinstance(settings, type) and issubclass(settings, BaseModel):
        warn_renamed(settings)
    warn_retired(retired or {})
    return loaded


def print_json(document: Any) -> int:
    """Print a document (OpenAPI, AsyncAPI) as indented JSON; exit status 0."""
    print(json.dumps(document, indent=2))
    return 0
