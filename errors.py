"""The one error root of smartstore: :class:`SmartstoreError`.

Every mistake a user can fix (a missing file, a bad value, a config field, a model that is not built, an engine
that cannot load a file) raises a subclass of :class:`SmartstoreError` with a one-line message that names the
problem. The ``smartstore`` command catches it once, in ``main``, and prints it as one line with exit status 2;
library code raises it without knowing about the command line, and so never imports the CLI module.

This module imports nothing, so every package (edge, hardware, collector, export, tools) may import it.
"""

from __future__ import annotations


class SmartstoreError(Exception):
    """A mistake the user can fix: the message is one line that names the file, field or value."""
