"""Wiring every domain shares: settings, database, migrations, errors, auth, audit, app, CLI."""
