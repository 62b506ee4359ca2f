// tail.js polls the catalog's GET /v1/tail (through /console/api/tail)
// every 2 s for the records after the last answer's cursor and prepends
// them, newest first. Every datum goes in with textContent.
(function () {
  "use strict";
  var me = document.getElementById("tail-script");
  var status = document.getElementById("tail-status");
  var rows = document.getElementById("tail-rows");
  var topic = me.dataset.topic;
  var next = me.dataset.next || "";
  var count = parseInt(me.dataset.count || "0", 10);
  var polls = 0;
  var EVERY = 2000, MAX_ROWS = 1000;

  function cell(tr, cls, text, tag) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    var inner = td;
    if (tag) { inner = document.createElement(tag); td.appendChild(inner); }
    inner.textContent = text;
    tr.appendChild(td);
  }
  function row(r) {
    var tr = document.createElement("tr");
    tr.className = "rec new";
    tr.dataset.partition = String(r.partition);
    tr.dataset.offset = String(r.offset);
    tr.dataset.name = r.name || "";
    tr.dataset.eventId = r.event_id || "";
    cell(tr, "", String(r.partition));
    cell(tr, "", String(r.offset));
    cell(tr, "time", r.occurred_at || r.timestamp || "");
    cell(tr, "name", r.name || "");
    cell(tr, "event-id", r.event_id || "");
    if (r.error) {
      cell(tr, "value", r.error, "span");
      tr.lastChild.firstChild.className = "error";
    } else {
      cell(tr, "value", JSON.stringify(r.value), "code");
    }
    return tr;
  }
  function say(msg, isError) {
    status.textContent = msg;
    status.className = isError ? "error" : "";
    status.dataset.polls = String(polls);
  }
  function poll() {
    var q = new URLSearchParams();
    q.set("topic", topic);
    if (next) { q.set("after", next); }
    fetch("/console/api/tail?" + q.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        polls++;
        var at = new Date().toLocaleTimeString();
        if (!res.ok) {
          say("error: " + (res.body.error ? res.body.error.reason : "unknown") + " (last polled " + at + ")", true);
          return;
        }
        var recs = res.body.records || [];
        recs.forEach(function (r) { rows.insertBefore(row(r), rows.firstChild); });
        while (rows.children.length > MAX_ROWS) { rows.removeChild(rows.lastChild); }
        next = res.body.next || next;
        count += recs.length;
        say(count + " records" + (recs.length ? " (" + recs.length + " new)" : "") + ", last polled " + at, false);
      })
      .catch(function (e) { polls++; say("error: " + e.message, true); })
      .then(function () { setTimeout(poll, EVERY); });
  }
  setTimeout(poll, EVERY);
})();
