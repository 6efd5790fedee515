"""HTTP API (FastAPI) and the gazetteer CLI: thin adaptors over the domain packages."""
