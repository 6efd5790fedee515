"""Database: settings, engine, models, migrations, importers and vendored datasets."""
