"""Process-wide facts, set before the heavy modules load (importing this costs nothing)."""

from __future__ import annotations

#: this process is the ``pmmlkit`` command: the JVM it starts may write the class-data
#: archive at exit, and it ends through ``pmmlkit.scorer.backends._jvm.exit_process``
command_line = False
