"""The localnet's Move VM stand-in: :mod:`.core` (execution rules), :mod:`.framework` and :mod:`.rotation`
(``0x1``), ``pictor``.

Importing this package registers the framework's entry and view functions; :func:`load_pictor`
registers the ``pictor`` package's (the node calls it at start, genesis or not).
"""

from __future__ import annotations

import logging
from types import ModuleType

from chain.localnet.vm import core, framework, rotation  # noqa: F401  (importing them registers 0x1)

log = logging.getLogger("chain.localnet")


def load_pictor() -> ModuleType | None:
    """Import (and so register) the ``pictor`` package re-implementation; ``None`` if it is unavailable."""
    try:
        # lazy: the node registers the package when it starts; one that fails to import leaves 0x1 usable
        from chain.localnet.vm import pictor
    except ImportError as exc:
        log.warning("pictor VM modules unavailable (%s): the localnet runs without the pictor package", exc)
        return None
    return pictor
