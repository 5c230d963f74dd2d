"""Basket recommender: context-aware EASE, co-occurrence, ALS/SVD comparisons, substitutes."""
