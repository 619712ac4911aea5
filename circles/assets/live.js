/* Live what-if: place a planned facility (or close one) in a community's map and see at once who
   it serves. The page carries the community's walking graph with the engine's attachment of every
   resident and facility (circles/_live.py); a bounded Dijkstra (binary heap) runs here. */
(function () {
var C = window.circles;
if (!C || C.live) { return; }

/* binary min-heap of (key, node) with lazy deletion */
function Heap() { this.k = []; this.v = []; }
Heap.prototype.push = function (key, node) {
  var k = this.k, v = this.v, i = k.length, p;
  k.push(key); v.push(node);
  while (i > 0) {
    p = (i - 1) >> 1;
    if (k[p] <= key) { break; }
    k[i] = k[p]; v[i] = v[p]; i = p;
  }
  k[i] = key; v[i] = node;
};
Heap.prototype.pop = function () {
  var k = this.k, v = this.v, top = v[0], key = k.pop(), node = v.pop(), n = k.length, i = 0, c;
  if (n) {
    while ((c = 2 * i + 1) < n) {
      if (c + 1 < n && k[c + 1] < k[c]) { c++; }
      if (k[c] >= key) { break; }
      k[i] = k[c]; v[i] = v[c]; i = c;
    }
    k[i] = key; v[i] = node;
  }
  return top;
};

function poly(c, a, b) {
  return c[0] + c[1] * a + c[2] * b + c[3] * a * a + c[4] * a * b + c[5] * b * b
    + c[6] * a * a * a + c[7] * a * a * b + c[8] * a * b * b + c[9] * b * b * b;
}

/* the graph of one community's payload */
function Graph(g) {
  var E = g.eu.length, n = g.n, e, i, deg = new Int32Array(n + 1);
  this.g = g; this.E = E; this.n = n;
  this.u = Int32Array.from(g.eu); this.v = Int32Array.from(g.ev);
  this.len = new Float64Array(E);
  for (e = 0; e < E; e++) { this.len[e] = g.el[e] / 1000; deg[this.u[e] + 1]++; deg[this.v[e] + 1]++; }
  for (i = 0; i < n; i++) { deg[i + 1] += deg[i]; }
  this.start = deg; this.to = new Int32Array(2 * E); this.w = new Float64Array(2 * E);
  var fill = Int32Array.from(deg.subarray(0, n));
  for (e = 0; e < E; e++) {
    this.to[fill[this.u[e]]] = this.v[e]; this.w[fill[this.u[e]]++] = this.len[e];
    this.to[fill[this.v[e]]] = this.u[e]; this.w[fill[this.v[e]]++] = this.len[e];
  }
  this.x = new Float64Array(g.ex.length); this.y = new Float64Array(g.ey.length);
  for (i = 0; i < g.ex.length; i++) { this.x[i] = g.ex[i] / 100; this.y[i] = g.ey[i] / 100; }
  this.ef = g.ef;
}
/* lon/lat -> local metres (the network CRS less the origin) and back */
Graph.prototype.fwd = function (lon, lat) {
  var a = (lon - this.g.ll0[0]) * 1000, b = (lat - this.g.ll0[1]) * 1000;
  return [poly(this.g.fx, a, b), poly(this.g.fy, a, b)];
};
Graph.prototype.bwd = function (x, y) {
  var a = x / 1000, b = y / 1000;
  return [this.g.ll0[0] + poly(this.g.bx, a, b) / 1000, this.g.ll0[1] + poly(this.g.by, a, b) / 1000];
};
/* the nearest position on an edge (ties to the lowest edge, as the engine): {e, s, leg} */
Graph.prototype.attach = function (px, py) {
  var best = Infinity, be = -1, bs = 0, e, k, ax, ay, bx, by, dx, dy, ll, t, d, s0, pl;
  for (e = 0; e < this.E; e++) {
    s0 = 0;
    for (k = this.ef[e]; k < this.ef[e + 1] - 1; k++) {
      ax = this.x[k]; ay = this.y[k]; bx = this.x[k + 1] - ax; by = this.y[k + 1] - ay;
      dx = px - ax; dy = py - ay; ll = bx * bx + by * by; pl = Math.sqrt(ll);
      t = ll > 0 ? Math.min(1, Math.max(0, (dx * bx + dy * by) / ll)) : 0;
      d = Math.hypot(dx - t * bx, dy - t * by);
      if (d < best) { best = d; be = e; bs = Math.min(this.len[e], Math.max(0, s0 + t * pl)); }
      s0 += pl;
    }
  }
  if (be < 0 || best > this.g.maxAttach) { return {e: -1, s: 0, leg: best}; }
  return {e: be, s: bs, leg: best};
};
/* node distances from access points [[e, s, leg], ...], bounded */
Graph.prototype.search = function (src, bound) {
  var d = new Float64Array(this.n).fill(Infinity), h = new Heap(), i, e, a, b, node, du, j, nd;
  for (i = 0; i < src.length; i++) {
    e = src[i][0]; a = src[i][2] + src[i][1]; b = src[i][2] + this.len[e] - src[i][1];
    if (a < d[this.u[e]]) { d[this.u[e]] = a; h.push(a, this.u[e]); }
    if (b < d[this.v[e]]) { d[this.v[e]] = b; h.push(b, this.v[e]); }
  }
  while (h.k.length) {
    du = h.k[0]; node = h.pop();
    if (du > d[node]) { continue; }
    if (du > bound) { break; }
    for (j = this.start[node]; j < this.start[node + 1]; j++) {
      nd = du + this.w[j];
      if (nd < d[this.to[j]]) { d[this.to[j]] = nd; h.push(nd, this.to[j]); }
    }
  }
  return d;
};
/* distance of every resident (Infinity beyond bound or not attached) */
Graph.prototype.residents = function (src, bound) {
  var d = this.search(src, bound), r = this.g.res, n = r.e.length, out = new Float64Array(n);
  var on = {}, i, e, s, best, k, list;
  src.forEach(function (p) { (on[p[0]] = on[p[0]] || []).push(p); });
  for (i = 0; i < n; i++) {
    e = r.e[i];
    if (e < 0) { out[i] = Infinity; continue; }
    s = r.s[i] / 1000;
    best = Math.min(d[this.u[e]] + s, d[this.v[e]] + this.len[e] - s);
    list = on[e];
    if (list) { for (k = 0; k < list.length; k++) { best = Math.min(best, Math.abs(s - list[k][1]) + list[k][2]); } }
    best += r.l[i] / 1000;
    out[i] = best <= bound ? best : Infinity;
  }
  return {res: out, node: d};
};

/* circles.gaps.reach_status */
function reachStatus(covered, share, shareOk, target, short) {
  if (covered <= 0) { return 'gap'; }
  if (shareOk >= target - 1e-9 && !short) { return 'ok'; }
  return share >= target - 1e-9 ? 'undersized' : 'partial';
}
/* point (local metres) inside the rings of an outline (centimetres, flat x, y), even-odd rule */
function insideRings(rings, x, y) {
  var hit = false;
  (rings || []).forEach(function (ring) {
    var n = ring.length / 2, i, j, xi, yi, xj, yj;
    for (i = 0, j = n - 1; i < n; j = i++) {
      xi = ring[2 * i] / 100; yi = ring[2 * i + 1] / 100; xj = ring[2 * j] / 100; yj = ring[2 * j + 1] / 100;
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { hit = !hit; }
    }
  });
  return hit;
}
function absentStatus(s, required) {
  return (required === 'conditional' || required === 'as_needed') && (s === 'gap' || s === 'partial') ? required : s;
}

/* The live what-if of app A (C.app) with payload g. */
C.live = function (A, g) {
  var G = new Graph(g), S = {plan: [], closed: {}, undo: [], seq: 0, base: {}, cur: {}, clsCache: {}}, map = A.map;
  var lab = A.o.lab, rules = {}, facOf = {};
  var setRules = function () { rules = {}; g.rules.forEach(function (r) { rules[r.id] = r; }); };
  setRules();
  /* the overview carries every community: one is judged at a time (g.rc: each resident's) */
  S.ci = -1;
  var mine = function (i) { return !g.rc || g.rc[i] === S.ci; };
  Object.keys(g.fac).forEach(function (t) {
    g.fac[t].forEach(function (f) { facOf[f[0]] = {t: t, f: f}; });
  });
  var boundOf = function (t) {
    var b = 0;
    g.rules.forEach(function (r) { if (r.type === t) { b = Math.max(b, Math.min(2 * r.thrM, g.bound)); } });
    return b || g.bound;
  };
  /* access points [[e, s, leg], ...] of type t's facilities: today's (withPlan false) or the
     scenario's; `only` keeps a subset of the scenario's: 'adequate' (not too small for rule r),
     'sized' (adequate and of known size: planned ones have none), 'planned' */
  var sources = function (t, withPlan, only, r) {
    var src = [], small = only && r ? setOf(r.small) : {}, sized = only && r ? setOf(r.sized) : {};
    if (only !== 'planned') {
      (g.fac[t] || []).forEach(function (f) {
        if (withPlan && S.closed[f[0]]) { return; }
        if ((only === 'adequate' || only === 'sized') && small[f[0]]) { return; }
        if (only === 'sized' && !sized[f[0]]) { return; }
        for (var k = 0; k < f[4].length; k += 3) { src.push([f[4][k], f[4][k + 1] / 1000, f[4][k + 2] / 1000]); }
      });
    }
    if (withPlan && only !== 'sized') {
      S.plan.forEach(function (p) { if (p.t === t && p.at.e >= 0) { src.push([p.at.e, p.at.s, p.at.leg]); } });
    }
    return src;
  };
  var setOf = function (list) { var o = {}; (list || []).forEach(function (k) { o[k] = true; }); return o; };
  var changed = function (t) {
    return S.plan.some(function (p) { return p.t === t; })
      || Object.keys(S.closed).some(function (id) { return S.closed[id] && facOf[id] && facOf[id].t === t; });
  };
  var base = function (t) {
    if (!S.base[t]) { S.base[t] = G.residents(sources(t, false), boundOf(t)); }
    return S.base[t];
  };
  var current = function (t) {
    if (!changed(t)) { return base(t); }
    if (!S.cur[t]) { S.cur[t] = G.residents(sources(t, true), boundOf(t)); }
    return S.cur[t];
  };
  var L = {graph: G, state: S, changed: function (t) { return changed(t); }};
  L.changed = changed;
  /* resident classes of item r when its type changed (else null: the engine's classes stand) */
  L.cls = function (rid) {
    var r = rules[rid];
    if (!r || !changed(r.type) || !r.measured) { return null; }
    var d = current(r.type).res, out = new Int8Array(d.length), i;
    for (i = 0; i < d.length; i++) {
      out[i] = g.res.e[i] < 0 ? 3 : (d[i] <= r.thrM + 1e-6 ? 0 : (d[i] <= 2 * r.thrM + 1e-6 ? 1 : 2));
    }
    return out;
  };
  L.clsCached = function (rid) {
    if (!(rid in S.clsCache)) { S.clsCache[rid] = L.cls(rid); }
    return S.clsCache[rid];
  };
  L.dist = function (t, i) { if (!changed(t)) { return null; } var v = current(t).res[i]; return isFinite(v) ? Math.round(v) : -1; };

  /* residents' distances to the subset `only` of type t's facilities under the scenario */
  var subset = function (r, only) {
    var key = r.type + '|' + only + '|' + r.id;
    if (!S.cur[key]) { S.cur[key] = G.residents(sources(r.type, true, only, r), r.thrM); }
    return S.cur[key].res;
  };
  /* the community's own facilities of rule r under the scenario ([id, size or null]): today's
     inside its boundary less the closed ones, and the planned ones placed inside */
  var ownNow = function (r) {
    var own = (r.inside || []).filter(function (f) { return !S.closed[f[0]]; });
    S.plan.forEach(function (p) { if (p.t === r.type && insideRings(g.outline, p.xy[0], p.xy[1])) { own.push([p.id, null]); } });
    return own;
  };
  /* how many adequate facilities (not too small; planned ones count) residents of the community
     reach within the threshold (circles.gaps: facilities_within, min_count) */
  var reachedCount = function (r) {
    var res = g.res, src = [], i, small = setOf(r.small), n = 0;
    for (i = 0; i < res.e.length; i++) { if (res.e[i] >= 0 && mine(i)) { src.push([res.e[i], res.s[i] / 1000, res.l[i] / 1000]); } }
    var d = G.search(src, r.thrM), on = {};
    src.forEach(function (p) { (on[p[0]] = on[p[0]] || []).push(p); });
    var near = function (e, s, leg) {
      var best = Math.min(d[G.u[e]] + s, d[G.v[e]] + G.len[e] - s);
      (on[e] || []).forEach(function (p) { best = Math.min(best, Math.abs(s - p[1]) + p[2]); });
      return best + leg <= r.thrM + 1e-6;
    };
    (g.fac[r.type] || []).forEach(function (f) {
      if (S.closed[f[0]] || (r.sizeApplies && small[f[0]])) { return; }
      for (var k = 0; k < f[4].length; k += 3) { if (near(f[4][k], f[4][k + 1] / 1000, f[4][k + 2] / 1000)) { n++; return; } }
    });
    S.plan.forEach(function (p) { if (p.t === r.type && p.at.e >= 0 && near(p.at.e, p.at.s, p.at.leg)) { n++; } });
    return n;
  };
  /* a per-community item with a facility inside: circles.gaps._inside_status */
  var insideStatus = function (r, own, capShort) {
    if (capShort) { return 'undersized'; }
    if (r.sizeApplies) {
      var known = own.filter(function (f) { return f[1] !== null; });
      if (known.length === own.length && own.every(function (f) { return f[1] < r.minSize - 1e-9; })) { return 'undersized'; }
      if (!known.length) { return 'reach_size_unverified'; }
    }
    return 'ok';
  };
  /* rule r's status under the scenario, as circles.gaps._classify decides it: {status, share} */
  var judge = function (r) {
    var a = current(r.type).res, w = g.res.w, e = g.res.e, thr = r.thrM + 1e-6, i;
    var ok = r.sizeApplies && (r.small || []).length ? subset(r, 'adequate') : a;
    var chk = r.sizeApplies ? subset(r, 'sized') : null;
    var placed = 0, cov = 0, covOk = 0, covChk = 0;
    for (i = 0; i < a.length; i++) {
      if (e[i] < 0 || !mine(i)) { continue; }
      placed += w[i];
      if (a[i] <= thr) { cov += w[i]; if (ok[i] <= thr) { covOk += w[i]; if (chk && chk[i] <= thr) { covChk += w[i]; } } }
    }
    var share = placed > 0 ? cov / placed : 0, own = ownNow(r), st;
    if (r.check === 'supply') {
      return {status: r.status, share: share};  /* the community's own quantity: capacities are not recomputed here */
    }
    if (r.check === 'presence') {
      st = own.length > 0 || cov > 0 ? 'ok' : 'gap';
    } else {
      /* a planned facility has no capacity: where it counts, the capacity check is unverified */
      var counts = r.capBasis === 'own' ? own.some(function (f) { return f[1] === null && /^planned-/.test(f[0]); })
        : subset(r, 'planned').some(function (d, k) { return e[k] >= 0 && d <= thr; });
      var capChecked = r.capChecked && !counts, capShort = r.capShort && capChecked;
      var few = r.minCount > 1 && reachedCount(r) < r.minCount;
      st = reachStatus(cov, share, placed > 0 ? covOk / placed : 0, g.targetShare, few || capShort);
      if (r.perCommunity && own.length && (st === 'gap' || st === 'partial')) { st = insideStatus(r, own, capShort); }
      var sizeChecked = r.sizeApplies ? (covChk >= covOk - 1e-9 ? 1 : 0) : NaN;
      if (r.capTarget) { sizeChecked = capChecked && sizeChecked !== 0 ? 1 : 0; }
      if (st === 'ok' && sizeChecked === 0) { st = 'reach_size_unverified'; }
    }
    st = absentStatus(st, r.required);
    if (!r.isSurveyed && (st === 'gap' || st === 'partial')) { st = 'unseen'; }
    return {status: st, share: share};
  };

  /* one row per item, the fields of `circles whatif`'s comparison table */
  L.summary = function () {
    var rows = [];
    g.rules.forEach(function (r) {
      var t = r.type, row = {community_id: g.cid, community_name: r.name, rule_id: r.id, facility_type: t,
        threshold_min: Math.round(r.thrMin * 100) / 100, status_current: r.status, status_scenario: r.status,
        covered_share_current: r.share, covered_share_scenario: r.share,
        residents_newly_covered: 0, residents_no_longer_covered: 0};
      if (changed(t) && !r.reason && r.share !== null) {
        var b = base(t).res, a = current(t).res, w = g.res.w, e = g.res.e, thr = r.thrM + 1e-6;
        var nw = 0, lost = 0, i;
        for (i = 0; i < a.length; i++) {
          if (e[i] < 0 || !mine(i)) { continue; }
          if (a[i] <= thr && !(b[i] <= thr)) { nw += Math.round(w[i] * 100) / 100; }
          if (b[i] <= thr && !(a[i] <= thr)) { lost += Math.round(w[i] * 100) / 100; }
        }
        var v = judge(r);
        row.covered_share_scenario = Math.round(v.share * 1e4) / 1e4;
        row.status_scenario = v.status;
        row.residents_newly_covered = Math.round(nw * 10) / 10;
        row.residents_no_longer_covered = Math.round(lost * 10) / 10;
      }
      row.status_changed = row.status_current !== row.status_scenario;
      row.change = !row.status_changed ? 'unchanged' : (row.status_scenario === 'ok' ? 'now ok'
        : (row.status_current === 'ok' ? 'no longer ok' : 'changed'));
      rows.push(row);
    });
    return rows;
  };

  /* drawing: planned marks, closed marks, the streets reached within the threshold */
  var layer = L.layer = window.L.featureGroup().addTo(map);
  var reachLayer = null;
  var typeName = function (t) { return (A.o.types[t] || {}).name || t; };
  var draw = function () {
    layer.clearLayers();
    var rid = A.rule().id, t = A.rule().type;
    S.plan.forEach(function (p) {
      if (p.t !== t) { return; }
      var m = L_marker(p.lat, p.lon, '★', 'circles-plan cf-' + ((A.o.types[t] || {}).i || 0), true);
      m.on('dragend', function () { var ll = m.getLatLng(); L.move(p.id, ll.lng, ll.lat); });
      m.on('click', function () { L.remove(p.id); });
      m.bindTooltip(C.esc(typeName(t) + ' · ' + lab.live_planned) + ' (' + C.esc(lab.live_tap_remove) + ')');
      layer.addLayer(m);
    });
    Object.keys(S.closed).forEach(function (id) {
      var fo = facOf[id];
      if (!S.closed[id] || !fo || fo.t !== t) { return; }
      var m = L_marker(fo.f[3], fo.f[2], '✕', 'circles-closed', false);
      m.on('click', function () { L.reopen(id); });
      m.bindTooltip(C.esc((fo.f[1] || id) + ' · ' + lab.live_closed));
      layer.addLayer(m);
    });
    if (reachLayer) { map.removeLayer(reachLayer); reachLayer = null; }
    var r = rules[rid];
    /* the precomputed walking area is today's: under a scenario the reached streets replace it */
    if (A.shownArea) {
      if (changed(t) && map.hasLayer(A.shownArea)) { map.removeLayer(A.shownArea); }
      if (!changed(t) && !map.hasLayer(A.shownArea)) { A.shownArea.addTo(map); }
    }
    if (r && changed(t)) {
      var nd = current(t).node, lines = [], e, on = {};
      sources(t, true).forEach(function (p) { (on[p[0]] = on[p[0]] || []).push(p); });
      for (e = 0; e < G.E; e++) { reachedPieces(e, nd, r.thrM, on, lines); }
      reachLayer = window.L.polyline(lines, {pane: 'circles-areas', interactive: false,
        color: (A.o.types[t] || {}).colour || '#08c', weight: 5, opacity: 0.55}).addTo(map);
    }
  };
  var L_marker = function (lat, lon, text, cls, drag) {
    return window.L.marker([lat, lon], {draggable: drag, pane: 'markerPane', zIndexOffset: 1000,
      icon: window.L.divIcon({className: 'circles-live-icon', html: '<span class="circles-fac ' + cls + '">' + text + '</span>',
        iconSize: [26, 26], iconAnchor: [13, 13]})});
  };
  /* the parts of edge e within thr of the sources (node distances nd, sources on the edge on[e]),
     as lists of [lat, lng] points */
  var reachedPieces = function (e, nd, thr, on, out) {
    var len = G.len[e], iv = [], k;
    if (nd[G.u[e]] <= thr) { iv.push([0, thr - nd[G.u[e]]]); }
    if (nd[G.v[e]] <= thr) { iv.push([len - (thr - nd[G.v[e]]), len]); }
    (on[e] || []).forEach(function (p) { if (p[2] <= thr) { iv.push([p[1] - (thr - p[2]), p[1] + (thr - p[2])]); } });
    if (!iv.length) { return; }
    iv.sort(function (a, b) { return a[0] - b[0]; });
    var merged = [];
    iv.forEach(function (x) {
      var a0 = Math.max(0, x[0]), a1 = Math.min(len, x[1]), last = merged[merged.length - 1];
      if (a1 < a0) { return; }
      if (last && a0 <= last[1]) { last[1] = Math.max(last[1], a1); } else { merged.push([a0, a1]); }
    });
    merged.forEach(function (m) {
      var pts = [], s0 = 0, pl, t0, t1;
      for (k = G.ef[e]; k < G.ef[e + 1] - 1; k++) {
        pl = Math.hypot(G.x[k + 1] - G.x[k], G.y[k + 1] - G.y[k]);
        t0 = Math.max(m[0], s0); t1 = Math.min(m[1], s0 + pl);
        if (t1 >= t0 && pl > 0) {
          if (!pts.length) { pts.push(at(k, (t0 - s0) / pl)); }
          pts.push(at(k, (t1 - s0) / pl));
        }
        s0 += pl;
      }
      if (pts.length > 1) { out.push(pts); }
    });
  };
  var at = function (k, f) {
    var ll = G.bwd(G.x[k] + f * (G.x[k + 1] - G.x[k]), G.y[k] + f * (G.y[k + 1] - G.y[k]));
    return [ll[1], ll[0]];
  };

  var snapshot = function () { S.undo.push(JSON.stringify({plan: S.plan, closed: S.closed})); };
  var refresh = function () {
    S.cur = {}; S.clsCache = {};
    if (A.points) { A.points.redraw(); }
    draw();
    L.status();
    if (A.ui) { A.ui.update(); }  /* the legend names what is drawn: today's area or the reached streets */
  };
  /* the overview: judge community cid (its items, its outline, its residents); a new scenario */
  L.choose = function (cid) {
    if (!g.comms || !g.comms[cid]) { return false; }
    S.plan = []; S.closed = {}; S.undo = [];
    g.cid = cid; g.rules = g.comms[cid].rules; g.outline = g.comms[cid].outline; S.ci = g.cids.indexOf(cid);
    setRules();
    if (chooser) { chooser.value = cid; }
    refresh();
    return true;
  };
  L.place = function (q) {
    q = q || {};
    if (q.community) { L.choose(q.community); }
    if (g.comms && !g.cid) {  /* a tap inside a community chooses it */
      var at = G.fwd(q.lon, q.lat), hit = g.cids.filter(function (c) { return insideRings(g.comms[c].outline, at[0], at[1]); })[0];
      if (!hit) { return null; }
      L.choose(hit);
    }
    if (q.item && rules[q.item] && q.item !== A.rule().id) { A.setRule(q.item); }
    var t = q.item && rules[q.item] ? rules[q.item].type : (q.type || A.rule().type);
    var xy = G.fwd(q.lon, q.lat);
    snapshot();
    S.seq += 1;
    var p = {id: 'planned-' + S.seq, t: t, lon: q.lon, lat: q.lat, xy: xy, at: G.attach(xy[0], xy[1])};
    S.plan.push(p);
    refresh();
    return p.id;
  };
  L.move = function (id, lon, lat) {
    var p = S.plan.filter(function (x) { return x.id === id; })[0];
    if (!p) { return false; }
    snapshot();
    var xy = G.fwd(lon, lat);
    p.lon = lon; p.lat = lat; p.xy = xy; p.at = G.attach(xy[0], xy[1]);
    refresh();
    return true;
  };
  /* remove a planned facility, or close an existing one (by id) */
  L.remove = function (id) {
    if (id && typeof id === 'object') { id = id.id; }
    var k = S.plan.map(function (x) { return x.id; }).indexOf(id);
    if (k >= 0) { snapshot(); S.plan.splice(k, 1); refresh(); return true; }
    if (facOf[id] && !S.closed[id]) { snapshot(); S.closed[id] = true; refresh(); return true; }
    return false;
  };
  L.reopen = function (id) { if (!S.closed[id]) { return false; } snapshot(); delete S.closed[id]; refresh(); return true; };
  L.undo = function () { if (!S.undo.length) { return false; } var s = JSON.parse(S.undo.pop()); S.plan = s.plan; S.closed = s.closed; refresh(); return true; };
  L.reset = function () { if (!S.plan.length && !Object.keys(S.closed).length) { return false; } snapshot(); S.plan = []; S.closed = {}; refresh(); return true; };
  /* the scenario as a GeoJSON FeatureCollection `circles whatif --scenario` reads */
  L.scenario = function () {
    var feats = S.plan.map(function (p) {
      return {type: 'Feature', properties: {id: p.id, action: 'add', facility_type: p.t, name: lab.live_planned + ' ' + typeName(p.t)},
        geometry: {type: 'Point', coordinates: [p.lon, p.lat]}};
    });
    Object.keys(S.closed).sort().forEach(function (id) {
      if (!S.closed[id] || !facOf[id]) { return; }
      var f = facOf[id].f;
      feats.push({type: 'Feature', properties: {id: id, action: 'remove', facility_type: facOf[id].t, name: f[1]},
        geometry: {type: 'Point', coordinates: [f[2], f[3]]}});
    });
    return {type: 'FeatureCollection', features: feats};
  };
  /* distances (metres, null beyond the search bound) of the drawn residents to item's type */
  L.times = function (item) {
    var r = rules[item] || A.rule();
    return Array.prototype.map.call(current(r.type).res, function (v) { return isFinite(v) ? v : null; });
  };
  L.download = function () {
    var blob = new Blob([JSON.stringify(L.scenario(), null, 1)], {type: 'application/geo+json'});
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = 'scenario_' + g.cid + '.geojson';
    document.body.appendChild(a); a.click(); setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
  };

  /* the status line and the tools (in the header) */
  var bar = C.el('div', 'circles-live', null, A.ui.head);
  var line = C.el('div', 'circles-live-line', null, bar);
  var tools = C.el('div', 'circles-live-tools', null, bar);
  var btn = function (text, title, fn) {
    var b = C.el('button', null, C.esc(text), tools); b.type = 'button'; b.title = title;
    b.addEventListener('click', function (e) { e.stopPropagation(); fn(b); }); return b;
  };
  S.placing = false;
  var placeBtn = btn(lab.live_place, lab.live_place_hint, function (b) {
    S.placing = !S.placing; b.classList.toggle('on', S.placing);
    map.getContainer().classList.toggle('circles-placing', S.placing);
  });
  var chooser = null;
  if (g.comms) {  /* the overview: choose the community to judge */
    chooser = C.el('select', 'circles-live-comm', '<option value="">' + C.esc(lab.live_choose) + '</option>'
      + g.cids.map(function (c) {
        var r = g.comms[c].rules[0];
        return '<option value="' + C.esc(c) + '">' + C.esc(r && r.name ? r.name : c) + '</option>';
      }).join(''), tools);
    chooser.addEventListener('change', function () { if (chooser.value) { L.choose(chooser.value); } });
  }
  btn(lab.live_undo, lab.live_undo, function () { L.undo(); });
  btn(lab.live_reset, lab.live_reset, function () { L.reset(); });
  btn(lab.live_export, lab.live_export_hint, function () { L.download(); });
  L.status = function () {
    var r = A.rule(), row = L.summary().filter(function (x) { return x.rule_id === r.id; })[0];
    var pct = function (v) { return v === null || v === undefined ? '—' : Math.round(v * 100) + '%'; };
    if (!row) { line.innerHTML = g.comms ? '<span class="circles-muted">' + C.esc(lab.live_choose_hint) + '</span>' : ''; return; }
    var html = C.esc(lab.live_share) + ' ' + pct(row.covered_share_current);
    if (changed(r.type)) {
      html += ' → <b>' + pct(row.covered_share_scenario) + '</b> · ' + C.esc(lab.live_status) + ' '
        + C.esc(lab['st_' + row.status_current] || row.status_current) + ' → <b>'
        + C.esc(lab['st_' + row.status_scenario] || row.status_scenario) + '</b> · '
        + C.fmt(lab.live_newly, {n: Math.round(row.residents_newly_covered)}) + ' · '
        + C.fmt(lab.live_lost, {n: Math.round(row.residents_no_longer_covered)});
    } else {
      html += ' · ' + C.esc(lab.live_status) + ' ' + C.esc(lab['st_' + row.status_current] || row.status_current)
        + ' · <span class="circles-muted">' + C.esc(lab.live_hint) + '</span>';
    }
    line.innerHTML = html;
    placeBtn.textContent = lab.live_place + ' ' + typeName(r.type);
  };
  /* a tap (place mode) or a long press / right click (any time) places a planned facility */
  var placeAt = function (ll) { L.place({item: A.rule().id, lon: Math.round(ll.lng * 1e7) / 1e7, lat: Math.round(ll.lat * 1e7) / 1e7}); };
  map.getContainer().addEventListener('click', function (e) {
    if (!S.placing || (e.target.closest && e.target.closest('.circles-head, .circles-sheet, .leaflet-control, .leaflet-popup-pane, .leaflet-marker-icon'))) { return; }
    L.DomEvent_stop(e);
    placeAt(map.mouseEventToLatLng(e));
  }, true);
  L.DomEvent_stop = function (e) { e.stopPropagation(); e.preventDefault(); };
  map.on('contextmenu', function (e) { placeAt(e.latlng); });
  /* "close" buttons in the facility popups */
  map.getContainer().addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('[data-close]');
    if (b) { L.remove(b.getAttribute('data-close')); map.closePopup(); }
  });
  L.onRule = function () { draw(); L.status(); };
  L.isLive = function (id) { return !!facOf[id]; };
  L.status();
  return L;
};

/* the page API (tests and scripts): window.circles.place({item, lon, lat}), remove(id), scenario(), summary() */
/* the part `key` of the current map (its live what-if, its notes), or an error saying why not */
C.part = function (key, why) {
  if (!C.current || !C.current[key]) { throw new Error(why); }
  return C.current[key];
};
var live = function () { return C.part('live', 'this map has no live what-if (a community map has)'); };
C.place = function (q) { return live().place(q); };
C.choose = function (cid) { return live().choose(cid); };
C.remove = function (id) { return live().remove(id); };
C.move = function (id, lon, lat) { return live().move(id, lon, lat); };
C.undo = function () { return live().undo(); };
C.reset = function () { return live().reset(); };
C.scenario = function () { return live().scenario(); };
C.summary = function () { return live().summary(); };
C.times = function (item) { return live().times(item); };
})();

/* Residents' opinions (征求居民意见): tap to drop a note (what is missing / what is inconvenient /
   put it here, with text); notes stay in this browser (localStorage) and export as GeoJSON for
   `circles run --opinions FILE`. */
(function () {
var C = window.circles;
if (!C || C.notesApp) { return; }
var KINDS = ['missing', 'inconvenient', 'site_here'];
C.notesApp = function (A) {
  var map = A.map, lab = A.o.lab, key = 'circles-notes:' + window.location.pathname, N = {on: false};
  var load = function () { try { return JSON.parse(window.localStorage.getItem(key) || '[]'); } catch (e) { return []; } };
  var save = function (list) { try { window.localStorage.setItem(key, JSON.stringify(list)); } catch (e) { /* private mode */ } };
  var layer = window.L.featureGroup().addTo(map);
  var cid = A.d.live ? A.d.live.cid : '';
  var draw = function () {
    layer.clearLayers();
    load().forEach(function (n) {
      var m = window.L.marker([n.lat, n.lon], {icon: window.L.divIcon({className: 'circles-note-icon',
        html: '<span>✎</span>', iconSize: [24, 24], iconAnchor: [12, 12]}), zIndexOffset: 900});
      m.bindPopup(C.popup('<b>' + C.esc(lab['note_' + n.kind] || n.kind) + '</b>'
        + (n.item_name ? '<div class="circles-sub">' + C.esc(n.item_name) + '</div>' : '')
        + '<p>' + C.esc(n.text || '') + '</p><button type="button" class="circles-note-del" data-note="' + C.esc(n.id)
        + '">' + C.esc(lab.note_delete) + '</button>', 'circles-npop'));
      layer.addLayer(m);
    });
  };
  N.add = function (q) {
    var r = A.rule(), list = load(), id = 'note-' + Date.now().toString(36) + '-' + list.length;
    list.push({id: id, lon: q.lon, lat: q.lat, kind: KINDS.indexOf(q.kind) >= 0 ? q.kind : 'missing', text: String(q.text || ''),
      item: q.item || r.id, item_name: q.item_name || r.name, community_id: q.community_id || cid,
      created: q.created || new Date().toISOString()});
    save(list); draw();
    return id;
  };
  N.remove = function (id) { var list = load(), k = list.length; list = list.filter(function (n) { return n.id !== id; }); save(list); draw(); return list.length < k; };
  N.geojson = function () {
    return {type: 'FeatureCollection', features: load().map(function (n) {
      return {type: 'Feature', geometry: {type: 'Point', coordinates: [n.lon, n.lat]},
        properties: {id: n.id, kind: n.kind, text: n.text, item: n.item, community_id: n.community_id, created: n.created}};
    })};
  };
  N.download = function () {
    var blob = new Blob([JSON.stringify(N.geojson(), null, 1)], {type: 'application/geo+json'});
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = 'opinions' + (cid ? '_' + cid.replace(/[^\w.-]+/g, '_') : '') + '.geojson';
    document.body.appendChild(a); a.click(); setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
  };
  /* the form a tap opens in note mode */
  var form = function (ll) {
    var opts = KINDS.map(function (k) { return '<option value="' + k + '">' + C.esc(lab['note_' + k]) + '</option>'; }).join('');
    var html = '<div class="circles-note-form"><b>' + C.esc(lab.note_title) + '</b><div class="circles-sub">'
      + C.esc(A.rule().name) + '</div><select>' + opts + '</select><textarea rows="3" placeholder="'
      + C.esc(lab.note_placeholder) + '"></textarea><button type="button" class="circles-note-save">' + C.esc(lab.note_save)
      + '</button></div>';
    var p = C.popup(html, 'circles-npop').setLatLng(ll).openOn(map);
    var el = p.getElement();
    el.querySelector('.circles-note-save').addEventListener('click', function () {
      N.add({lon: Math.round(ll.lng * 1e7) / 1e7, lat: Math.round(ll.lat * 1e7) / 1e7,
        kind: el.querySelector('select').value, text: el.querySelector('textarea').value});
      map.closePopup();
    });
  };
  /* with the live what-if's tools in the header; on the overview, in the layers pane */
  var liveTools = A.ui.head.querySelector('.circles-live-tools');
  var tools = liveTools || C.el('div', 'circles-live-tools circles-note-tools', null, A.ui.panes.layers);
  var b1 = C.el('button', null, C.esc(lab.note_mode), tools); b1.type = 'button'; b1.title = lab.note_hint;
  b1.addEventListener('click', function (e) {
    e.stopPropagation(); N.on = !N.on; b1.classList.toggle('on', N.on);
    if (N.on && A.live && A.live.state.placing) { A.live.state.placing = false; }
  });
  var b2 = C.el('button', null, C.esc(lab.note_export), tools); b2.type = 'button';
  b2.addEventListener('click', function (e) { e.stopPropagation(); N.download(); });
  map.getContainer().addEventListener('click', function (e) {
    var del = e.target.closest && e.target.closest('[data-note]');
    if (del) { N.remove(del.getAttribute('data-note')); map.closePopup(); return; }
    if (!N.on || (e.target.closest && e.target.closest('.circles-head, .circles-sheet, .leaflet-control, .leaflet-popup-pane, .leaflet-marker-icon'))) { return; }
    e.stopPropagation(); e.preventDefault();
    form(map.mouseEventToLatLng(e));
  }, true);
  draw();
  return N;
};
var notes = function () { return C.part('notes', 'this map takes no notes'); };
C.addNote = function (q) { return notes().add(q); };
C.removeNote = function (id) { return notes().remove(id); };
C.notes = function () { return notes().geojson(); };
})();
