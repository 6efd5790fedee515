/* gazetteer map pages: Leaflet layers from the JSON arrays the folium pages embed (maps/page.py).
   No framework, no network: everything here is built from data already in the page. */
(function () {
  "use strict";

  var registry = {};  // id -> {layer, cluster}: for ?focus= / ?facility= and for the browser tests

  function remember(id, layer, cluster) {
    if (id !== undefined && id !== null) { registry[String(id)] = {layer: layer, cluster: cluster}; }
  }

  function group(map, options) {
    if (!options.cluster || !L.markerClusterGroup) { return L.featureGroup(); }
    // Clustering needs a maximum zoom; a page without a basemap has none.
    if (map.options.maxZoom === undefined) { map.options.maxZoom = 19; }
    var color = options.color || "#3b6ea5";
    return L.markerClusterGroup({
      maxClusterRadius: options.clusterRadius || 45,
      disableClusteringAtZoom: options.disableClusteringAtZoom || 17,
      showCoverageOnHover: false,
      chunkedLoading: true,
      iconCreateFunction: function (cluster) {
        var n = cluster.getChildCount();
        return L.divIcon({
          html: '<div style="background:' + color + '"><span>' + n + "</span></div>",
          className: "marker-cluster map-cluster", iconSize: L.point(38, 38)
        });
      }
    });
  }

  function pin(html, className) {
    return L.divIcon({html: html, className: "map-marker " + (className || ""),
                      iconSize: [26, 30], iconAnchor: [13, 30], popupAnchor: [0, -26], tooltipAnchor: [12, -16]});
  }

  /* Facilities of one type: [{id, name, lat, lon, icon, popup}], clustered when options.cluster. */
  function facilities(map, data, options) {
    window.GazetteerMaps.map = map;
    var layer = group(map, options);
    data.forEach(function (f) {
      var marker = L.marker([f.lat, f.lon], {icon: pin(f.icon, "facility-marker"), title: f.name, alt: f.name});
      marker.bindPopup(f.popup, {maxWidth: 340});
      marker.bindTooltip(f.name, {direction: "right"});
      marker.addTo(layer);
      remember(f.id, marker, options.cluster ? layer : null);
    });
    return layer;
  }

  /* Service rings: [{lat, lon, r, color}] as light, non-interactive circles of r metres. */
  function rings(map, data, options) {
    window.GazetteerMaps.map = map;
    var layer = L.featureGroup();
    data.forEach(function (c) {
      L.circle([c.lat, c.lon], {radius: c.r, color: c.color, weight: 1, opacity: 0.6, fillColor: c.color,
                                fillOpacity: options.fillOpacity || 0.04, interactive: false}).addTo(layer);
    });
    return layer;
  }

  /* Many small points [[lat, lon], ...] drawn on one canvas (thousands stay fast). */
  function points(map, data, options) {
    window.GazetteerMaps.map = map;
    var renderer = L.canvas({padding: 0.3});
    var layer = L.featureGroup();
    data.forEach(function (p) {
      L.circleMarker(p, {renderer: renderer, radius: options.radius || 3, stroke: false,
                         fillColor: options.color || "#d7191c", fillOpacity: 0.75, interactive: false}).addTo(layer);
    });
    return layer;
  }

  /* Marked divisions: [{code, name, lat, lon, popup}] as ringed circle markers with a tooltip and popup. */
  function areas(map, data, options) {
    window.GazetteerMaps.map = map;
    var layer = L.featureGroup();
    data.forEach(function (g) {
      var marker = L.circleMarker([g.lat, g.lon], {radius: options.radius || 9, color: options.color || "#d7191c",
        weight: 3, fillColor: "#ffffff", fillOpacity: 0.6, className: "area-marker area-" + g.code});
      marker.bindTooltip(g.name, {direction: "top"});
      marker.bindPopup(g.popup, {maxWidth: 320});
      marker.addTo(layer);
      remember("area-" + g.code, marker, null);
    });
    return layer;
  }

  /* Place names of one category: points clustered and labelled, lines and polygons as GeoJSON. */
  function placenames(map, data, options) {
    window.GazetteerMaps.map = map;
    var layer = L.featureGroup();
    var cluster = group(map, options).addTo(layer);
    var shapes = L.featureGroup().addTo(layer);
    var color = options.color || "#3b6ea5";
    data.forEach(function (n) {
      var item;
      if (n.lat !== undefined) {
        item = L.marker([n.lat, n.lon], {icon: L.divIcon({html: n.label, className: "placename-marker",
          iconSize: null, iconAnchor: [6, 6], popupAnchor: [0, -4]}), title: n.name, alt: n.name});
        item.addTo(cluster);
      } else {
        item = L.geoJSON(n.geometry, {style: {color: color, weight: 3, opacity: 0.85, fillOpacity: 0.15}});
        item.addTo(shapes);
      }
      item.bindPopup(n.popup, {maxWidth: 340});
      item.bindTooltip(n.tip, {sticky: n.lat === undefined});
      remember(n.id, item, n.lat !== undefined ? cluster : null);
    });
    return layer;
  }

  /* One point of interest (e.g. the address searched for) with a permanent label. */
  function here(map, data, options) {
    window.GazetteerMaps.map = map;
    var layer = L.featureGroup();
    var marker = L.marker([data.lat, data.lon], {icon: pin(data.icon, "here-marker"), title: data.label});
    marker.bindTooltip(data.label, {permanent: true, direction: "right", className: "here-label"});
    marker.addTo(layer);
    return layer;
  }

  /* Open the popup of a remembered feature: zoom to it (past clustering, without animation, so the
     cluster has drawn it when the view is set), then open its popup, or a free popup if still hidden. */
  function open(map, id, zoom) {
    var entry = registry[String(id)];
    if (!entry) { return false; }
    var layer = entry.layer;
    if (!layer.getLatLng) {
      map.fitBounds(layer.getBounds(), {maxZoom: zoom || 16, animate: false});
      layer.openPopup();
      return true;
    }
    var target = Math.max(map.getZoom(), zoom || 15);
    if (entry.cluster) { target = Math.max(target, entry.cluster.options.disableClusteringAtZoom || 17); }
    map.setView(layer.getLatLng(), target, {animate: false});
    if (map.hasLayer(layer)) {
      layer.openPopup();
    } else {
      L.popup({maxWidth: 340}).setLatLng(layer.getLatLng()).setContent(layer.getPopup().getContent()).openOn(map);
    }
    return true;
  }

  window.GazetteerMaps = {
    facilities: facilities, rings: rings, points: points, areas: areas, placenames: placenames, here: here,
    open: open, registry: registry
  };
})();
