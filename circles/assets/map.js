(function () {
if (window.circles) { return; }
var C = window.circles = {};

/* ---------------------------------------------------------------------------------------------
   Helpers
   ------------------------------------------------------------------------------------------ */
C.esc = function (s) {
  return String(s).replace(/[&<>"']/g, function (ch) {
    return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[ch]; });
};
/* "{n} failing" with n filled in; values are escaped unless they are numbers */
C.fmt = function (t, v) {
  return String(t).replace(/\{(\w+)\}/g, function (m, k) {
    return v[k] === undefined ? m : (typeof v[k] === 'number' ? String(v[k]) : C.esc(v[k])); });
};
/* flat [x0, y0, dx, dy, ...] micro-degrees from origin o -> [[lat, lng], ...] */
C.dec = function (flat, o) {
  var out = new Array(flat.length / 2), x = o[0], y = o[1], i;
  for (i = 0; i < flat.length; i += 2) { x += flat[i]; y += flat[i + 1]; out[i / 2] = [y / 1e6, x / 1e6]; }
  return out;
};
C.decPolys = function (polys, o) {
  return polys.map(function (rings) { return rings.map(function (r) { return C.dec(r, o); }); });
};
C.el = function (tag, cls, html, parent) {
  var e = document.createElement(tag);
  if (cls) { e.className = cls; }
  if (html !== undefined && html !== null) { e.innerHTML = html; }
  if (parent) { parent.appendChild(e); }
  return e;
};
C.rect = function (el) { return el && el.offsetParent !== null ? el.getBoundingClientRect() : null; };

/* Panes, attribution, scale bar and zoom buttons (first thing on the map). */
C.setup = function (map, o) {
  [['circles-streets', 250], ['circles-areas', 380], ['circles-roads', 420], ['circles-residents', 450],
   ['circles-labels', 560], ['circles-marks', 590]].forEach(function (p) {
    var el = map.getPane(p[0]) || map.createPane(p[0]);
    el.style.zIndex = p[1];
    el.style.pointerEvents = 'none';
  });
  map.setMaxZoom(o.maxZoom);
  map.options.zoomSnap = 0.25;
  map.options.zoomDelta = 0.5;
  if (o.offline) { map.getContainer().classList.add('circles-offline'); }
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(o.attribution);
  L.control.scale({imperial: false, maxWidth: 110, position: 'bottomleft'}).addTo(map);
  L.control.zoom({position: 'bottomright'}).addTo(map);
};

/* A popup that, when it opens, fits the free part of the map (clear of the panels) and pans there. */
C.Popup = L.Popup.extend({
  onAdd: function (map) {
    if (map._circles) { L.setOptions(this, map._circles.popupOptions()); }
    L.Popup.prototype.onAdd.call(this, map);
  }
});
C.popup = function (html, cls) { return new C.Popup({className: cls || ''}).setContent(html); };
/* a facility's popup from [lat, lon, placed, name, id, source, capacity, size, footprint, reason] */
C.facPopup = function (p, info, lab) {
  var rows = [[lab.f_name, p[3] || lab.f_unnamed], [lab.f_type, info.name], [lab.f_id, p[4]]];
  [[5, lab.f_source], [6, lab.f_capacity], [7, lab.f_size], [8, lab.f_area]].forEach(function (k) {
    if (p[k[0]] !== '') { rows.push([k[1], p[k[0]]]); } });
  if (!p[2]) { rows.push([lab.f_set_aside, p[9] || '—']); }
  var live = C.current && C.current.live && C.current.live.isLive(p[4]);
  return '<table class="circles-popup">' + rows.map(function (r) {
    return '<tr><td>' + C.esc(r[0]) + '</td><td>' + C.esc(r[1]) + '</td></tr>'; }).join('') + '</table>'
    + (live ? '<button type="button" class="circles-close-fac" data-close="' + C.esc(p[4]) + '">' + C.esc(lab.live_close) + '</button>' : '');
};

/* ---------------------------------------------------------------------------------------------
   Resident points: one canvas, redrawn on move/zoom; hover (mouse only) and tap find the nearest.
   ------------------------------------------------------------------------------------------ */
C.Points = L.Layer.extend({
  initialize: function (d, app) {
    this._d = d; this._app = app;
    var n = d.x.length, i;
    this._n = n;
    this._lat = new Float64Array(n); this._lng = new Float64Array(n);
    for (i = 0; i < n; i++) { this._lat[i] = (d.y0 + d.y[i]) / 1e6; this._lng[i] = (d.x0 + d.x[i]) / 1e6; }
  },
  onAdd: function (map) {
    var i, p;
    if (!this._px) {
      this._px = new Float64Array(this._n); this._py = new Float64Array(this._n);
      for (i = 0; i < this._n; i++) {
        p = map.project([this._lat[i], this._lng[i]], 0); this._px[i] = p.x; this._py[i] = p.y;
      }
      this._cx = new Float32Array(this._n); this._cy = new Float32Array(this._n);
    }
    this._canvas = L.DomUtil.create('canvas', 'circles-points leaflet-zoom-hide');
    this._canvas.style.pointerEvents = 'none';
    map.getPane('circles-residents').appendChild(this._canvas);
    map.on('moveend zoomend resize viewreset', this._reset, this);
    map.on('movestart zoomstart popupopen', this._hide, this);
    var c = map.getContainer();
    this._onClick = L.bind(this._click, this);
    this._onMove = L.bind(this._hover, this);
    this._onOut = L.bind(this._hide, this);
    this._onDown = L.bind(this._down, this);
    c.addEventListener('click', this._onClick, true);
    c.addEventListener('pointermove', this._onMove);
    c.addEventListener('pointerdown', this._onDown, true);
    c.addEventListener('pointerleave', this._onOut);
    this._tip = L.tooltip({direction: 'top', className: 'circles-tip', offset: [0, -6]});
    this._reset();
  },
  onRemove: function (map) {
    map.off('moveend zoomend resize viewreset', this._reset, this);
    map.off('movestart zoomstart popupopen', this._hide, this);
    var c = map.getContainer();
    c.removeEventListener('click', this._onClick, true);
    c.removeEventListener('pointermove', this._onMove);
    c.removeEventListener('pointerdown', this._onDown, true);
    c.removeEventListener('pointerleave', this._onOut);
    this._hide();
    L.DomUtil.remove(this._canvas);
  },
  redraw: function () { this._hide(); if (this._map) { this._draw(); } },
  /* class of resident i for item r: 0 within, 1 up to 2x, 2 beyond, 3 not attached, 4 no data */
  cls: function (i, r) {
    var lv = this._app.live && this._app.live.clsCached(r);
    if (lv) { return lv[i]; }
    var k = this._d.k[r]; return k ? k.charCodeAt(i) - 48 : 4;
  },
  _radius: function () {
    var z = this._map.getZoom(), r = z >= 18 ? 6 : (z >= 17 ? 5 : (z >= 16 ? 4 : 3));
    return this._app.projector ? 2 * r : r;  /* projector mode: dots seen from the back of a room */
  },
  _reset: function () {
    var map = this._map, size = map.getSize(), pad = 0.25;
    var min = map.containerPointToLayerPoint(size.multiplyBy(-pad)).round();
    var full = size.multiplyBy(1 + 2 * pad).round(), dpr = window.devicePixelRatio || 1;
    this._origin = min; this._size = full;
    L.DomUtil.setPosition(this._canvas, min);
    this._canvas.width = full.x * dpr; this._canvas.height = full.y * dpr;
    this._canvas.style.width = full.x + 'px'; this._canvas.style.height = full.y + 'px';
    this._dpr = dpr;
    this._draw();
  },
  _draw: function () {
    var map = this._map, ctx = this._canvas.getContext('2d'), n = this._n, app = this._app;
    var s = map.getZoomScale(map.getZoom(), 0), po = map.getPixelOrigin(), rule = app.rule().id;
    var ox = po.x + this._origin.x, oy = po.y + this._origin.y, W = this._size.x, H = this._size.y;
    var r = this._radius(), colours = app.o.dot, i, k, x, y, cls = new Int8Array(n);
    ctx.setTransform(this._dpr, 0, 0, this._dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    for (i = 0; i < n; i++) {
      x = this._px[i] * s - ox; y = this._py[i] * s - oy;
      this._cx[i] = x; this._cy[i] = y;
      cls[i] = (x < -r || y < -r || x > W + r || y > H + r) ? -1 : this.cls(i, rule);
    }
    for (k = 0; k < colours.length; k++) {
      ctx.beginPath();
      for (i = 0; i < n; i++) {
        if (cls[i] !== k) { continue; }
        ctx.moveTo(this._cx[i] + r, this._cy[i]); ctx.arc(this._cx[i], this._cy[i], r, 0, 6.2832);
      }
      ctx.fillStyle = colours[k]; ctx.fill();
      ctx.lineWidth = k === 3 ? 1 : 0.7; ctx.strokeStyle = k === 3 ? '#777' : 'rgba(255,255,255,0.95)'; ctx.stroke();
    }
    ctx.beginPath();
    for (i = 0; i < n; i++) {
      if (cls[i] !== 1 && cls[i] !== 2) { continue; }
      ctx.moveTo(this._cx[i] + r + 1.5, this._cy[i]); ctx.arc(this._cx[i], this._cy[i], r + 1.5, 0, 6.2832);
    }
    ctx.lineWidth = 1.1 + 0.3 * r; ctx.strokeStyle = '#111'; ctx.stroke();
  },
  /* typical distance in pixels between neighbouring dots at this zoom (median over a sample) */
  _spacing: function () {
    var n = this._n, step = Math.max(1, Math.floor(n / 200)), ds = [], i, j, dx, dy, best;
    if (n < 2) { return Infinity; }
    for (i = 0; i < n; i += step) {
      best = Infinity;
      for (j = 0; j < n; j++) {
        if (j === i) { continue; }
        dx = this._cx[i] - this._cx[j]; dy = this._cy[i] - this._cy[j];
        best = Math.min(best, dx * dx + dy * dy);
      }
      ds.push(best);
    }
    ds.sort(function (a, b) { return a - b; });
    return Math.sqrt(ds[ds.length >> 1]);
  },
  _nearest: function (cp, slack) {
    var lp = this._map.containerPointToLayerPoint(cp);
    var x = lp.x - this._origin.x, y = lp.y - this._origin.y, r = this._radius() + slack;
    var best = -1, bd = r * r, i, dx, dy, dd;
    for (i = 0; i < this._n; i++) {
      dx = this._cx[i] - x; dy = this._cy[i] - y; dd = dx * dx + dy * dy;
      if (dd <= bd) { bd = dd; best = i; }
    }
    return best;
  },
  /* a resident is named by its community (the point id is internal: never shown) */
  _head: function (i) { var d = this._d; return d.cn[d.c[i]]; },
  /* the walk to item r as text, consistent with the verdict (never "5.0 min, not covered") */
  text: function (i, r) {
    var lab = this._app.o.lab, c = this.cls(i, r.id), dm, v, lim;
    if (c === 3) { return lab.unplaced; }
    if (c === 4) { return lab.nodata_short; }
    dm = this._app.live ? this._app.live.dist(r.type, i) : null;
    if (dm === null) { dm = (this._d.d[r.type] || [])[i]; }
    if (dm === undefined || dm < 0) { return lab.none_reach + ' · ' + lab.not_covered; }
    if (r.inM) {
      lim = Math.floor(r.thrM + 1e-9);
      v = (c === 0 ? Math.min(dm, lim) : Math.max(dm, lim + 1)) + ' ' + lab.metres;
    } else {
      lim = Math.floor(r.thrMin * 10 + 1e-9);
      v = Math.round(dm / r.speed * 10);
      v = ((c === 0 ? Math.min(v, lim) : Math.max(v, lim + 1)) / 10).toFixed(1) + ' ' + lab.min;
    }
    return v + ' · ' + (c === 0 ? lab.covered : lab.not_covered);
  },
  /* where the finger really went down: the browser moves a tap's click towards a nearby button
     or icon ("touch adjustment"), which would hand a tap on a dot to the facility beside it */
  _down: function (e) {
    this._lastPointer = e.pointerType;
    this._downAt = {x: e.clientX, y: e.clientY, t: Date.now()};
    if (e.pointerType !== 'mouse') { this._hide(); }
  },
  _hover: function (e) {
    if (e.pointerType !== 'mouse' || e.buttons) { return; }
    if (this._raf) { return; }
    var self = this, ev = {clientX: e.clientX, clientY: e.clientY, target: e.target};
    this._raf = L.Util.requestAnimFrame(function () { self._raf = null; self._pick(ev); });
  },
  _inPanel: function (t) {
    return t && t.closest && t.closest('.circles-head, .circles-sheet, .leaflet-control, .leaflet-popup-pane');
  },
  _pick: function (e) {
    if (!this._map || this._inPanel(e.target)) { this._hide(); return; }
    var map = this._map, best = this._nearest(map.mouseEventToContainerPoint(e), 3), r = this._app.rule();
    if (best < 0) { this._hide(); return; }
    this._tip.setLatLng([this._lat[best], this._lng[best]])
      .setContent('<b>' + C.esc(this._head(best)) + '</b><br>' + C.esc(r.name) + ': ' + C.esc(this.text(best, r)));
    if (!map.hasLayer(this._tip)) { map.openTooltip(this._tip); }
  },
  /* A click or tap on a resident's dot opens the resident (walking minutes to every item). It is
     caught before Leaflet sees it, so that it wins over the community underneath and over a
     facility icon whose centre is farther from the tap than the dot; clicks on panels and
     popups are left alone. */
  _click: function (e) {
    var map = this._map;
    if (!map || (map.dragging && map.dragging.moved()) || this._inPanel(e.target)) { return; }
    var touch = this._lastPointer && this._lastPointer !== 'mouse', at = e;
    /* dots closer than a finger: the tap opens the community under it (its status), not a dot */
    if (touch && this._spacing() < 16) { return; }
    if (touch && this._downAt && Date.now() - this._downAt.t < 1500) { at = {clientX: this._downAt.x, clientY: this._downAt.y}; }
    var cp = map.mouseEventToContainerPoint(at), best = this._nearest(cp, touch ? 8 : 2);
    this._hide();
    if (best < 0) { return; }
    var icon = e.target.closest && e.target.closest('.leaflet-marker-icon');
    if (icon) {
      var b = icon.getBoundingClientRect(), c = map.getContainer().getBoundingClientRect();
      var ix = b.left + b.width / 2 - c.left, iy = b.top + b.height / 2 - c.top;
      var px = this._cx[best] + this._origin.x, py = this._cy[best] + this._origin.y;
      var rp = map.layerPointToContainerPoint([px, py]);
      if ((ix - cp.x) * (ix - cp.x) + (iy - cp.y) * (iy - cp.y) < (rp.x - cp.x) * (rp.x - cp.x) + (rp.y - cp.y) * (rp.y - cp.y)) {
        return;
      }
    }
    L.DomEvent.stop(e);
    this.open(best);
  },
  open: function (i) {
    var app = this._app, rows = '', sel = app.rule().id, self = this;
    app.o.rules.forEach(function (r) {
      var c = self.cls(i, r.id), cls = c === 0 ? 'ok' : (c >= 3 ? 'nd' : 'no');
      rows += '<tr class="' + cls + (r.id === sel ? ' sel' : '') + '"><td>' + C.esc(r.name) + '<br><small>'
        + C.esc(app.o.lab.threshold) + ' ' + C.esc(r.text) + '</small></td><td>' + C.esc(self.text(i, r)) + '</td></tr>';
    });
    this._hide();
    var link = app.ui && app.ui.panes && app.ui.panes.community
      ? ' <a href="#" class="circles-to-community">' + C.esc(app.o.lab.community_status) + '</a>' : '';
    C.popup('<b>' + C.esc(this._head(i)) + '</b>' + link + '<div class="circles-sub">' + C.esc(app.o.lab.minutes_to)
            + '</div><table>' + rows + '</table>', 'circles-resident')
      .setLatLng([this._lat[i], this._lng[i]]).openOn(this._map);
  },
  _hide: function () {
    if (this._map && this._tip && this._map.hasLayer(this._tip)) { this._map.closeTooltip(this._tip); }
  }
});

/* ---------------------------------------------------------------------------------------------
   Labels that never overlap: placed in order (most failing items first), hidden when they would
   cover one already placed.
   ------------------------------------------------------------------------------------------ */
C.labels = function (map, items, pane, cls, minZoom) {
  var ms = items.map(function (l) {
    var rot = l[4] ? ' style="transform:translate(-50%,-50%) rotate(' + (+l[4]) + 'deg)"' : '';
    var html = '<span' + rot + '>' + C.esc(l[2]) + (l[3] ? '<small>' + C.esc(l[3]) + '</small>' : '') + '</span>';
    var m = L.marker([l[0], l[1]], {pane: pane, interactive: false, keyboard: false,
      icon: L.divIcon({className: cls, html: html, iconSize: null})});
    m._angle = +l[4] || 0;
    return m;
  });
  var g = L.layerGroup(ms);
  /* reads first (sizes, measured once), then the placement, then the writes: no layout thrashing */
  g.cull = function () {
    if (!map.hasLayer(g)) { return; }
    var placed = [], size = map.getSize(), z = map.getZoom(), c = map.getContainer().getBoundingClientRect();
    var els = ms.map(function (m) { return m._icon && m._icon.firstChild; });
    ms.forEach(function (m, i) { if (els[i] && !m._w) { m._w = els[i].offsetWidth; m._h = els[i].offsetHeight; } });
    Array.prototype.forEach.call(map.getContainer().querySelectorAll('.circles-head, .circles-sheet'), function (el) {
      var r = el.getBoundingClientRect();
      if (r.width && r.height) { placed.push([r.left - c.left, r.top - c.top, r.right - c.left, r.bottom - c.top]); }
    });
    var show = ms.map(function (m, i) {
      if (!els[i] || z < minZoom) { return false; }
      var a = m._angle * Math.PI / 180, w = Math.abs(m._w * Math.cos(a)) + Math.abs(m._h * Math.sin(a)),
          h = Math.abs(m._w * Math.sin(a)) + Math.abs(m._h * Math.cos(a));
      var p = map.latLngToContainerPoint(m.getLatLng());
      var b = [p.x - w / 2 - 2, p.y - h / 2 - 1, p.x + w / 2 + 2, p.y + h / 2 + 1];
      var ok = b[2] > 0 && b[3] > 0 && b[0] < size.x && b[1] < size.y && placed.every(function (q) {
        return b[2] < q[0] || b[0] > q[2] || b[3] < q[1] || b[1] > q[3]; });
      if (ok) { placed.push(b); }
      return ok;
    });
    els.forEach(function (el, i) { if (el) { el.style.visibility = show[i] ? 'visible' : 'hidden'; } });
  };
  map.on('zoomend moveend resize', g.cull);
  g.on('add', function () { setTimeout(g.cull, 0); });
  return g;
};

/* ---------------------------------------------------------------------------------------------
   The map: layers, the header (title, item selector, walking-area minutes) and one sheet (legend,
   table, layers) that is a collapsed bottom bar on small screens and a side panel on large ones.
   ------------------------------------------------------------------------------------------ */
C.app = function (map, d, o) {
  var A = {map: map, d: d, o: o, st: {rule: o.rule, area: null, types: {}, auto: true}, fac: {}, areas: {}};
  map._circles = A;
  C.current = A;
  var org = d.o, lab = o.lab, container = map.getContainer();
  var rules = {};
  o.rules.forEach(function (r) { rules[r.id] = r; });
  A.rule = function () { return rules[A.st.rule] || o.rules[0]; };

  /* streets (the basemap offline) */
  if (d.streets.length) {
    var lines = [];
    d.streets.forEach(function (f) { f.forEach(function (l) { lines.push(C.dec(l, org)); }); });
    A.streets = L.polyline(lines, {pane: 'circles-streets', interactive: false,
      renderer: L.canvas({pane: 'circles-streets', padding: 0.3}),
      color: o.street.color, weight: o.street.weight, opacity: o.street.opacity}).addTo(map);
  }
  if (d.streetsImg) {
    A.streets = L.imageOverlay(d.streetsImg.url, d.streetsImg.b, {pane: 'circles-streets', interactive: false,
      className: 'circles-streets-img'}).addTo(map);
  }
  if (d.roads && d.roads.length) {
    A.roads = C.labels(map, d.roads, 'circles-roads', 'circles-road', 16).addTo(map);
  }

  /* communities: fill = number of failing items */
  A.comm = L.featureGroup();
  d.comm.forEach(function (c) {
    var focus = c[5] === 1;
    var pl = L.polygon(C.decPolys(c[0], org), {className: 'circles-community' + (focus ? ' circles-focus' : ''),
      color: focus ? '#111' : '#4d4d4d', weight: focus ? 3.5 : (o.focus ? 1.3 : 1.5), opacity: 1,
      dashArray: (o.focus && !focus) ? '5 4' : null, fillColor: o.failColours[c[3]],
      fillOpacity: o.focus ? (focus ? 0.22 : 0.12) : (d.res ? 0.4 : 0.6)});
    pl.bindPopup(C.popup(c[4], 'circles-cpop'));
    A.comm.addLayer(pl);
  });
  A.comm.addTo(map);
  A.labels = C.labels(map, d.labels, 'circles-labels', 'circles-label', 0).addTo(map);

  /* walking areas: only the selected item's type, at one of its distances (or none) */
  A.areaLayer = function (t, i) {
    var key = t + '|' + i;
    if (!A.areas[key]) {
      var e = d.areas[t][i], polys = [];
      e.g.forEach(function (f) { polys = polys.concat(C.decPolys(f, org)); });
      A.areas[key] = L.polygon(polys, {pane: 'circles-areas', interactive: false, className: 'circles-area',
        color: o.types[t].colour, weight: 2, opacity: 0.95, fillColor: o.types[t].colour, fillOpacity: 0.2});
    }
    return A.areas[key];
  };
  A.setArea = function (i) {
    if (A.shownArea) { map.removeLayer(A.shownArea); A.shownArea = null; }
    A.st.area = i;
    var t = A.rule().type;
    if (i !== null && d.areas && d.areas[t] && d.areas[t][i]) { A.shownArea = A.areaLayer(t, i).addTo(map); }
    A.ui && A.ui.update();
  };
  /* the whole minutes an area of e.d metres takes at the selected item's own speed (items of one
     type may walk at different speeds), or null: the button then says metres */
  A.areaMinutes = function (e, r) {
    var m = e.d / (r.speed || 1);
    return Math.abs(m - Math.round(m)) < 0.02 ? Math.round(m) : null;
  };
  A.defaultArea = function (r) {
    var list = (d.areas && d.areas[r.type]) || [], i;
    for (i = 0; i < list.length; i++) { if (Math.abs(list[i].d - r.thrM) <= 1) { return i; } }
    return null;
  };

  /* facilities per type (built when first shown) */
  A.facLayer = function (t) {
    if (!A.fac[t]) {
      var info = o.types[t], pts = d.fac[t] || [];
      var icon = function (aside) {
        return L.divIcon({className: 'circles-fac cf-' + info.i + (aside ? ' circles-aside' : ''),
                          html: C.esc(info.icon), iconSize: [22, 22]}); };
      var on = icon(false), off = icon(true), g;
      var ms = pts.map(function (p) {
        return L.marker([p[0], p[1]], {icon: p[2] ? on : off, title: p[3], riseOnHover: true})
          .bindPopup(C.popup(function () { return C.facPopup(p, info, o.lab); }, 'circles-fpop'));
      });
      if (o.cluster && L.markerClusterGroup) {
        g = L.markerClusterGroup({maxClusterRadius: 45, disableClusteringAtZoom: 18, showCoverageOnHover: false,
          chunkedLoading: true, iconCreateFunction: function (c) {
            return L.divIcon({html: '<div class="cf-' + info.i + '">' + c.getChildCount() + '</div>',
                              className: 'circles-cluster', iconSize: [30, 30]}); }});
        g.addLayers(ms);
      } else {
        g = L.featureGroup(ms);
      }
      var parts = [g];
      if (d.facAreas && d.facAreas[t]) {
        var polys = [];
        d.facAreas[t].forEach(function (f) { polys = polys.concat(C.decPolys(f, org)); });
        parts.push(L.polygon(polys, {pane: 'circles-areas', interactive: false, className: 'circles-fac-area',
          color: info.colour, weight: 1.5, opacity: 0.9, fillColor: info.colour, fillOpacity: 0.25}));
      }
      A.fac[t] = L.featureGroup(parts);
    }
    return A.fac[t];
  };
  A.showType = function (t, on) {
    A.st.types[t] = on;
    if (on) { A.facLayer(t).addTo(map); } else if (A.fac[t]) { map.removeLayer(A.fac[t]); }
  };
  A.showTypes = function (which) {
    Object.keys(o.types).forEach(function (t) { A.showType(t, which === 'all' || t === which); });
    A.ui && A.ui.update();
  };

  /* extra marks (what-if changes, planned facilities, proposed sites); a group "byRule" shows
     only the items of the selected item */
  A.markLayer = function (g, items) {
    return L.featureGroup(items.map(function (it) {
      if (g.kind === 'ring') {
        return L.circleMarker([it[0], it[1]], {pane: 'circles-marks', radius: 10, color: g.colour, weight: 3,
          fill: false, interactive: false, className: 'circles-mark-ring'});
      }
      if (g.kind === 'dot') {
        return L.circleMarker([it[0], it[1]], {pane: 'circles-marks', radius: A.projector ? 6 : 3.5, color: '#fff', weight: 1,
          fillColor: g.colour, fillOpacity: 1, interactive: false, className: 'circles-mark-dot'});
      }
      if (g.kind === 'area') {
        return L.polygon(it[6], {pane: 'circles-areas', color: g.colour, weight: 2.5, dashArray: '6 4', opacity: 0.9,
          fillColor: g.colour, fillOpacity: 0.12, interactive: false, className: 'circles-mark-area'});
      }
      var m = L.marker([it[0], it[1]], {icon: L.divIcon({className: 'circles-mark circles-mark-' + g.kind,
        html: '<span style="background:' + g.colour + '">' + C.esc(it[2]) + '</span>', iconSize: [28, 28]}),
        title: String(it[3] || ''), zIndexOffset: 1000});
      if (it[4]) { m.bindPopup(C.popup(it[4], 'circles-mpop')); }
      return m;
    }));
  };
  A.marks = (d.marks || []).map(function (g) { return {g: g, on: true, layers: {}}; });
  A.updateMarks = function () {
    A.marks.forEach(function (m) {
      var key = m.g.byRule ? A.st.rule : (m.g.byType ? 'type:' + A.rule().type : ''), k;
      if (!m.layers[key]) {
        m.layers[key] = A.markLayer(m.g, m.g.byRule ? m.g.items.filter(function (it) { return it[5] === key; })
          : (m.g.byType ? m.g.items.filter(function (it) { return 'type:' + it[5] === key; }) : m.g.items));
      }
      for (k in m.layers) {
        var show = m.on && k === key;
        if (show && !map.hasLayer(m.layers[k])) { m.layers[k].addTo(map); }
        if (!show && map.hasLayer(m.layers[k])) { map.removeLayer(m.layers[k]); }
      }
    });
  };

  /* residents */
  if (d.res) { A.points = new C.Points(d.res, A).addTo(map); }

  A.setRule = function (id) {
    if (!rules[id]) { return; }
    A.st.rule = id;
    var r = rules[id];
    if (A.st.auto) { Object.keys(o.types).forEach(function (t) { A.showType(t, t === r.type); }); }
    A.setArea(A.defaultArea(r));
    if (A.points) { A.points.redraw(); }
    A.updateMarks();
    A.ui && A.ui.update();
    if (A.live) { A.live.onRule(); }
  };

  A.ui = C.ui(A);
  A.setRule(o.rule);

  /* the free part of the map (container pixels), clear of the header and the sheet */
  A.free = function () {
    var c = container.getBoundingClientRect(), W = c.width, H = c.height, f = {left: 6, top: 6, right: W - 6, bottom: H - 6};
    var h = C.rect(A.ui.head), s = C.rect(A.ui.sheet);
    if (h) { f.top = Math.max(f.top, h.bottom - c.top + 6); }
    if (s) {
      if (A.ui.narrow) { f.bottom = Math.min(f.bottom, s.top - c.top - 6); } else { f.right = Math.min(f.right, s.left - c.left - 6); }
    }
    Array.prototype.forEach.call(container.querySelectorAll('.leaflet-bottom .leaflet-control'), function (el) {
      var b = el.getBoundingClientRect();
      if (b.width && b.height) { f.bottom = Math.min(f.bottom, b.top - c.top - 4); }
    });
    return f;
  };
  A.popupOptions = function () {
    var c = container.getBoundingClientRect(), f = A.free();
    return {maxWidth: Math.max(160, Math.min(440, f.right - f.left - 48)), minWidth: 50,
            maxHeight: Math.max(90, f.bottom - f.top - 64), autoPan: true,
            autoPanPaddingTopLeft: L.point(f.left, f.top), autoPanPaddingBottomRight: L.point(c.width - f.right, c.height - f.bottom)};
  };
  A.fit = function (b, animate) {
    var c = container.getBoundingClientRect(), f = A.free();
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {paddingTopLeft: [f.left + 4, f.top + 4],
      paddingBottomRight: [c.width - f.right + 4, c.height - f.bottom + 4], maxZoom: o.fitMaxZoom, animate: !!animate});
  };
  if (d.live && C.live) { A.live = C.live(A, d.live); if (A.points) { A.points.redraw(); } }
  if (C.notesApp) { A.notes = C.notesApp(A); }
  A.fit(o.bounds, false);
  container.setAttribute('data-circles-ready', '1');
  return A;
};

/* The header and the sheet. */
C.ui = function (A) {
  var map = A.map, o = A.o, lab = o.lab, container = map.getContainer(), U = {};
  U.head = C.el('div', 'circles-head', null, container);
  C.el('div', 'circles-title', o.title, U.head);
  var ctl = C.el('div', 'circles-ctl', null, U.head);
  U.select = C.el('select', 'circles-rule', null, ctl);
  U.select.setAttribute('aria-label', lab.item);
  o.rules.forEach(function (r) {
    var op = C.el('option', null, null, U.select);
    op.value = r.id;
    op.textContent = r.name + ' · ' + r.text + (r.note ? ' · ' + r.note : '');
  });
  U.select.addEventListener('change', function () { A.setRule(U.select.value); });
  U.mins = C.el('span', 'circles-mins', null, ctl);
  U.mins.setAttribute('role', 'group');
  U.mins.setAttribute('title', lab.areas);

  U.sheet = C.el('div', 'circles-sheet', null, container);
  var tabs = C.el('div', 'circles-tabs', null, U.sheet);
  U.body = C.el('div', 'circles-body', null, U.sheet);
  var panes = [{key: 'legend', label: lab.tab_legend}].concat(o.tabs || []).concat([{key: 'layers', label: lab.tab_layers}]);
  U.tabs = {};
  U.panes = {};
  panes.forEach(function (p) {
    var b = C.el('button', 'circles-tab', C.esc(p.label), tabs);
    b.type = 'button';
    b.setAttribute('data-tab', p.key);
    b.addEventListener('click', function () { U.show(p.key, true); });
    U.tabs[p.key] = b;
    U.panes[p.key] = C.el('div', 'circles-pane', p.html || '', U.body);
    U.panes[p.key].setAttribute('data-pane', p.key);
  });
  /* projector mode (a button, or ?projector=1 in the address): large text, dots and icons */
  U.projector = function (on) {
    A.projector = on;
    container.classList.toggle('circles-projector', on);
    U.proj.classList.toggle('on', on);
    if (A.points) { A.points.redraw(); }
    map.invalidateSize();
  };
  U.proj = C.el('button', 'circles-proj', C.esc(lab.projector), tabs);
  U.proj.type = 'button';
  U.proj.title = lab.projector_hint;
  U.proj.addEventListener('click', function () { U.projector(!A.projector); U.layout(); });
  U.toggle = C.el('button', 'circles-toggle', '', tabs);
  U.toggle.type = 'button';
  U.toggle.addEventListener('click', function () { U.open(!U.isOpen); });
  [U.head, U.sheet].forEach(function (el) {
    L.DomEvent.disableClickPropagation(el); L.DomEvent.disableScrollPropagation(el);
  });

  /* legend: what changes with the selected item, then the rest */
  U.legendDyn = C.el('div', 'circles-legend-dyn', null, U.panes.legend);
  C.el('div', 'circles-legend-static', o.legend, U.panes.legend);

  /* layers */
  var lp = U.panes.layers, boxes = {};
  var check = function (key, text, on, fn, parent) {
    var l = C.el('label', 'circles-check', null, parent || lp), i = C.el('input', null, null, l);
    i.type = 'checkbox'; i.checked = on;
    C.el('span', null, text, l);
    i.addEventListener('change', function () { fn(i.checked); });
    boxes[key] = i;
    return i;
  };
  var toggleLayer = function (layer) { return function (on) { if (!layer) { return; } if (on) { layer.addTo(map); } else { map.removeLayer(layer); } }; };
  if (A.points) { check('residents', C.esc(lab.layers_residents), true, toggleLayer(A.points)); }
  check('communities', C.esc(lab.layers_communities), true, toggleLayer(A.comm));
  check('labels', C.esc(lab.layers_labels), true, toggleLayer(A.labels));
  if (A.streets) { check('streets', C.esc(lab.layers_streets), true, toggleLayer(A.streets)); }
  if (A.roads) { check('roads', C.esc(lab.layers_roadnames), true, toggleLayer(A.roads)); }
  A.marks.forEach(function (m, k) {
    check('mark' + k, C.esc(m.g.name), true, function (on) { m.on = on; A.updateMarks(); });
  });
  C.el('div', 'circles-subhead', C.esc(lab.layers_facilities), lp);
  var qb = C.el('div', 'circles-quick', null, lp);
  [['sel', lab.only_selected], ['all', lab.all_types]].forEach(function (q) {
    var b = C.el('button', null, C.esc(q[1]), qb);
    b.type = 'button';
    b.addEventListener('click', function () { A.st.auto = q[0] === 'sel'; A.showTypes(q[0] === 'sel' ? A.rule().type : 'all'); });
  });
  var tl = C.el('div', 'circles-typelist', null, lp);
  Object.keys(o.types).forEach(function (t) {
    var info = o.types[t];
    if (!info.n) { return; }
    check('type:' + t, '<span class="circles-fac circles-mini cf-' + info.i + '">' + C.esc(info.icon) + '</span>'
      + C.esc(info.name) + ' (' + info.n + ')', false, function (on) { A.st.auto = false; A.showType(t, on); }, tl);
  });

  /* tables: a community row zooms there; an item row selects the item */
  Array.prototype.forEach.call(U.body.querySelectorAll('[data-b]'), function (el) {
    el.addEventListener('click', function (e) {
      if (e.target.closest('a')) { return; }
      if (U.narrow) { U.open(false); }
      A.fit(JSON.parse(el.getAttribute('data-b')), true);
    });
  });
  Array.prototype.forEach.call(U.body.querySelectorAll('tr[data-rule]'), function (el) {
    el.addEventListener('click', function () { A.setRule(el.getAttribute('data-rule')); });
  });

  U.show = function (key, user) {
    if (user && U.isOpen && U.current === key) { U.open(false); return; }
    U.current = key;
    Object.keys(U.panes).forEach(function (k) {
      U.panes[k].style.display = k === key ? '' : 'none';
      U.tabs[k].classList.toggle('on', k === key);
    });
    U.open(true);
  };
  U.open = function (on) {
    U.isOpen = on;
    U.sheet.classList.toggle('open', on);
    U.toggle.textContent = on ? (U.narrow ? '▾' : '▸') : (U.narrow ? '▴' : '◂');
    U.toggle.setAttribute('aria-label', on ? lab.close : lab.open);
    U.layout();
  };
  /* the side sheet's body ends above the bottom-right controls, however tall its tabs wrap */
  U.sideRoom = function (H) {
    if (!U.isOpen) { return H; }
    var c = container.getBoundingClientRect(), s = U.sheet.getBoundingClientRect(), b = U.body.getBoundingClientRect();
    var cs = window.getComputedStyle(U.body), floor = H;
    Array.prototype.forEach.call(container.querySelectorAll('.leaflet-bottom.leaflet-right .leaflet-control'), function (el) {
      var r = el.getBoundingClientRect();
      if (r.width && r.height) { floor = Math.min(floor, r.top - c.top); }
    });
    var chrome = s.height - b.height + parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom);
    return Math.max(80, Math.floor(floor - 6 - (s.top - c.top) - chrome));
  };
  U.layout = function () {
    var W = container.clientWidth, H = container.clientHeight;
    U.narrow = W < 700;  /* a landscape phone (844×390) keeps the side layout, the sheet ≤ 36 % wide */
    container.classList.toggle('circles-short', H < 500);
    container.classList.toggle('circles-narrow', U.narrow);
    U.body.style.maxHeight = (U.narrow ? Math.round(0.5 * H) : Math.min(Math.max(120, Math.min(Math.round(0.6 * H), H - 190)), U.sideRoom(H))) + 'px';
    var lift = U.narrow ? Math.ceil(U.sheet.getBoundingClientRect().height) + 1 : 0;
    Array.prototype.forEach.call(container.querySelectorAll('.leaflet-bottom'), function (el) { el.style.bottom = lift + 'px'; });
  };
  U.update = function () {
    var r = A.rule(), info = o.types[r.type] || {}, areas = (A.d.areas && A.d.areas[r.type]) || [];
    U.select.value = r.id;
    /* walking-area minutes */
    var html = '<span class="circles-mins-lab">' + C.esc(lab.areas) + '</span>';
    areas.forEach(function (e, i) {
      var mm = A.areaMinutes(e, r);
      var t = mm !== null ? C.fmt(lab.area_min, {m: mm}) : C.fmt(lab.area_m, {m: Math.round(e.d)});
      html += '<button type="button" data-i="' + i + '"' + (A.st.area === i ? ' class="on"' : '') + '>' + t + '</button>';
    });
    html += '<button type="button" data-i=""' + (A.st.area === null ? ' class="on"' : '') + '>' + C.esc(lab.area_off) + '</button>';
    U.mins.innerHTML = html;
    U.mins.style.display = areas.length ? '' : 'none';  /* nothing to choose: no walking area here */
    Array.prototype.forEach.call(U.mins.querySelectorAll('button'), function (b) {
      b.addEventListener('click', function () { var v = b.getAttribute('data-i'); A.setArea(v === '' ? null : +v); });
    });
    /* legend */
    var dots = o.dot, L2 = [], nd = r.nodata;
    L2.push('<div class="circles-lh">' + C.fmt(lab.residents_for, {item: r.name}) + ' · ' + C.esc(r.text) + '</div>');
    if (A.points) {
      if (nd === 'all' && !info.n) {
        L2.push('<div class="circles-note">' + C.esc(lab.nodata_note) + '</div>');
        L2.push('<div><span class="circles-dot" style="background:' + dots[4] + '"></span>' + C.esc(lab.nodata) + '</div>');
      } else if (nd === 'all') {
        L2.push('<div class="circles-note">' + C.esc(lab.nodata_partial) + '</div>');
        L2.push('<div><span class="circles-dot" style="background:' + dots[0] + '"></span>' + C.esc(lab.within) + '</div>');
        L2.push('<div><span class="circles-dot" style="background:' + dots[4] + '"></span>' + C.esc(lab.nodata) + '</div>');
      } else {
        L2.push('<div><span class="circles-dot" style="background:' + dots[0] + '"></span>' + C.esc(lab.within) + '</div>');
        L2.push('<div><span class="circles-dot circles-ringed" style="background:' + dots[1] + '"></span>' + C.esc(lab.double) + '</div>');
        L2.push('<div><span class="circles-dot circles-ringed" style="background:' + dots[2] + '"></span>' + C.esc(lab.beyond) + '</div>');
        L2.push('<div><span class="circles-ring"></span>' + C.esc(lab.ring) + '</div>');
        if (nd === 'some') {
          L2.push('<div><span class="circles-dot" style="background:' + dots[4] + '"></span>' + C.esc(lab.nodata_some) + '</div>');
        }
      }
      if (o.unplaced) {
        L2.push('<div><span class="circles-dot circles-hollow" style="background:' + dots[3] + '"></span>' + C.esc(lab.unplaced) + '</div>');
      }
    } else if (o.noResidents) {
      L2.push('<div class="circles-note">' + C.esc(o.noResidents) + '</div>');
    }
    if (info.n) {
      L2.push('<div><span class="circles-fac circles-mini cf-' + info.i + '">' + C.esc(info.icon) + '</span>'
        + C.fmt(info.aside ? lab.facilities_aside : lab.facilities_n, {type: info.name, n: info.n}) + '</div>');
    }
    if (A.live && A.live.changed(r.type)) {  /* under a scenario the reached streets replace the area */
      L2.push('<div><span class="circles-sw" style="background:' + info.colour + ';opacity:.55;height:5px"></span>'
        + C.fmt(lab.live_reached, {type: info.name, thr: r.text}) + '</div>');
    } else if (A.st.area !== null && areas[A.st.area]) {
      var e = areas[A.st.area];
      L2.push('<div><span class="circles-sw" style="background:' + info.colour + ';opacity:.45;border:2px solid ' + info.colour + '"></span>'
        + C.fmt(lab.area_of, {type: info.name, thr: A.areaMinutes(e, r) !== null
          ? C.fmt(lab.area_thr_min, {m: A.areaMinutes(e, r), d: Math.round(e.d)}) : C.fmt(lab.area_m, {m: Math.round(e.d)})}) + '</div>');
    } else if (A.defaultArea(r) === null && areas.length) {
      L2.push('<div class="circles-muted">' + C.fmt(lab.no_area, {thr: r.text}) + '</div>');
    } else if (o.noAreas) {
      L2.push('<div class="circles-muted">' + C.esc(o.noAreas) + '</div>');
    }
    U.legendDyn.innerHTML = L2.join('');
    /* layer boxes follow the state */
    Object.keys(o.types).forEach(function (t) { if (boxes['type:' + t]) { boxes['type:' + t].checked = !!A.st.types[t]; } });
    Array.prototype.forEach.call(U.body.querySelectorAll('tr[data-rule]'), function (el) {
      el.classList.toggle('sel', el.getAttribute('data-rule') === r.id); });
  };

  if (/[?&]projector=1\b/.test(window.location.search)) { U.projector(true); }
  U.layout();
  U.show(o.tab || 'legend');
  /* the sheet starts open at the side of a large screen, collapsed on a phone (either way up) */
  U.roomy = function () { return !U.narrow && container.clientHeight >= 500; };
  U.open(U.roomy());
  map.on('resize', function () { var was = U.narrow; U.layout(); if (was !== U.narrow) { U.open(U.roomy()); } });
  /* "this community" in a resident's popup opens the community's status */
  container.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('.circles-to-community');
    if (a) { e.preventDefault(); map.closePopup(); U.show('community'); }
  });
  /* a tap on the map closes the sheet on a small screen */
  container.addEventListener('click', function (e) {
    if (U.narrow && U.isOpen && !(e.target.closest && e.target.closest('.circles-head, .circles-sheet'))) { U.open(false); }
  }, true);
  return U;
};
})();
