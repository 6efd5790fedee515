"""Indexes for OGC API Features paging and bbox filters on the address library.

The reverse-geocoding GiST index on `addresses.point` covers only plates, buildings and compounds,
so a bbox or spatial filter over the whole `addresses` collection could not use it. GDAL pushes
`county_code=…` down as a property parameter; with (county_code, version_id) the keyset page is an
index range scan instead of reading and sorting every address of the county on each page.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two partial indexes on current addresses."""
    op.execute("CREATE INDEX addresses_current_point ON addresses USING gist (point) WHERE valid_to IS NULL")
    op.execute("CREATE INDEX addresses_county_key ON addresses (county_code, version_id) WHERE valid_to IS NULL")


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP INDEX addresses_county_key")
    op.execute("DROP INDEX addresses_current_point")
