"""Dynamic prices in the collector (``docs/pricing.md``): a price list (:mod:`.book`), the rules (:mod:`.rules`),
one evaluation that proposes prices with their audit trail (:mod:`.evaluate`), approval (:mod:`.approval`), the
push of approved prices to the store's shelf-label gateway as ``set_prices`` commands (:mod:`.push`,
:mod:`.link`), the API (:mod:`.api`) and the ``smartstore pricing`` commands (:mod:`.cli`)."""
