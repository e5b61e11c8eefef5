"""Which file format a path names: CSV (comma or tab separated, gzip or not) or Parquet."""

from __future__ import annotations

from dataclasses import dataclass

from pmmlkit.errors import ConfigurationError

PARQUET_SUFFIXES = (".parquet", ".pq")
_TEXT = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}


@dataclass(frozen=True)
class FileFormat:
    """``kind`` is ``csv`` or ``parquet``; for CSV, the delimiter (None: detect it from the
    header, for ``.txt``) and whether the file is gzip-compressed."""

    kind: str
    delimiter: str | None = ","
    gzip: bool = False


def is_parquet(url: str) -> bool:
    return url.lower().endswith(PARQUET_SUFFIXES)


def file_format(url: str) -> FileFormat:
    """The format of ``url`` by its extension; ``-`` (stdin/stdout) is comma-separated CSV."""
    if url == "-":
        return FileFormat("csv")
    if is_parquet(url):
        return FileFormat("parquet")
    lowered = url.lower()
    compressed = lowered.endswith(".gz")
    stem = lowered[:-3] if compressed else lowered
    for suffix, delimiter in _TEXT.items():
        if stem.endswith(suffix):
            return FileFormat("csv", delimiter, compressed)
    raise ConfigurationError(
        f"{url}: unknown file type; use .csv or .tsv (optionally .gz), .txt (delimiter read "
        "from the header), .parquet/.pq, or '-' for CSV on stdin/stdout")


def sniff_delimiter(header: str) -> str:
    """The delimiter of a ``.txt`` file: whichever of tab, comma, semicolon and bar the
    header line holds most of (comma when none)."""
    counts = {d: header.count(d) for d in ("\t", ",", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
