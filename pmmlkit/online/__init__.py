"""Online stores on Redis: pre-computed results read by key, embeddings looked up at serve time.

Layout (every key of one result set or embedding set shares a hash tag, so multi-key reads
would stay in one slot of a Redis Cluster; pmmlkit itself speaks to one server and refuses a
cluster node clearly)::

    pmmlkit:res:{MODEL}:current          -> the id of the live run (a string)
    pmmlkit:res:{MODEL}:RUN:_meta        -> hash: model, version, sha256, key, columns, rows...
    pmmlkit:res:{MODEL}:RUN:k:KEY        -> hash: the output contract's columns (as text),
                                            kept columns, _model, _version
    pmmlkit:emb:{NAME}:current           -> the id of the live run
    pmmlkit:emb:{NAME}:RUN:_meta         -> hash: dim, dtype (<f4), count, key, source
    pmmlkit:emb:{NAME}:RUN:k:ID          -> the vector, packed little-endian float32

A run writes into its own namespace and flips the ``current`` pointer when it has finished,
so readers never see a half-written or mixed set; the previous run's keys expire after a
grace period (default 300 s, for readers that resolved the old pointer). A run that fails
deletes what it wrote and leaves the pointer untouched.
"""

from pmmlkit.online.connection import as_text, connect, delete_namespace, redis_errors
from pmmlkit.online.embeddings import (
    EmbeddingSet,
    EmbeddingsSummary,
    decode_vectors,
    put_embeddings,
    read_vectors,
)
from pmmlkit.online.keys import (
    DEFAULT_GRACE,
    DTYPE,
    SCHEMES,
    WRITE_BATCH,
    embeddings_namespace,
    embeddings_pointer,
    is_redis_url,
    redacted,
    results_namespace,
    results_pointer,
)
from pmmlkit.online.results import ResultWriter, lookup

__all__ = ["DEFAULT_GRACE", "DTYPE", "SCHEMES", "WRITE_BATCH", "EmbeddingSet",
           "EmbeddingsSummary", "ResultWriter", "as_text", "connect", "decode_vectors",
           "delete_namespace", "embeddings_namespace", "embeddings_pointer", "is_redis_url",
           "lookup", "put_embeddings", "read_vectors", "redacted", "redis_errors",
           "results_namespace", "results_pointer"]
