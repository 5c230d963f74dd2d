"""The ``fleet:`` section of ``edge.yaml``: the command channel and signed bundles (``docs/fleet.md``).

Absent (the default): the box subscribes to no command topic. Present: it hears commands on its own command topic
and accepts only artefacts signed by a key in ``public_keys``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class FleetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    public_keys: Path  # the fleet's ed25519 public key(s): 'ed25519:BASE64' lines or PEM (relative to edge.yaml)
    bundle_dir: Path | None = None  # versioned bundles and the active-version links; default: beside the outbox
    keep_versions: int = Field(default=3, ge=2)  # versions of each bundle kept on disk (the old one for rollback)
    max_bundle_mb: float = Field(default=4096.0, gt=0)  # refuse manifests whose files add up to more
    remember_commands: int = Field(default=1000, ge=10)  # ids of applied commands kept (a replay is applied once)
    fetch_timeout_s: float = Field(default=30.0, gt=0)  # per HTTP request; a cut download resumes (Range)
    fetch_attempts: int = Field(default=5, ge=1)

    def resolved(self, base: Path, outbox: Path) -> FleetConfig:
        """Paths made absolute against ``base`` (the config's folder); bundles default to ``<outbox dir>/bundles``."""
        keys = self.public_keys if self.public_keys.is_absolute() else base / self.public_keys
        bundles = self.bundle_dir or outbox.parent / "bundles"
        return self.model_copy(update={"public_keys": keys,
                                       "bundle_dir": bundles if bundles.is_absolute() else base / bundles})

    @property
    def bundles(self) -> Path:
        assert self.bundle_dir is not None, "resolved() sets it"
        return self.bundle_dir
