"""Electronic shelf label gateways (docs/labels.md): one :class:`~hardware.labels.base.LabelGateway` interface,
gateway types registered by key (``openepaperlink``: the OpenEPaperLink access point's HTTP API; ``serial``: the
line protocol of :mod:`hardware.labels.serial_gateway`), and the label image drawn with Pillow
(:mod:`hardware.labels.render`). Imports neither ``edge`` nor ``collector``."""
