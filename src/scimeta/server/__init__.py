"""HTTP server, settings, database connection, request context and command line."""
