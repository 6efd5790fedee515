"""Map builders (folium), vector tiles and OGC API serialisation helpers."""
