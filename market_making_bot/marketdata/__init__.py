"""Market data domain objects, pure: order books, per-subscription sequence tracking, per-market state and
statistics."""
