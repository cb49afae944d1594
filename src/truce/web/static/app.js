/* Truce Monitor: the map (Leaflet from the installed XStatic packages) and the live list.
   The pages are complete without this script; it only enhances them. Nothing here builds
   HTML from data: every text from the server goes in as a text node. */
(function () {
  "use strict";
  var body = document.body;
  var lang = body.dataset.lang || "en";
  var maps = [];
  window.truceMaps = maps;

  var SHAPES = {
    confirmed: '<rect x="2" y="2" width="12" height="12"/>',
    fair: '<circle cx="8" cy="8" r="6"/>',
    weak: '<circle cx="8" cy="8" r="5.5" class="hollow"/>',
    contested: '<path d="M8 1 L15 8 L8 15 L1 8 Z"/>',
    discounted: '<path d="M2 2 L14 14 M14 2 L2 14" class="cross"/>',
    facility: '<rect x="5" y="5" width="6" height="6" class="facility"/>'
  };

  function svg(kind) {
    var k = SHAPES[kind] ? kind : "weak";
    return '<svg class="gm gm-' + k + '" viewBox="0 0 16 16" width="16" height="16">' + SHAPES[k] + "</svg>";
  }

  function icon(kind) {
    return L.divIcon({ className: "inc-icon inc-" + kind, html: svg(kind), iconSize: [16, 16], iconAnchor: [8, 8], popupAnchor: [0, -8] });
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.json();
    });
  }

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    el.textContent = value == null ? "" : String(value);
    return el;
  }

  function popup(props) {
    var box = document.createElement("div");
    var a = document.createElement("a");
    a.href = "/incidents/" + encodeURIComponent(props.id);
    a.className = "popup-link";
    a.textContent = props.facility_name || props.region || props.id;
    box.appendChild(a);
    box.appendChild(text("div", (props.date || "–") + " · " + (props.grade || "")));
    return box;
  }

  function incidentMarker(feature) {
    var c = feature.geometry.coordinates;
    var p = feature.properties || {};
    p.id = p.id || feature.id;
    var m = L.marker([c[1], c[0]], { icon: icon(p.grade), title: (p.facility_name || p.region || p.id) + " (" + p.grade + ")", alt: p.grade });
    m.bindPopup(popup(p));
    m.truceId = p.id;
    return m;
  }

  function regionName(props) {
    return props["name_" + lang] || props.name_en || props.name_ne || "";
  }

  function addBoundaries(map, url) {
    return getJSON(url).then(function (fc) {
      if (!fc.features || !fc.features.length) { return; }
      var layer = L.geoJSON(fc, {
        interactive: false,
        style: function (f) {
          return { color: "#6b6b6b", weight: 0.8, fillColor: f.properties.country === "UA" ? "#f7f7f2" : "#ebebe6", fillOpacity: 1 };
        }
      }).addTo(map);
      layer.bringToBack();
      var labels = L.layerGroup();
      fc.features.forEach(function (f) {
        var name = regionName(f.properties);
        if (!f.properties.label || !f.properties.code || !name) { return; }
        var div = document.createElement("div");
        div.textContent = name.replace(/ (Oblast|oblast|область|Krai|край)$/, "");
        labels.addLayer(L.marker([f.properties.label[1], f.properties.label[0]], {
          interactive: false, keyboard: false,
          icon: L.divIcon({ className: "region-label", html: div.outerHTML, iconSize: null })
        }));
      });
      function toggle() { if (map.getZoom() >= 5.5) { labels.addTo(map); } else { labels.remove(); } }
      map.on("zoomend", toggle);
      toggle();
      if (fc.credit) { map.attributionControl.addAttribution("Natural Earth (public domain)"); }
      map.getContainer().dataset.boundaries_loaded = String(fc.features.length);
    });
  }

  function initMap(el) {
    var map = L.map(el, { zoomSnap: 0.5, worldCopyJump: false, minZoom: 3, maxZoom: 14 });
    map.attributionControl.setPrefix("Leaflet");
    if (body.dataset.tiles) {
      L.tileLayer(body.dataset.tiles, { maxZoom: 18, attribution: "tiles: " + body.dataset.tiles.split("/")[2] }).addTo(map);
    }
    var lat = parseFloat(el.dataset.lat), lon = parseFloat(el.dataset.lon);
    var inset = el.classList.contains("inset");
    if (inset && !isNaN(lat) && !isNaN(lon)) {
      map.setView([lat, lon], 6.5);
      L.marker([lat, lon], { icon: icon(el.dataset.grade || "weak"), interactive: false }).addTo(map);
    } else {
      map.fitBounds([[44.0, 22.0], [57.5, 48.0]]);
    }
    var info = { el: el, map: map, cluster: null, ids: {} };
    maps.push(info);
    var jobs = [];
    if (el.dataset.boundaries) { jobs.push(addBoundaries(map, el.dataset.boundaries)); }
    var overlays = {};
    if (el.dataset.facilities) {
      var fac = L.layerGroup();
      overlays[lang === "uk" ? "Об'єкти реєстру" : lang === "ru" ? "Объекты реестра" : "Registry facilities"] = fac;
      jobs.push(getJSON(el.dataset.facilities).then(function (fc) {
        (fc.features || []).forEach(function (f) {
          var c = f.geometry && f.geometry.coordinates;
          if (!c) { return; }
          var m = L.marker([c[1], c[0]], { icon: icon("facility"), title: f.properties.name });
          var a = document.createElement("a");
          a.href = "/facilities/" + encodeURIComponent(f.properties.id || f.id);
          a.textContent = f.properties.name || f.id;
          m.bindPopup(a);
          fac.addLayer(m);
        });
      }));
    }
    if (el.dataset.incidents) {
      var cluster = L.markerClusterGroup({ maxClusterRadius: 35, showCoverageOnHover: false });
      info.cluster = cluster;
      overlays[lang === "uk" ? "Інциденти" : lang === "ru" ? "Инциденты" : "Incidents"] = cluster;
      cluster.addTo(map);
      jobs.push(getJSON(el.dataset.incidents).then(function (fc) {
        (fc.features || []).forEach(function (f) {
          if (!f.geometry) { return; }
          cluster.addLayer(incidentMarker(f));
          info.ids[f.id] = true;
        });
        el.dataset.incidents_loaded = String(cluster.getLayers().length);
      }));
    }
    if (Object.keys(overlays).length) { L.control.layers(null, overlays, { collapsed: false }).addTo(map); }
    Promise.all(jobs).then(function () { el.dataset.ready = "1"; }, function (e) { el.dataset.ready = "error"; el.dataset.error = String(e); });
  }

  function addRow(item) {
    var tbody = document.querySelector("#latest tbody");
    if (!tbody || tbody.querySelector('tr[data-id="' + CSS.escape(item.id) + '"]')) { return; }
    var empty = tbody.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var tr = document.createElement("tr");
    tr.dataset.id = item.id;
    tr.className = "new";
    tr.appendChild(text("td", item.date || "–"));
    var td = document.createElement("td");
    var a = document.createElement("a");
    a.href = "/incidents/" + encodeURIComponent(item.id);
    a.textContent = item.facility_name || item.region || item.country || item.id;
    td.appendChild(a);
    tr.appendChild(td);
    tr.appendChild(text("td", (item.facility_type || "–").replace(/_/g, " ")));
    tr.appendChild(text("td", item.region || ""));
    tr.appendChild(text("td", (item.attacker || "–") + (item.attacker_basis === "inferred" ? "*" : "")));
    var g = document.createElement("td");
    g.innerHTML = svg(item.grade);
    g.appendChild(document.createTextNode(" " + item.grade));
    tr.appendChild(g);
    tr.appendChild(text("td", (item.reports || []).length));
    tbody.insertBefore(tr, tbody.firstChild);
  }

  function live() {
    var badge = document.getElementById("live-status");
    if (!badge) { return; }
    var since = badge.dataset.since || "";
    var every = parseInt(body.dataset.pollMs || "5000", 10);
    badge.hidden = false;
    function poll() {
      getJSON("/api/v1/updates?since=" + encodeURIComponent(since)).then(function (d) {
        (d.items || []).forEach(function (item) {
          addRow(item);
          maps.forEach(function (m) {
            if (m.cluster && !m.ids[item.id] && item.lat != null && item.lon != null) {
              m.cluster.addLayer(incidentMarker({ id: item.id, geometry: { coordinates: [item.lon, item.lat] }, properties: item }));
              m.ids[item.id] = true;
            }
          });
        });
        if (d.last) { since = d.last; badge.dataset.since = since; }
      }).catch(function () { /* the next poll tries again */ }).then(function () { setTimeout(poll, every); });
    }
    setTimeout(poll, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (window.L) { document.querySelectorAll("div.map").forEach(initMap); }
    live();
  });
})();
