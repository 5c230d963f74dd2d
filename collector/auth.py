"""API tokens and scopes: who a bearer token is, and what each ``/api/v1`` route lets it see.

Scopes: ``read:<store>`` (that store's data; repeat for several stores), ``read:all`` (every store, dead letters,
the recommender), ``admin`` (everything, including token management and roll-outs). Tokens are
``sst_`` + 256 random bits (URL-safe); the store keeps only their SHA-256. A slow password hash (PBKDF2, bcrypt)
protects low-entropy secrets a person chose; a 256-bit random token cannot be guessed from its SHA-256, and a
fast hash lets every request find its token by one indexed lookup. The configured ``api.token``
(``SMARTSTORE_COLLECTOR_TOKEN``) stays valid as an admin token, compared in constant time.

Each route's access (:func:`route_access`): the route may declare it (``openapi_extra={"x-scope": ...}``);
otherwise a GET route with ``{store_id}`` in its path needs read access to that store, any other GET route
``read:all``, and any other method ``admin`` (fail closed: a new write route is admin-only until it says otherwise).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from errors import SmartstoreError

TOKEN_PREFIX = "sst_"
ADMIN, READ_ALL, READ = "admin", "read:all", "read:"
SCOPE = re.compile(r"^(admin|read:all|read:[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")


class ScopeError(SmartstoreError):
    """A scope that is not ``admin``, ``read:all`` or ``read:<store>``."""


class Access(StrEnum):
    """What a route needs (``x-scope`` in its OpenAPI entry)."""

    ADMIN = "admin"  #: admin tokens only
    ALL = "read:all"  #: read:all (or admin)
    STORE = "store"  #: read access to the store in the path (``store_id``) or the ``store`` query parameter
    OWN = "own"  #: like STORE, but without a store the route answers only the caller's stores


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The scopes, sorted and deduplicated; ScopeError for a bad one or none."""
    if not scopes:
        raise ScopeError("a token needs at least one scope: admin, read:all or read:<store>")
    for scope in scopes:
        if not SCOPE.match(scope):
            raise ScopeError(f"scope {scope!r}: expected admin, read:all or read:<store id>")
    return tuple(sorted(set(scopes)))


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid token."""

    name: str
    scopes: tuple[str, ...]
    stores: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stores", frozenset(s[len(READ):] for s in self.scopes
                                                     if s.startswith(READ) and s != READ_ALL))

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes

    @property
    def reads_all(self) -> bool:
        return self.admin or READ_ALL in self.scopes

    def can_read(self, store: str) -> bool:
        return self.reads_all or store in self.stores

    def visible(self, rows: list[dict[str, Any]], key: str = "store") -> list[dict[str, Any]]:
        """``rows`` of the stores this caller may read."""
        return rows if self.reads_all else [r for r in rows if r[key] in self.stores]

    def allows(self, access: Access, store: str | None) -> bool:
        """May this caller use a route needing ``access`` for ``store`` (None: no store named)?"""
        if access is Access.ADMIN:
            return self.admin
        if access is Access.ALL or (access is Access.STORE and store is None):
            return self.reads_all
        if store is None:  # Access.OWN without a store: the route filters to self.stores
            return self.reads_all or bool(self.stores)
        return self.can_read(store)


def route_access(route: Any) -> Access:
    """A route's declared ``x-scope``, or the default for its method and path (see the module docstring)."""
    declared = (getattr(route, "openapi_extra", None) or {}).get("x-scope")
    if declared is not None:
        return Access(declared)
    methods = getattr(route, "methods", None) or set()
    if not methods <= {"GET", "HEAD"}:
        return Access.ADMIN
    return Access.STORE if "{store_id}" in getattr(route, "path", "") else Access.ALL


def scope(access: Access) -> dict[str, Any]:
    """``openapi_extra`` for a route that declares its access: ``@api.get(..., openapi_extra=scope(Access.OWN))``."""
    return {"x-scope": access.value}
