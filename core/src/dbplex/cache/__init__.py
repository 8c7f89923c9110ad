"""The read-through cache (``[cache]``): ``Get`` of chosen tables served from a Redis source,
invalidated by every write through dbplex, in every process. See docs/observability.md."""

from dbplex.cache.aio import AsyncReadThroughCache
from dbplex.cache.protocol import CacheInvalidationError
from dbplex.cache.readthrough import ReadThroughCache
from dbplex.cache.stats import CacheStats

__all__ = ["AsyncReadThroughCache", "CacheInvalidationError", "CacheStats", "ReadThroughCache"]
