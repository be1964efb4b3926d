"""Live changes: each process's listener for committed events, and the lease sweeper."""
