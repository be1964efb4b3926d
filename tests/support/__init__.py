"""What the tests of several packages share: the committed database's fixtures
(`committed`) and the whole database's state, to show a refused call wrote nothing
(`snapshots`)."""
