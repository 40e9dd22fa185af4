"""Write .env from .env.example, with a fresh random value for every empty *_PASSWORD.

`make env` runs it in a fresh clone (.env is git-ignored, so a clone has none); cookiecutter ran it
when it made the project. It never overwrites an .env: the volumes were made with its passwords.
"""

import os
import secrets
import sys
from pathlib import Path


def fill_passwords(example: str) -> str:
    """.env.example's text with every empty *_PASSWORD= given 32 random bytes in hex.

    Hex digits only: safe inside URLs, command lines and compose's ${} interpolation.
    """
    lines = []
    for line in example.splitlines():
        name, equals, value = line.partition("=")
        if equals and not name.startswith("#") and name.endswith("_PASSWORD") and not value:
            line = f"{name}={secrets.token_hex(32)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(root: Path) -> int:
    env = root / ".env"
    text = fill_passwords((root / ".env.example").read_text(encoding="utf-8"))
    try:
        # Created readable by its owner only, and only if it does not exist yet.
        descriptor = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(
            f"{env} exists, so it was left as it is: its passwords are the ones the services use.\n"
            "    To start afresh, stop the stack, move .env away, then run this again.",
            file=sys.stderr,
        )
        return 1
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"Wrote {env} with new passwords.")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent.parent))
