"""Data sources: fetchers and readers for the public packages we build on."""
