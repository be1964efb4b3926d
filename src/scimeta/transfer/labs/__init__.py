"""Importers of the labs' own stores, one module per source (see
`scimeta.transfer.sources.SOURCE_MODULES`): each reads a store in the format its lab
really keeps and writes its rows onto the unified model with the rules the mutations
enforce."""
