"""The web app: ``truce serve`` (pages, a map, reviews, a JSON API) over the library.

:func:`create_app` builds the ASGI app; :mod:`truce.web.auth` holds accounts and roles
(``truce users``). Sits above the outputs and below the command line (.importlinter).
"""

from __future__ import annotations

from truce.web.app import create_app

__all__ = ["create_app"]
