"""The kit: what both services import (settings, database, auth, errors, money, ...).

It never imports an app (members_api, claims_api) nor the programs in services.stack:
tests/test_layers.py keeps it so."""
