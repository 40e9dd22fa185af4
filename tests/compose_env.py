"""Just enough of Docker Compose's environment handling to run a service's command outside Docker.

Compose reads `.env`, interpolates `${VAR}` forms in compose.yaml with it, and gives a container
its `env_file` plus its `environment`. These functions do the same for one service, so a test can
run the command compose.yaml writes, verbatim, against local servers.
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# $$ | ${NAME} | ${NAME:-default} ${NAME-default} ${NAME:?error} ${NAME?error} | $NAME
_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a .env file: KEY=VALUE lines; blank lines and # comments skipped; quotes removed."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("\"'")
    return values


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute variables in one compose.yaml string the way Compose does."""

    def substitute(match: re.Match[str]) -> str:
        escaped, name, operator, argument, bare = match.groups()
        if escaped:
            return "$"
        if bare:
            return env.get(bare, "")
        value = env.get(name)
        if operator in (":-", ":?") and not value:
            value = None
        if value is None and operator in (":?", "?"):
            raise KeyError(f"{name}: {argument or 'required'}")
        return argument if value is None else value

    return _VARIABLE.sub(substitute, text)


def service_command(service: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """The service's command (exec form), interpolated."""
    return [interpolate(str(part), env) for part in service["command"]]


def service_environment(service: Mapping[str, Any], project: Path, env: Mapping[str, str]) -> dict[str, str]:
    """What the container's environment holds: its env_file, overridden by its interpolated environment.

    A name without a value takes the value the variable has where compose runs (.env included), and
    is left out when it has none.
    """
    files = service.get("env_file", [])
    environment: dict[str, str] = {}
    for name in [files] if isinstance(files, str) else files:
        environment.update(read_env_file(project / name))
    for name, value in service.get("environment", {}).items():
        if value is not None:
            environment[name] = interpolate(str(value), env)
        elif name in env:
            environment[name] = env[name]
    return environment
