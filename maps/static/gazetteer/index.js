/* The map index's search box: as the user types, ask the address, place-name and division searches,
   show the suggestions grouped (地址 / 地名 / 区划); choosing one opens the map page for it. */
(function () {
  "use strict";

  var DELAY_MS = 200;
  var PER_GROUP = 6;
  var input = document.getElementById("map-search");
  var box = document.getElementById("map-suggestions");
  var status = document.getElementById("map-search-status");
  var timer = null;
  var asked = 0;  // the newest query's number: late answers to older queries are dropped

  function searchable(q) {
    // The place-name search rejects text without letters, digits or Chinese (422): do not ask it.
    return /[0-9A-Za-z\u3400-\u9fff]/.test(q);
  }

  function countyOf(code) { return String(code || "").slice(0, 6); }

  function addressItem(a) {
    var c = a.point && a.point.coordinates;
    var url = "/maps/facilities?division=" + countyOf(a.code) +
      (c ? "&at=" + c[0] + "," + c[1] : "") + "&label=" + encodeURIComponent(a.full_address || a.name);
    return {label: a.name, detail: (a.match_level || "") + " · " + (a.full_address || ""), url: url};
  }

  function nameItem(n) {
    var division = n.division_code && n.division_code.length > 6 ? countyOf(n.division_code) : n.division_code;
    if (!division) { return null; }
    var detail = [n.romanization, n.category_name, n.geometry ? "" : "无坐标"].filter(Boolean).join(" · ");
    return {label: n.name, detail: detail,
            url: "/maps/placenames?division=" + division + "&focus=" + encodeURIComponent(n.id)};
  }

  function divisionItem(d) {
    return {label: d.name, detail: d.code + " · " + (d.kind || ""), url: "/maps/divisions/" + d.code};
  }

  var GROUPS = [
    {key: "address", title: "地址", url: function (q) { return "/v1/addresses/suggest?limit=" + PER_GROUP + "&q=" + q; },
     items: function (body) { return (body.results || []).map(addressItem); }},
    {key: "placename", title: "地名", url: function (q) { return "/v1/placenames?limit=" + PER_GROUP + "&q=" + q; },
     items: function (body) { return (body.items || []).map(nameItem); }},
    {key: "division", title: "区划", url: function (q) { return "/v1/divisions?limit=" + PER_GROUP + "&q=" + q; },
     items: function (body) { return (body.items || []).map(divisionItem); }}
  ];

  function fetchGroup(group, q) {
    return fetch(group.url(encodeURIComponent(q)), {headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { return body ? group.items(body).filter(Boolean) : []; })
      .catch(function () { return []; });
  }

  function render(results) {
    box.textContent = "";
    var total = 0;
    GROUPS.forEach(function (group, i) {
      var items = results[i];
      if (!items.length) { return; }
      total += items.length;
      var section = document.createElement("section");
      section.className = "suggest-group";
      section.dataset.group = group.key;
      var h = document.createElement("h2");
      h.textContent = group.title;
      section.appendChild(h);
      var ul = document.createElement("ul");
      items.forEach(function (item) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = item.url;
        a.className = "suggestion";
        var b = document.createElement("b");
        b.textContent = item.label;
        var span = document.createElement("span");
        span.textContent = item.detail;
        a.appendChild(b);
        a.appendChild(span);
        li.appendChild(a);
        ul.appendChild(li);
      });
      section.appendChild(ul);
      box.appendChild(section);
    });
    status.textContent = total ? total + " 条建议" : "没有找到";
  }

  function ask() {
    var q = input.value.trim();
    var mine = ++asked;
    if (!q || !searchable(q)) { box.textContent = ""; status.textContent = ""; return; }
    status.textContent = "搜索中…";
    Promise.all(GROUPS.map(function (g) { return fetchGroup(g, q); })).then(function (results) {
      if (mine === asked) { render(results); }
    });
  }

  function links() { return Array.prototype.slice.call(box.querySelectorAll("a.suggestion")); }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, DELAY_MS);
  });
  input.addEventListener("keydown", function (event) {
    var all = links();
    if (event.key === "Enter" && all.length) {
      event.preventDefault();
      window.location.href = all[0].href;
    } else if (event.key === "ArrowDown" && all.length) {
      event.preventDefault();
      all[0].focus();
    }
  });
  box.addEventListener("keydown", function (event) {
    var all = links();
    var at = all.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && at < all.length - 1) { event.preventDefault(); all[at + 1].focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); (at > 0 ? all[at - 1] : input).focus(); }
  });
})();
