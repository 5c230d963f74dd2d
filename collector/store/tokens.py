"""API tokens in the store: their SHA-256 only (``collector.auth``), scopes, revocation. Never the token itself."""

from __future__ import annotations

import time
from typing import Any

from collector.store.database import Database

TOKEN_COLUMNS = "id, name, scopes, created, revoked"


class Tokens(Database):
    """``api_tokens``: add, look up by hash, list, revoke."""

    def add_token(self, name: str, scopes: tuple[str, ...], sha256: str) -> int:
        """A new token row; returns its id."""
        with self.write() as cur:
            cur.execute(self.sql("INSERT INTO api_tokens (name, scopes, token_sha256, created) VALUES (?, ?, ?, ?)"),
                        (name, " ".join(scopes), sha256, time.time()))
            cur.execute(self.sql("SELECT id FROM api_tokens WHERE token_sha256 = ?"), (sha256,))
            return int(cur.fetchone()[0])

    def token_by_hash(self, sha256: str) -> dict[str, Any] | None:
        """The live (not revoked) token with this SHA-256, with ``scopes`` as a tuple; None when there is none."""
        rows = self.rows(f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = ? AND revoked IS NULL",
                         (sha256,))
        return {**rows[0], "scopes": tuple(rows[0]["scopes"].split())} if rows else None

    def tokens(self) -> list[dict[str, Any]]:
        """Every token (revoked ones too), oldest first; no hashes."""
        return [{**r, "scopes": r["scopes"].split()} for r in
                self.rows(f"SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id")]

    def revoke_token(self, token_id: int) -> bool:
        """Revoke token ``token_id``; False when there is no such live token."""
        with self.write() as cur:
            cur.execute(self.sql("UPDATE api_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL"),
                        (time.time(), token_id))
            return bool(cur.rowcount)
