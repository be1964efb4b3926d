"""Writes: every change to the data, one transaction per call, each with its events.

The functions here know nothing of GraphQL; mutations, importers and workers call them.
"""
