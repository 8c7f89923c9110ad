"""MongoClient construction from a source's configuration.

pymongo's ``MongoClient`` is the pool: dbplex's pool settings become its options (keyword
options win over the same options in the URL; the rest of the URL's options, such as
``replicaSet``, ``readPreference`` and ``w``, reach pymongo as they are). ``connect_timeout``
bounds both opening a socket and finding a usable server, so an unreachable source fails within
it; ``operation_timeout`` bounds the wait for each reply (``socketTimeoutMS``), so a server that
stops answering fails the op rather than hanging it. ``max_lifetime`` has no pymongo equivalent: the pool replaces the whole client (see
:mod:`dbplex_mongo.pool`).
"""

from __future__ import annotations

from typing import Any, overload

from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database
from pymongo.monitoring import ConnectionPoolListener

from dbplex.backends import Source
from dbplex.errors import ConfigError
from dbplex.secrets import scrub
from dbplex_mongo import errors
from dbplex_mongo.options import DEFAULT_DATABASE, operation_timeout, options_of

Doc = dict[str, Any]


def client_options(source: Source) -> dict[str, Any]:
    """``MongoClient`` keyword options for ``source``'s pool and timeouts."""
    pool = source.config.pool
    connect_ms = round(source.config.connect_timeout * 1000)
    return {
        # the admin pool's commands (an index build) take as long as they take
        "socketTimeoutMS": None if source.role == "admin" else round(operation_timeout(source) * 1000),
        "maxPoolSize": pool.max_size,
        "minPoolSize": pool.min_size,
        "waitQueueTimeoutMS": round(pool.timeout * 1000),
        "maxIdleTimeMS": round(pool.max_idle * 1000),
        "connectTimeoutMS": connect_ms,
        "serverSelectionTimeoutMS": connect_ms,
    }


def open_client(
    source: Source, listener: ConnectionPoolListener | None = None, client_class: Any = MongoClient, **overrides: Any
) -> Any:
    """A client for ``source`` (no I/O yet: pymongo connects in the background); ``client_class``
    ``AsyncMongoClient`` for the asyncio pool."""
    options = {**client_options(source), **overrides}
    if listener is not None:
        options["event_listeners"] = [listener]
    try:
        return client_class(source.url, **options)
    except ValueError as exc:  # what pymongo raises for some malformed URLs (a non-numeric port)
        raise ConfigError(f"source {source.name!r}: invalid MongoDB URL: {scrub(str(exc))}") from exc
    except OSError as exc:  # a file named by an option (tlsCAFile, tlsCertificateKeyFile) cannot be read
        detail = scrub(exc.strerror or str(exc))  # pymongo's wording differs between releases
        raise ConfigError(
            f"source {source.name!r}: invalid MongoDB URL: a file it names cannot be read ({detail})"
        ) from exc
    except errors.DRIVER_ERRORS as exc:
        raise errors.translate(source, exc, "opening the client") from exc


@overload
def database_of(source: Source, client: MongoClient[Doc]) -> Database[Doc]: ...
@overload
def database_of(source: Source, client: AsyncMongoClient[Doc]) -> AsyncDatabase[Doc]: ...
def database_of(source: Source, client: MongoClient[Doc] | AsyncMongoClient[Doc]) -> Database[Doc] | AsyncDatabase[Doc]:
    """``options.database``, else the URL's path, else ``dbplex``."""
    options = options_of(source)
    if options.database:
        return client[options.database]
    return client.get_default_database(DEFAULT_DATABASE)


def connect(source: Source) -> Database[Doc]:
    """One client of one connection, checked to answer: what ``dbplex_connect`` returns.

    Close it with ``db.client.close()``.
    """
    client: MongoClient[Doc] = open_client(source, maxPoolSize=1, minPoolSize=0)
    try:
        client.admin.command("ping")
    except errors.DRIVER_ERRORS as exc:
        client.close()
        raise errors.translate(source, exc, "connecting") from exc
    return database_of(source, client)
