"""``watch(...)`` with one signature and one meaning for both hubs; each makes its own iterator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

#: what ends a watch: (``timeout`` seconds, ``count`` changes), None for no limit.
Limits = tuple[float | None, int | None]
_W = TypeVar("_W", covariant=True)


class Watching(Generic[_W]):
    """The ``watch`` method of :class:`dbplex.Hub` and :class:`dbplex.AsyncHub`."""

    def watch(
        self,
        source: str,
        tables: str | Sequence[str],
        *,
        after: str | None = None,
        timeout: float | None = None,
        count: int | None = None,
    ) -> _W:
        """The changes of ``tables`` in ``source`` after the stored position ``after`` (from now
        when None), at least once; ``timeout`` and ``count`` end the iteration.

        :class:`dbplex.Hub` gives a blocking iterator of :class:`~dbplex.changes.Change`: use it
        in a ``with`` block or ``close()`` it. :class:`dbplex.AsyncHub` gives one for ``async
        for`` (:class:`dbplex.aio.watch.AsyncWatch`), ended by ``break`` or by cancelling its
        task; it raises :class:`~dbplex.errors.UnsupportedError` when the source's backend has no
        ``dbplex_async_watch`` hook.
        """
        names = [tables] if isinstance(tables, str) else list(tables)
        return self._watch(source, names, after, (timeout, count))

    def _watch(self, source: str, tables: list[str], after: str | None, limits: Limits) -> _W:
        raise NotImplementedError
