"""dbplex logs; the application decides where the records go.

Python prints a WARNING that finds no handler anywhere on its way to the root logger on
stderr (the "last resort"). A library must not: a NullHandler on its own logger and on the
drivers' loggers stops exactly that and nothing else. Records still propagate, so once the
application configures logging it sees them at the levels it chooses.
"""

from __future__ import annotations

import logging


def quiet_until_configured(name: str) -> None:
    """Keep records of logger ``name`` (and its children) off stderr while nothing is configured."""
    logger = logging.getLogger(name)
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())
