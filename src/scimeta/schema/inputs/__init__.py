"""`where:` and `orderBy:` inputs of every entity, by domain."""
