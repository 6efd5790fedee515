"""The collections served as OGC API Features and as vector-tile layers: one registry, so a new
data set plugs in with one entry here.

Each collection is a SQL source (alias `t`) with a stable feature id, a unique keyset column, a
geometry stored in EPSG:4490, typed properties (all of them queryable) and a valid-time range.
Without `datetime` a collection serves its current rows (`current`); with it, the rows whose valid
time meets the instant or interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STORAGE_SRID = 4490


@dataclass(frozen=True)
class Property:
    """A feature property: its SQL expression over `t`, its JSON-schema type and what it means."""

    name: str
    sql: str
    type: str  # JSON-schema type: string | integer | number | boolean; dates are string + format
    description: str
    format: str | None = None  # "date", "date-time"
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Collection:
    """One feature collection and tile layer."""

    id: str
    title: str
    description: str
    source: str            # FROM clause, the source aliased `t`
    where: str             # fixed filter, always applied ("true" when none)
    current: str           # the filter for "now" when no datetime is asked
    id_sql: str            # the feature id (text; stable across versions)
    key_sql: str           # a unique, indexed column for keyset paging (bigint)
    geom_sql: str          # geometry in EPSG:4490 (indexed with GiST under `where` + `current`)
    geometry_type: str     # GeoJSON type name, or "Geometry" when mixed
    properties: tuple[Property, ...]
    valid_from_sql: str
    valid_to_sql: str      # NULL while current
    tables: tuple[str, ...]  # base tables whose edits change this collection (tile invalidation)
    min_zoom: int = 0      # vector tiles: below this zoom the layer is empty
    max_zoom: int = 22
    keywords: tuple[str, ...] = field(default=())
    listed_when_empty: bool = True  # False: the OGC API lists it (and answers) only once it has features

    def property(self, name: str) -> Property | None:
        """The property called NAME, or None."""
        return next((p for p in self.properties if p.name == name), None)


def _date(name: str, sql: str, description: str) -> Property:
    return Property(name, sql, "string", description, format="date")


VERSION_DATES = (
    _date("valid_from", "t.valid_from", "first day this version was valid"),
    _date("valid_to", "t.valid_to", "day this version ended (null while current)"),
)


def _division_level(cid: str, title: str, level: int, min_zoom: int, description: str,
                    listed_when_empty: bool = True) -> Collection:
    return Collection(
        id=cid, title=title, description=description,
        source="divisions t",
        where=f"t.level = {level} AND t.geom IS NOT NULL AND NOT t.placeholder",
        current="t.valid_to IS NULL",
        id_sql="t.code", key_sql="t.id", geom_sql="t.geom", geometry_type="MultiPolygon",
        properties=(
            Property("code", "t.code", "string", "division code (GB/T 2260, 统计用区划代码)"),
            Property("name", "t.name", "string", "name of the division"),
            Property("parent_code", "t.parent_code", "string", "code of the division above"),
            Property("kind", "t.kind", "string", "kind of division (市辖区, 县, 乡, 镇, 街道 …)"),
            Property("geom_approximate", "t.geom_approximate", "boolean",
                     "true where the polygon is approximate (demo polygons)"),
            *VERSION_DATES,
        ),
        valid_from_sql="t.valid_from", valid_to_sql="t.valid_to",
        tables=("divisions",), min_zoom=min_zoom, keywords=("行政区划", "division"),
        listed_when_empty=listed_when_empty,
    )


PROVINCES = _division_level("provinces", "省级行政区划", 1, 0, "Provinces, autonomous regions and municipalities.")
PREFECTURES = _division_level("prefectures", "地级行政区划", 2, 4, "Prefecture-level divisions.")
COUNTIES = _division_level("counties", "县级行政区划", 3, 6, "County-level divisions.")
TOWNSHIPS = _division_level("townships", "乡级行政区划", 4, 9,
                            "Township-level divisions (listed only where polygons are loaded).",
                            listed_when_empty=False)

PLACE_NAMES = Collection(
    id="placenames", title="标准地名", description="Standard place names with a location.",
    source="place_names t", where="t.geom IS NOT NULL", current="t.valid_to IS NULL",
    id_sql="t.name_id::text", key_sql="t.version_id", geom_sql="t.geom", geometry_type="Geometry",
    properties=(
        Property("name_id", "t.name_id", "integer", "stable id of the name"),
        Property("name", "t.name", "string", "the standard name"),
        Property("specific", "t.specific", "string", "专名"),
        Property("generic", "t.generic", "string", "通名"),
        Property("category", "t.category", "string", "category code (§2)"),
        Property("romanization", "t.romanization", "string", "罗马字母拼写"),
        Property("division_code", "t.division_code", "string", "deepest division the name lies in"),
        Property("status", "t.status", "string", "standard, historical or cancelled",
                 enum=("standard", "historical", "cancelled")),
        *VERSION_DATES,
    ),
    valid_from_sql="t.valid_from", valid_to_sql="t.valid_to",
    tables=("place_names",), min_zoom=10, keywords=("地名", "place name"),
)

ADDRESSES = Collection(
    id="addresses", title="标准地址", description="Standard addresses (一库一码): streets, compounds, plates, "
    "buildings, units and rooms, at their address points.",
    source="addresses t", where="NOT t.reserved", current="t.valid_to IS NULL",
    id_sql="t.code", key_sql="t.version_id", geom_sql="t.point", geometry_type="Point",
    properties=(
        Property("code", "t.code", "string", "address code"),
        Property("level", "t.level", "string", "element level",
                 enum=("street", "compound", "plate", "building", "unit", "room")),
        Property("name", "t.name", "string", "the element as written on its plate"),
        Property("full_address", "t.full_address", "string", "the full standard address"),
        Property("village_code", "t.village_code", "string", "village/community code"),
        Property("county_code", "t.county_code", "string", "county code"),
        *VERSION_DATES,
    ),
    valid_from_sql="t.valid_from", valid_to_sql="t.valid_to",
    tables=("addresses",), min_zoom=14, keywords=("地址", "address"),
)

BOUNDARY_LINES = Collection(
    id="boundary-lines", title="行政区域界线", description="Administrative boundary lines between two divisions.",
    source="boundary_lines t", where="true", current="t.valid_to IS NULL",
    id_sql="t.line_id", key_sql="t.id", geom_sql="t.geom", geometry_type="MultiLineString",
    properties=(
        Property("line_id", "t.line_id", "string", "the two parties' codes, smaller first"),
        Property("line_number", "t.line_number", "string", "4-character line number"),
        Property("name", "t.name", "string", "name of the line"),
        Property("level", "t.level", "string", "province, county or township",
                 enum=("province", "county", "township")),
        Property("left_code", "t.left_code", "string", "the party with the smaller code"),
        Property("right_code", "t.right_code", "string", "the party with the larger code"),
        Property("length_m", "t.length_m", "number", "geodesic length in metres"),
        _date("last_inspection", "t.last_inspection", "last completed joint inspection"),
        *VERSION_DATES,
    ),
    valid_from_sql="t.valid_from", valid_to_sql="t.valid_to",
    tables=("boundary_lines",), min_zoom=5, keywords=("界线", "boundary"),
)

MARKERS = Collection(
    id="markers", title="界桩", description="Boundary markers with their status.",
    source="markers t", where="true", current="(t.retired_on IS NULL OR t.retired_on > current_date)",
    id_sql="t.number", key_sql="t.id", geom_sql="t.geom", geometry_type="Point",
    properties=(
        Property("number", "t.number", "string", "marker number: line number + sequence + type code"),
        Property("line_id", "t.line_id", "string", "the line it marks"),
        Property("type", "t.type", "string", "单立, 同号双立, 同号三立 or 三交点",
                 enum=("单立", "同号双立", "同号三立", "三交点")),
        Property("status", "t.status", "string", "完好, 损坏, 丢失 or 移位", enum=("完好", "损坏", "丢失", "移位")),
        Property("managing_party", "t.managing_party", "string", "division code of the managing party"),
        Property("version", "t.version", "integer", "marker version (bumped by every change)"),
        _date("erected_on", "t.erected_on", "day the marker was erected"),
    ),
    valid_from_sql="coalesce(t.erected_on, t.created_at::date)", valid_to_sql="t.retired_on",
    tables=("markers",), min_zoom=10, keywords=("界桩", "marker"),
)

FACILITIES = Collection(
    id="facilities", title="民政服务设施", description="Civil-affairs service facilities: elderly care, "
    "children, social work, assistance, marriage registration, funeral.",
    source="facilities t JOIN facility_types ft ON ft.code = t.type_code", where="true",
    current="t.valid_to IS NULL",
    id_sql="t.facility_id", key_sql="t.id", geom_sql="t.geom", geometry_type="Point",
    properties=(
        Property("facility_id", "t.facility_id", "string", "stable facility id"),
        Property("name", "t.name", "string", "name of the facility"),
        Property("type_code", "t.type_code", "string", "facility type code (facilities/types.csv)"),
        Property("type_name", "ft.name", "string", "facility type"),
        Property("category", "ft.category", "string", "type category"),
        Property("address", "t.address", "string", "address as given"),
        Property("address_code", "t.address_code", "string", "matched standard address code"),
        Property("division_code", "t.division_code", "string", "deepest division it lies in"),
        Property("beds", "t.beds", "integer", "beds"),
        Property("meal_seats", "t.meal_seats", "integer", "meal seats"),
        Property("operator", "t.operator", "string", "operator"),
        Property("status", "t.status", "string", "planned, operating, suspended or closed",
                 enum=("planned", "operating", "suspended", "closed")),
        _date("opened_on", "t.opened_on", "opening date"),
    ),
    valid_from_sql="t.valid_from", valid_to_sql="t.valid_to",
    tables=("facilities",), min_zoom=8, keywords=("设施", "facility"),
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    PROVINCES, PREFECTURES, COUNTIES, TOWNSHIPS, PLACE_NAMES, ADDRESSES, BOUNDARY_LINES, MARKERS, FACILITIES)}
