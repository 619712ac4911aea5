(function () {
if (window.circles) { return; }
var C = window.circles = {};
C.setup = function (map, o) {
  [['circles-streets', 250], ['circles-areas', 380], ['circles-residents', 450]].forEach(function (p) {
    var el = map.getPane(p[0]) || map.createPane(p[0]);
    el.style.zIndex = p[1];
    el.style.pointerEvents = 'none';
  });
  map.setMaxZoom(o.maxZoom);
  if (o.offline) { map.getContainer().classList.add('circles-offline'); }
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(o.attribution);
  L.control.scale({imperial: false, maxWidth: 150}).addTo(map);
};
C.streets = function (gj, o) {
  return L.geoJSON(gj, {pane: 'circles-streets', interactive: false,
    renderer: L.canvas({pane: 'circles-streets', padding: 0.3}),
    style: {color: o.color, weight: o.weight, opacity: o.opacity}});
};
C.areas = function (gj, o) {
  return L.geoJSON(gj, {pane: 'circles-areas', interactive: false, className: 'circles-area',
    style: {color: o.color, weight: o.weight, opacity: 0.9, fillColor: o.color, fillOpacity: o.fill,
            dashArray: o.dash || null}});
};
C.communities = function (gj, o) {
  return L.geoJSON(gj, {className: 'circles-community',
    style: function (f) { var p = f.properties;
      return {color: p.c, weight: p.w, opacity: 1, fillColor: p.c, fillOpacity: p.f, dashArray: p.d || null}; },
    onEachFeature: function (f, l) { l.bindPopup(f.properties.p, {maxWidth: 480, maxHeight: 360}); }});
};
C.facilities = function (d, o) {
  function icon(aside) {
    return L.divIcon({className: 'circles-fac ' + o.cls + (aside ? ' circles-aside' : ''), html: o.txt,
                      iconSize: [22, 22]});
  }
  var on = icon(false), off = icon(true);
  var ms = d.pts.map(function (p) {
    return L.marker([p[0], p[1]], {icon: p[2] ? on : off, title: p[3], riseOnHover: true})
      .bindPopup(p[4], {maxWidth: 360});
  });
  var g;
  if (o.cluster) {
    g = L.markerClusterGroup({maxClusterRadius: 45, disableClusteringAtZoom: 18, showCoverageOnHover: false,
      chunkedLoading: true, iconCreateFunction: function (c) {
        return L.divIcon({html: '<div class="' + o.cls + '">' + c.getChildCount() + '</div>',
                          className: 'circles-cluster',
                          iconSize: [30, 30]}); }});
    g.addLayers(ms);
  } else {
    g = L.featureGroup(ms);
  }
  var parts = [g];
  if (d.areas) {
    parts.push(L.geoJSON(d.areas, {pane: 'circles-areas', interactive: false, className: 'circles-fac-area',
      style: {color: o.colour, weight: 1.5, opacity: 0.9, fillColor: o.colour, fillOpacity: 0.2}}));
  }
  return L.featureGroup(parts);
};

/* Resident points: one canvas, redrawn on move/zoom; hover and click find the nearest point. */
C.Points = L.Layer.extend({
  initialize: function (d, o) {
    this._d = d; this._o = o; this._type = o.type;
    var n = d.x.length, i;
    this._n = n;
    this._lat = new Float64Array(n); this._lng = new Float64Array(n);
    for (i = 0; i < n; i++) { this._lat[i] = (d.y0 + d.y[i]) / 1e6; this._lng[i] = (d.x0 + d.x[i]) / 1e6; }
    this._unplaced = {};
    (d.u || []).forEach(function (k) { this._unplaced[k] = true; }, this);
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
    this._onClick = L.bind(this._click, this);
    map.getContainer().addEventListener('click', this._onClick, true);
    this._onMove = L.bind(this._hover, this);
    this._onOut = L.bind(this._hide, this);
    map.getContainer().addEventListener('mousemove', this._onMove);
    map.getContainer().addEventListener('mouseleave', this._onOut);
    this._tip = L.tooltip({direction: 'top', className: 'circles-tip'});
    this._reset();
  },
  onRemove: function (map) {
    map.off('moveend zoomend resize viewreset', this._reset, this);
    map.getContainer().removeEventListener('click', this._onClick, true);
    map.getContainer().removeEventListener('mousemove', this._onMove);
    map.getContainer().removeEventListener('mouseleave', this._onOut);
    this._hide();
    L.DomUtil.remove(this._canvas);
  },
  setType: function (t) { this._type = t; if (this._map) { this._draw(); } this.fire('typechange', {type: t}); },
  getType: function () { return this._type; },
  code: function (i, t) {
    var m = this._d.m[t === undefined ? this._type : t];
    if (m) { return m[i]; }
    return this._unplaced[i] ? -2 : -1;
  },
  _text: function (c, t) {
    var lab = this._o.lab, thr = this._o.thr[t];
    if (c === -2) { return lab.unplaced; }
    if (this._o.nd.indexOf(t) >= 0) { return lab.nodata; }
    if (c === -1) { return lab.none; }
    return (c / 10).toFixed(1) + ' ' + lab.min + (c > thr * 10 ? ' (' + lab.beyond + ' ' + thr + ' ' + lab.min + ')' : '');
  },
  _radius: function () { var z = this._map.getZoom(); return z >= 18 ? 6 : (z >= 17 ? 5 : (z >= 16 ? 4 : 3)); },
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
    var map = this._map, ctx = this._canvas.getContext('2d'), o = this._o, n = this._n;
    var s = map.getZoomScale(map.getZoom(), 0), po = map.getPixelOrigin();
    var ox = po.x + this._origin.x, oy = po.y + this._origin.y, W = this._size.x, H = this._size.y;
    var r = this._radius(), thr = o.thr[this._type], bins = o.bins, nb = bins.length;
    var i, k, x, y, c, cls = new Int8Array(n), ring = new Uint8Array(n);
    ctx.setTransform(this._dpr, 0, 0, this._dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    for (i = 0; i < n; i++) {
      x = this._px[i] * s - ox; y = this._py[i] * s - oy;
      this._cx[i] = x; this._cy[i] = y;
      if (x < -r || y < -r || x > W + r || y > H + r) { cls[i] = -1; continue; }
      c = this.code(i);
      if (c === -2) { cls[i] = nb + 2; ring[i] = 1; continue; }
      if (c === -1) { cls[i] = nb + 1; ring[i] = 1; continue; }
      for (k = 0; k < nb && c > bins[k] * 10; k++) { /* find the class */ }
      cls[i] = k;
      ring[i] = c > thr * 10 ? 1 : 0;
    }
    for (k = 0; k <= nb + 2; k++) {
      ctx.beginPath();
      for (i = 0; i < n; i++) {
        if (cls[i] !== k) { continue; }
        x = this._cx[i]; y = this._cy[i];
        ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 6.2832);
      }
      ctx.fillStyle = o.colours[k]; ctx.fill();
      ctx.lineWidth = 0.6; ctx.strokeStyle = 'rgba(255,255,255,0.9)'; ctx.stroke();
    }
    ctx.beginPath();
    for (i = 0; i < n; i++) {
      if (cls[i] < 0 || !ring[i]) { continue; }
      x = this._cx[i]; y = this._cy[i];
      ctx.moveTo(x + r + 1.5, y); ctx.arc(x, y, r + 1.5, 0, 6.2832);
    }
    ctx.lineWidth = 1.2 + 0.3 * r; ctx.strokeStyle = '#111'; ctx.stroke();
  },
  _hover: function (e) {
    if (this._raf) { return; }
    var self = this;
    this._raf = L.Util.requestAnimFrame(function () { self._raf = null; self._pick(e); });
  },
  _nearest: function (cp, slack) {
    var lp = this._map.containerPointToLayerPoint(cp);
    var x = lp.x - this._origin.x, y = lp.y - this._origin.y, r = this._radius() + (slack === undefined ? 3 : slack);
    var best = -1, bd = r * r;
    var i, dx, dy, dd;
    for (i = 0; i < this._n; i++) {
      dx = this._cx[i] - x; dy = this._cy[i] - y; dd = dx * dx + dy * dy;
      if (dd <= bd) { bd = dd; best = i; }
    }
    return best;
  },
  _head: function (i) { var d = this._d; return d.cn[d.c[i]] + (d.id ? ' · ' + d.id[i] : ''); },
  _pick: function (e) {
    if (!this._map) { return; }
    var map = this._map, best = this._nearest(map.mouseEventToContainerPoint(e));
    if (best < 0) { this._hide(); return; }
    this._tip.setLatLng([this._lat[best], this._lng[best]])
      .setContent('<b>' + C.esc(this._head(best)) + '</b><br>' + C.esc(this._o.names[this._type]) + ': '
                  + C.esc(this._text(this.code(best), this._type)));
    if (!map.hasLayer(this._tip)) { map.openTooltip(this._tip); }
  },
  /* a click or tap on a resident's dot: walking minutes to every type (touch screens have no
     hover). Caught before Leaflet sees it, so that it wins over the community underneath (a
     click beside the dots opens the community); clicks on markers, popups and controls are
     left alone. */
  _click: function (e) {
    var map = this._map;
    if (!map || (map.dragging && map.dragging.moved())
        || (e.target.closest && e.target.closest('.leaflet-marker-pane, .leaflet-popup-pane, .leaflet-control'))) { return; }
    var best = this._nearest(map.mouseEventToContainerPoint(e), 1), rows = '', t, c, cls;
    if (best < 0) { return; }
    L.DomEvent.stop(e);
    for (t in this._o.names) {
      c = this.code(best, t);
      cls = this._o.nd.indexOf(t) >= 0 ? 'nd' : (c >= 0 && c <= this._o.thr[t] * 10 ? 'ok' : 'no');
      rows += '<tr class="' + cls + '"><td>' + C.esc(this._o.names[t]) + '</td><td>'
        + C.esc(this._text(c, t)) + '</td></tr>';
    }
    this._hide();
    L.popup({className: 'circles-resident', maxWidth: 360}).setLatLng([this._lat[best], this._lng[best]])
      .setContent('<b>' + C.esc(this._head(best)) + '</b><table>' + rows + '</table>').openOn(map);
  },
  _hide: function () {
    if (this._map && this._tip && this._map.hasLayer(this._tip)) { this._map.closeTooltip(this._tip); }
  }
});
C.esc = function (s) {
  return String(s).replace(/[&<>"']/g, function (ch) {
    return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[ch]; });
};
C.panel = function (map, html, pos, cls) {
  var c = L.control({position: pos});
  c.onAdd = function () {
    var div = L.DomUtil.create('div', 'circles-panel ' + cls);
    div.innerHTML = html;
    L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  return c.addTo(map);
};
C.controls = function (map, pts, o) {
  C.panel(map, o.title, 'topleft', 'circles-title');
  if (pts) {
    var sel = C.panel(map, o.selector, 'topleft', 'circles-selector').getContainer().querySelector('select');
    var upd = function () {
      var t = sel.value;
      pts.setType(t);
      Array.prototype.forEach.call(document.querySelectorAll('.circles-thr'), function (el) {
        el.textContent = o.thr[t]; });
    };
    sel.value = pts.getType();
    sel.addEventListener('change', upd);
    upd();
  }
  C.panel(map, o.legend, 'bottomleft', 'circles-legend');
  var tab = C.panel(map, o.table, 'bottomright', 'circles-table').getContainer();
  Array.prototype.forEach.call(tab.querySelectorAll('[data-b]'), function (el) {
    el.addEventListener('click', function () { var b = JSON.parse(el.getAttribute('data-b'));
      map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {maxZoom: o.fitMaxZoom}); });
  });
  map.fitBounds([[o.bounds[1], o.bounds[0]], [o.bounds[3], o.bounds[2]]],
                {padding: [10, 10], maxZoom: o.fitMaxZoom, animate: false});
  map.getContainer().setAttribute('data-circles-ready', '1');
};
})();
