"""Customer-review sentiment: lexicon and learned scorers (English, Chinese), aspects, storage roll-ups, API."""
