"""pmmlkit's own version, and the installed versions of the libraries it reports on."""

from __future__ import annotations

__version__ = "0.1.0"


def installed(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version  # 45 ms: only when asked

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def version_key(text: str) -> tuple[int, ...]:
    """A release string as a comparable tuple: ``"1.9.0"`` -> ``(1, 9, 0)``."""
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())
