"""The live view's single HTML page: inline CSS and JS, no external resources (devices are offline).

The server renders the title and the sources known at request time; the script then follows
``/events`` (Server-Sent Events; polling ``/api/events`` where EventSource is missing) to fill the
events table, the header stats and the counts by kind, and adds a tile for each new source.
Event data is inserted with ``textContent`` only, never as HTML.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

__all__ = ["render_page"]

_CSS = """
:root { color-scheme:dark; --bg:#0f1419; --panel:#182029; --line:#2a3540; --fg:#e6e9ec; --dim:#8b98a5; --accent:#ff8c00; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.4 system-ui, sans-serif; }
header { display:flex; flex-wrap:wrap; align-items:center; gap:8px 24px; padding:10px 16px;
         background:var(--panel); border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; font-weight:600; }
header h1 span { color:var(--accent); }
.stat { color:var(--dim); } .stat b { color:var(--fg); font-variant-numeric:tabular-nums; }
#conn { margin-left:auto; font-size:12px; padding:2px 8px; border-radius:10px; background:#5a2a2a; }
#conn.live { background:#1f5130; }
#counts { display:flex; flex-wrap:wrap; gap:6px; padding:8px 16px; border-bottom:1px solid var(--line); }
.chip { background:var(--panel); border:1px solid var(--line); border-radius:12px; padding:2px 10px; }
.chip b { color:var(--accent); margin-left:4px; }
main { display:grid; grid-template-columns:minmax(0, 1fr) minmax(0, 1fr); gap:12px; padding:12px 16px; }
@media (max-width: 1100px) { main { grid-template-columns:1fr; } }
#videos { display:grid; grid-template-columns:repeat(auto-fit, minmax(320px, 1fr)); gap:12px; align-content:start; }
figure { margin:0; background:var(--panel); border:1px solid var(--line); border-radius:6px; overflow:hidden; }
figure img { display:block; width:100%; height:auto; background:#000; min-height:120px; }
figcaption { padding:4px 8px; color:var(--dim); font-size:12px; }
#empty { color:var(--dim); padding:24px; }
section h2 { font-size:14px; margin:0 0 6px; color:var(--dim); font-weight:600; }
table { width:100%; border-collapse:collapse; font-size:12px; }
th, td { text-align:left; padding:3px 5px; border-bottom:1px solid var(--line); overflow-wrap:anywhere; }
td.time, td.state, td.track, td.conf, th { white-space:nowrap; }
th { color:var(--dim); font-weight:600; position:sticky; top:0; background:var(--bg); }
#evwrap { max-height:80vh; overflow:auto; }
td.kind { font-weight:600; }
tr.s-start td.state { color:#ffb347; } tr.s-update td.state { color:#8fd3ff; } tr.s-end td.state { color:var(--dim); }
tr.fresh { animation: fresh 1.5s ease-out; }
@keyframes fresh { from { background:#3a2c10; } to { background:transparent; } }
img.thumb { height:36px; width:auto; display:block; border-radius:2px; }
"""

_JS = """
(function () {
  "use strict";
  const MAX_ROWS = 200;
  const $ = (id) => document.getElementById(id);
  const POLL = document.body.dataset.mode === "poll";
  const rows = new Map();      // event id -> <tr>
  let lastN = 0;

  function cell(tr, cls, text) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text == null ? "" : String(text);
    tr.appendChild(td);
    return td;
  }
  function fmt(x, digits) { return (x == null || isNaN(x)) ? "" : Number(x).toFixed(digits); }
  function snapURL(rel) { return "snapshots/" + rel.split("/").map(encodeURIComponent).join("/"); }

  function addEvent(ev) {
    let tr = rows.get(ev.id);
    const fresh = !tr;
    if (tr) { tr.textContent = ""; } else { tr = document.createElement("tr"); rows.set(ev.id, tr); }
    tr.className = "s-" + ev.state + (fresh ? " fresh" : "");
    tr.dataset.kind = ev.kind;
    const t = ev.end_pts != null ? fmt(ev.start_pts, 1) + "\\u2013" + fmt(ev.end_pts, 1) : fmt(ev.start_pts, 1);
    cell(tr, "time", t);
    cell(tr, "source", ev.source_id);
    cell(tr, "kind", ev.kind);
    cell(tr, "state", ev.state);
    cell(tr, "rule", ev.rule);
    cell(tr, "zone", ev.zone);
    cell(tr, "class", ev.class_name);
    cell(tr, "track", ev.track_id);
    cell(tr, "conf", fmt(ev.confidence, 2));
    const snap = cell(tr, "snap", "");
    if (ev.snapshot) {
      const a = document.createElement("a");
      const url = snapURL(ev.snapshot);
      a.href = url; a.target = "_blank";
      const img = document.createElement("img");
      img.className = "thumb"; img.alt = ev.kind + " snapshot"; img.src = url;
      a.appendChild(img); snap.appendChild(a);
    }
    const body = $("events");
    body.insertBefore(tr, body.firstChild);   // newest (or newest-changed) first
    while (body.children.length > MAX_ROWS) {
      const old = body.lastChild; body.removeChild(old);
      for (const [k, v] of rows) { if (v === old) { rows.delete(k); break; } }
    }
    $("noevents").hidden = true;
  }

  function ensureSource(name, info) {
    const id = "src-" + name;
    if (document.getElementById(id)) return;
    $("empty").hidden = true;
    const fig = document.createElement("figure"); fig.id = id;
    const img = document.createElement("img");
    img.alt = name; img.dataset.source = name;
    if (info && info.width) { img.width = info.width; img.height = info.height; }
    img.src = frameURL(name);
    watchImg(img);
    const cap = document.createElement("figcaption"); cap.textContent = name;
    fig.appendChild(img); fig.appendChild(cap);
    $("videos").appendChild(fig);
  }
  function frameURL(name) {
    return POLL ? "frame/" + encodeURIComponent(name) + ".jpg?t=" + Date.now()
                : "stream/" + encodeURIComponent(name) + ".mjpg";
  }
  function watchImg(img) {
    // MJPEG: retry when the stream breaks (server restarted). Poll mode: fetch the next frame.
    img.onerror = function () { setTimeout(function () { img.src = frameURL(img.dataset.source); }, 2000); };
    if (POLL) img.onload = function () { setTimeout(function () { img.src = frameURL(img.dataset.source); }, 200); };
  }

  function applyState(st) {
    const s = st.stats || {};
    $("fps").textContent = s.fps != null ? fmt(s.fps, 1) : "\\u2013";
    $("frames").textContent = s.frames != null ? s.frames : "\\u2013";
    $("elapsed").textContent = s.elapsed_s != null ? fmt(s.elapsed_s, 0) + " s" : "\\u2013";
    $("detector").textContent = s.detector_runs != null ? s.detector_runs : "\\u2013";
    $("skipped").textContent = s.motion_skipped != null ? s.motion_skipped : "\\u2013";
    const counts = Object.assign({}, st.counts || {});
    const chips = $("counts"); chips.textContent = "";
    const kinds = Object.keys(counts).sort();
    if (!kinds.length) { const c = document.createElement("span"); c.className = "stat"; c.textContent = "no events yet"; chips.appendChild(c); }
    for (const k of kinds) {
      const c = document.createElement("span"); c.className = "chip"; c.dataset.kind = k;
      c.textContent = k; const b = document.createElement("b"); b.textContent = counts[k];
      c.appendChild(b); chips.appendChild(c);
    }
    for (const [name, info] of Object.entries(st.sources || {})) ensureSource(name, info);
  }

  function setConn(live) { const c = $("conn"); c.textContent = live ? "live" : "offline"; c.className = live ? "live" : ""; }

  function poll() {   // ?mode=poll (buffering proxies, headless checks) or no EventSource
    Promise.all([fetch("api/events?after=" + lastN).then(r => r.json()), fetch("api/state").then(r => r.json())])
      .then(function (res) {
        if (res[0].last < lastN) lastN = 0;
        for (const m of res[0].events) { addEvent(m.event); lastN = m.n; }
        applyState(res[1]); setConn(true);
      })
      .catch(function () { setConn(false); })
      .finally(function () { setTimeout(poll, 1000); });
  }

  document.querySelectorAll("#videos img").forEach(watchImg);
  if (POLL || !window.EventSource) {
    poll();
  } else {
    const es = new EventSource("events");
    es.onopen = function () { setConn(true); };
    es.onerror = function () { setConn(false); };
    es.addEventListener("event", function (e) { addEvent(JSON.parse(e.data)); lastN = Number(e.lastEventId) || lastN; });
    es.addEventListener("state", function (e) { applyState(JSON.parse(e.data)); });
  }
})();
"""


def render_page(state: dict[str, Any], *, poll: bool = False) -> str:
    """The full HTML document for ``/`` given ``LiveView.state()``.

    Args:
        poll: poll ``/api/*`` and ``/frame/*.jpg`` instead of holding SSE and MJPEG streams open
            (``/?mode=poll``): for proxies that buffer streams, and for headless browsers whose
            virtual time stands still while a request is pending.
    """
    title = html.escape(str(state.get("title") or "edgesight"))
    tiles = []
    for name, info in state.get("sources", {}).items():
        size = ""
        if info.get("width"):
            size = f' width="{int(info["width"])}" height="{int(info["height"])}"'
        src = html.escape(
            f"frame/{quote(name, safe='')}.jpg" if poll else f"stream/{quote(name, safe='')}.mjpg"
        )
        esc = html.escape(name)
        tiles.append(
            f'<figure id="src-{esc}"><img src="{src}" alt="{esc}" data-source="{esc}"{size}>'
            f"<figcaption>{esc}</figcaption></figure>"
        )
    empty_hidden = " hidden" if tiles else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} \u2014 live</title>
<style>{_CSS}</style>
</head>
<body data-mode="{"poll" if poll else "stream"}">
<header>
  <h1><span>edge</span>sight \u00b7 {title}</h1>
  <span class="stat">fps <b id="fps">\u2013</b></span>
  <span class="stat">frames <b id="frames">\u2013</b></span>
  <span class="stat">elapsed <b id="elapsed">\u2013</b></span>
  <span class="stat">detector runs <b id="detector">\u2013</b></span>
  <span class="stat">motion-skipped <b id="skipped">\u2013</b></span>
  <span id="conn">connecting</span>
</header>
<div id="counts"><span class="stat">no events yet</span></div>
<main>
  <div id="videos">{"".join(tiles)}<p id="empty"{empty_hidden}>Waiting for the first frame\u2026</p></div>
  <section>
    <h2>Events (newest first)</h2>
    <div id="evwrap">
    <table>
      <thead><tr><th>time (s)</th><th>source</th><th>kind</th><th>state</th><th>rule</th><th>zone</th>
      <th>class</th><th>track</th><th>conf</th><th>snap</th></tr></thead>
      <tbody id="events"></tbody>
    </table>
    <p id="noevents" class="stat">No events yet.</p>
    </div>
  </section>
</main>
<script>{_JS}</script>
</body>
</html>
"""
