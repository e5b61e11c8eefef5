"""Process-wide facts, set before the heavy modules load (importing this costs nothing)."""

from __future__ import annotations

#: this process is the ``pmmlkit`` command: the JVM it starts may write the class-data
#: archive at exit, and it ends through ``pmmlkit.scorer.backends._jvm.exit_process``
command_line = False


class _NoPandas:
    """The import hook of :func:`keep_pandas_out`."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(
                f"No module named {name!r}: this `pmmlkit score` process scores a file "
                "without pandas (pmmlkit._runtime.keep_pandas_out)", name=name)


def keep_pandas_out() -> bool:
    """Spare ``pmmlkit score`` the import of pandas, a third of a second of a one-second job.

    pmmlkit's file path (:func:`pmmlkit.batch.job.model_inputs`, :meth:`pmmlkit.Model.
    score_columns`, Arrow in and out) never uses pandas, but pyarrow imports it on its first
    conversion of any value (``pa.array``, ``to_numpy``), and again on later ones until it
    succeeds, only to ask whether a value is a pandas object. So the command that scores one
    file hides pandas from the rest of its process; pyarrow then takes "no pandas" for an
    answer. Only the console command calls this, once pmmlkit knows the process does nothing
    else; returns False (and does nothing) when pandas is already loaded.
    """
    import sys

    if "pandas" in sys.modules:
        return False
    if not any(isinstance(hook, _NoPandas) for hook in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())
    return True
