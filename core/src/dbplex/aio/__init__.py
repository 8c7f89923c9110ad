"""dbplex for asyncio: :func:`open_async` returns an :class:`AsyncHub`, the twin of :class:`dbplex.Hub`.

See docs/asyncio.md. Importing this package imports asyncio; ``import dbplex`` alone does not.
"""

from dbplex.aio.hub import AsyncHub, AsyncTransaction, open_async
from dbplex.aio.pool import AsyncPool

__all__ = ["AsyncHub", "AsyncPool", "AsyncTransaction", "open_async"]
