"""Process plumbing that the edge service and the collector both run on, and nothing about events (that is
:mod:`contract`): the one backoff helper (:mod:`common.retry`) and systemd ``sd_notify`` with a watchdog
(:mod:`common.sdnotify`). Standard library only; imports neither ``edge`` nor ``collector``."""
