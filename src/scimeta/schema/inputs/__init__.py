"""`where:` and `orderBy:` inputs of every entity, by domain; `specs` holds what they and
the lists' aggregates are made of, from which `python -m scimeta.schema.generate` writes
the classes in `scimeta.schema.generated`."""
