"""The key layout of the online store: namespaces, pointers, runs, URLs."""


from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pmmlkit.errors import (
    ConfigurationError,
)

if TYPE_CHECKING:
    pass

SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_GRACE = 300
#: commands per pipeline round trip when writing
WRITE_BATCH = 2_000
DTYPE = "<f4"


def is_redis_url(url: str | None) -> bool:
    return url is not None and url.lower().startswith(SCHEMES)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


# -- keys -------------------------------------------------------------------------------------
def _check_name(kind: str, name: str) -> str:
    if not name or any(c in name for c in "{}") or any(c.isspace() for c in name):
        raise ConfigurationError(f"{kind} name {name!r}: use letters, digits, '.', '_', '-' "
                                 "(no braces or spaces: the name is the key's hash tag)")
    return name


def results_pointer(model: str) -> str:
    return f"pmmlkit:res:{{{_check_name('model', model)}}}:current"


def results_namespace(model: str, run: str) -> str:
    return f"pmmlkit:res:{{{_check_name('model', model)}}}:{run}"


def embeddings_pointer(name: str) -> str:
    return f"pmmlkit:emb:{{{_check_name('embedding set', name)}}}:current"


def embeddings_namespace(name: str, run: str) -> str:
    return f"pmmlkit:emb:{{{_check_name('embedding set', name)}}}:{run}"


def _new_run() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
