"""The change feed: what was inserted, updated and deleted in a source, from a stored position.

:class:`Change` is the event every backend yields; :class:`ChangeFeed` is what a backend's
``dbplex_watch`` hook returns; :class:`Watch` (``hub.watch(...)``) is the blocking iterator
callers use. Delivery is at least once: a caller that stores :attr:`Change.position` after
handling a change and resumes with ``after=`` that position gets every later change, and may
see again the changes it had not stored.
"""

from dbplex.changes.feed import Change, ChangeFeed, Op
from dbplex.changes.watch import Watch

__all__ = ["Change", "ChangeFeed", "Op", "Watch"]
