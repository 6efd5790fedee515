"""Divisions (codes, versions, polygons), boundary lines, markers, inspections."""
