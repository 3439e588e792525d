"""Use cases behind the administration API and CLI. Services flush but never commit."""
