// lineage.js lays the lineage graph out with dagre once and draws it as SVG.
(function () {
  "use strict";
  var me = document.getElementById("lineage-script");
  var status = document.getElementById("graph-status");
  var svg = document.getElementById("graph");
  var NS = "http://www.w3.org/2000/svg";
  var q = new URLSearchParams();
  if (me.dataset.node) { q.set("node", me.dataset.node); q.set("depth", me.dataset.depth || "1"); }
  if (me.dataset.asOf) { q.set("as_of", me.dataset.asOf); }
  function fail(msg) {
    status.textContent = "error: " + msg;
    status.setAttribute("data-done", "error");
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function href(n) {
    var asOf = me.dataset.asOf ? "&as_of=" + encodeURIComponent(me.dataset.asOf) : "";
    if (n.kind === "product") { return "/console/products/" + encodeURIComponent(n.label) + (asOf ? "?" + asOf.slice(1) : ""); }
    if (n.kind === "file") { return "/console/files?" + asOf.slice(1) + "#file-" + encodeURIComponent(n.id.slice("file:".length)); }
    if (n.kind === "table") { return "/console/files?table=" + encodeURIComponent(n.label) + asOf; }
    return "/console/lineage?node=" + encodeURIComponent(n.id) + asOf;
  }
  fetch("/console/api/lineage/graph?" + q.toString(), { credentials: "same-origin" })
    .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
    .then(function (res) {
      if (!res.ok) { fail(res.body.error ? res.body.error.reason : "unknown"); return; }
      var data = res.body;
      var g = new dagre.graphlib.Graph();
      g.setGraph({ rankdir: "LR", nodesep: 8, ranksep: 60 });
      g.setDefaultEdgeLabel(function () { return {}; });
      data.nodes.forEach(function (n) { g.setNode(n.id, { width: Math.min(360, 16 + 6.5 * (n.label.length + (n.status ? n.status.length + 3 : 0))), height: 22, n: n }); });
      data.edges.forEach(function (e) { g.setEdge(e.from, e.to, { label: e.label || "", width: e.label ? 20 : 0, height: e.label ? 10 : 0 }); });
      dagre.layout(g);
      var gg = g.graph();
      svg.setAttribute("width", Math.ceil(gg.width || 100) + 20);
      svg.setAttribute("height", Math.ceil(gg.height || 100) + 20);
      var root = el("g", { transform: "translate(10,10)" }, svg);
      g.edges().forEach(function (e) {
        var ed = g.edge(e);
        var grp = el("g", { "class": "edge", "data-from": e.v, "data-to": e.w }, root);
        var d = ed.points.map(function (p, i) { return (i ? "L" : "M") + p.x + "," + p.y; }).join(" ");
        el("path", { d: d }, grp);
        if (ed.label) { var t = el("text", { x: ed.x, y: ed.y }, grp); t.textContent = ed.label; }
      });
      g.nodes().forEach(function (id) {
        var nd = g.node(id);
        var grp = el("g", { "class": "node " + nd.n.kind, "data-id": id, transform: "translate(" + (nd.x - nd.width / 2) + "," + (nd.y - nd.height / 2) + ")" }, root);
        var a = el("a", { href: href(nd.n) }, grp);
        el("rect", { width: nd.width, height: nd.height, rx: 3 }, a);
        var t = el("text", { x: 4, y: 15 }, a);
        t.textContent = nd.n.label + (nd.n.status ? " [" + nd.n.status + "]" : "");
      });
      status.textContent = data.nodes.length + " nodes, " + data.edges.length + " edges";
      status.setAttribute("data-done", "true");
    })
    .catch(function (err) { fail(String(err)); });
})();
