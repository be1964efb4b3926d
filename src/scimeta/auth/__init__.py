"""Who is calling: API tokens and their grants."""
