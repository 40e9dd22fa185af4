"""After generation: give the project its own secrets in .env, then say what to do next."""

import json
import secrets
import sys
from pathlib import Path

# Answers arrive as JSON data, never as Python source. tojson escapes ' (and newlines), so a raw
# single-quoted string holds any answer; the formatter must not swap in double quotes.
SLUG = json.loads(r'{{ cookiecutter.project_slug | tojson }}')  # fmt: skip


def fill_secrets(example: str) -> str:
    """Return .env text: .env.example with a fresh random value for every empty *_PASSWORD.

    Hex digits only: safe inside URLs, command lines and compose's ${} interpolation.
    """
    lines = []
    for line in example.splitlines():
        name, equals, value = line.partition("=")
        if equals and not name.startswith("#") and name.endswith("_PASSWORD") and not value:
            line = f"{name}={secrets.token_hex(32)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_env(root: Path) -> None:
    """Write .env readable by its owner only: it holds this project's passwords."""
    env = root / ".env"
    env.write_text(fill_secrets((root / ".env.example").read_text(encoding="utf-8")), encoding="utf-8")
    env.chmod(0o600)


def main() -> int:
    write_env(Path.cwd())
    print(f"\nNext steps:\n  cd {SLUG}\n  docker compose up --build\n  (tests: see README.md, 'Test')\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
