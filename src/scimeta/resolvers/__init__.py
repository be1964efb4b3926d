"""Root fields: queries (and, later, mutations and subscriptions)."""
