"""Running a fleet from the collector: per-device broker accounts and ACLs (:mod:`collector.fleet.enroll`), the
``smartstore fleet`` commands (:mod:`collector.fleet.cli`); scoped API tokens live in :mod:`collector.auth`."""
