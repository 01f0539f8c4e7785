"""Where passwords come from: an environment variable or a file, never a command-line value."""

from __future__ import annotations

import os
from pathlib import Path

from zscheck.errors import ConfigError


def read_password(env_var: str, file: str | None = None) -> str | None:
    """The password from `file` if one is named, else from the environment variable; None if neither."""
    if file:
        try:
            return Path(file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the password file {file}: {exc.strerror}") from None
    return os.environ.get(env_var)
