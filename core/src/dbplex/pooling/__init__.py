"""dbplex's connection pool, and the parts of it a backend whose driver pools by itself reuses.

:class:`~.pool.ConnectorPool` is the pool of every source whose backend provides a
:class:`~.connector.Connector` (``dbplex_connect``); it and its asyncio twin
(:mod:`.async_pool`) drive one sans-I/O core (:mod:`.core`). Its parts: leak detection (:mod:`.leaks`),
a bound on waiting callers (:mod:`.waiters`), jittered lifetimes and reconnect backoff
(:mod:`.jitter`), a maintenance thread (:mod:`.housekeeper`) and reset after ``fork()``
(:mod:`.fork`); a backend whose driver pools internally (pymongo) composes those it needs.
"""

from dbplex.pooling.connector import Connector, Disposition
from dbplex.pooling.pool import ConnectorPool

__all__ = ["Connector", "ConnectorPool", "Disposition"]
