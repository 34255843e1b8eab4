// The console: one page, five views chosen by the URL's fragment (#streams, #publish, #pull,
// #recordings, #storage). Each view polls what it shows while it is open.
import { api, APIError, authHeaders, onOutcome, setToken, token, withToken, el, bytes, bitrate, duration, time } from "./api.js";
import { publish, play, Readout, readoutText } from "./webrtc.js";

const $ = (id) => document.getElementById(id);
const vigil = { publisher: null, player: null };
window.vigil = vigil; // for a look from the developer tools

// --- the server's reachability and the token ---------------------------------------------

let unreachable = false;
function showBanner(text) {
  const b = $("banner");
  b.textContent = text;
  b.hidden = !text;
}

onOutcome((o) => {
  if (o.error) {
    unreachable = true;
    showBanner("The server does not answer " + o.error.message.replace(/^the server does not answer /, "") +
      ". Retrying every 2 s; what is shown may be out of date.");
    return;
  }
  if (o.status >= 500 && o.status !== 507) {
    showBanner("The server answered " + o.status + "; retrying.");
    unreachable = true;
    return;
  }
  if (unreachable) {
    unreachable = false;
    showBanner("");
  }
  if (o.unauthorized) askToken(o.unauthorized.message);
});

// A light request every 2 s notices a server that went away even on a page that polls nothing.
setInterval(() => { api("GET", "/readyz").catch(() => {}); }, 2000);

function askToken(reason) {
  const d = $("token-dialog");
  if (d.open) return;
  $("token-reason").textContent = reason || "A bearer token for this server.";
  $("token-input").value = token();
  d.showModal();
}
$("token-open").addEventListener("click", () => askToken("The token this console sends with every request."));
$("token-dialog").addEventListener("close", () => {
  const v = $("token-dialog").returnValue;
  if (v === "save") setToken($("token-input").value.trim());
  if (v === "clear") setToken("");
  if (v === "save" || v === "clear") current && current.refresh && current.refresh();
});

// confirm asks a yes/no question in the page's own dialog (window.confirm blocks the page).
function confirmAction(text, yes = "Yes") {
  const d = $("confirm-dialog");
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "yes"), { once: true });
    d.returnValue = "";
    d.showModal();
  });
}

function viewError(view, err) {
  const p = document.querySelector("#view-" + view + " .view-error");
  if (!p) return;
  p.textContent = err ? (err.message || String(err)) : "";
  p.hidden = !err;
}

// run performs an action of a button: disabled while it runs, its error shown in the view.
async function run(view, button, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
    viewError(view, null);
  } catch (err) {
    viewError(view, err);
  } finally {
    if (button) button.disabled = false;
  }
}

// poller calls fn now and every ms milliseconds until stopped; a slow answer never piles up.
function poller(fn, ms) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    try { await fn(); } catch (err) { /* shown by fn or the banner */ }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return { stop() { stopped = true; clearTimeout(timer); }, now: () => { clearTimeout(timer); tick(); } };
}

// --- Streams --------------------------------------------------------------------------------

const streamsView = {
  rows: new Map(),
  sort: { key: "name", dir: 1 },
  list: [],
  watching: null,

  enter() {
    this.poll = poller(() => this.refresh(), 1000);
  },
  leave() { this.poll.stop(); },

  async refresh() {
    try {
      const data = await api("GET", "/api/v1/streams");
      this.list = data.streams || [];
      viewError("streams", null);
    } catch (err) {
      if (err.status) viewError("streams", err);
      return;
    }
    this.render();
  },

  sortValue(s, key) {
    const v = s.video || {};
    const a = s.audio || {};
    switch (key) {
      case "codec": return (v.codec || "") + "/" + (a.codec || "");
      case "resolution": return (v.width || 0) * (v.height || 0);
      case "fps": return v.fps || 0;
      case "bitrate": return (v.bitrate || 0) + (a.bitrate || 0);
      case "loss": return (v.lost || 0) + (a.lost || 0);
      case "viewers": return s.subscribers || 0;
      case "recording": return s.recording ? s.recording.state : "";
      case "health": return s.degraded ? 1 : 0;
      default: return s.name;
    }
  },

  render() {
    const filter = $("streams-filter").value.trim().toLowerCase();
    const { key, dir } = this.sort;
    const shown = this.list
      .filter((s) => !filter || s.name.toLowerCase().includes(filter))
      .sort((x, y) => {
        const a = this.sortValue(x, key);
        const b = this.sortValue(y, key);
        return (a < b ? -1 : a > b ? 1 : x.name < y.name ? -1 : 1) * dir;
      });
    const tbody = document.querySelector("#streams-table tbody");
    const keep = new Set(shown.map((s) => s.name));
    for (const [name, row] of this.rows) {
      if (!keep.has(name)) { row.tr.remove(); this.rows.delete(name); }
    }
    shown.forEach((s, i) => {
      let row = this.rows.get(s.name);
      if (!row) { row = this.makeRow(s.name); this.rows.set(s.name, row); }
      this.fillRow(row, s);
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
    });
    $("streams-empty").hidden = this.list.length > 0;
    $("streams-count").textContent = shown.length === this.list.length
      ? this.list.length + " live" : shown.length + " of " + this.list.length + " live";
    if (this.watching && !this.list.some((s) => s.name === this.watching)) {
      $("player-state").textContent = "the stream has ended";
    }
  },

  makeRow(name) {
    const cells = {};
    const tr = el("tr", { "data-stream": name });
    for (const c of ["name", "codec", "resolution", "fps", "bitrate", "loss", "viewers", "recording", "health"]) {
      cells[c] = el("td", { className: "c-" + c });
      tr.append(cells[c]);
    }
    cells.name.append(el("a", { href: "/watch/" + encodeURIComponent(name), text: name, title: "Open the player page" }));
    const watch = el("button", { type: "button", className: "watch", text: "Watch", onclick: () => this.watch(name) });
    const record = el("button", { type: "button", className: "record", text: "Record" });
    record.addEventListener("click", () => this.toggleRecording(name, record));
    const kick = el("button", { type: "button", className: "kick danger", text: "Kick" });
    kick.addEventListener("click", () => this.kick(name, kick));
    tr.append(el("td", { className: "actions" }, watch, " ", record, " ", kick));
    return { tr, cells, record };
  },

  fillRow(row, s) {
    const v = s.video || {};
    const a = s.audio || {};
    const c = row.cells;
    c.codec.textContent = [v.codec, a.codec].filter(Boolean).join(" + ") || s.status;
    c.resolution.textContent = v.width ? v.width + "×" + v.height : "—";
    c.fps.textContent = v.codec ? Math.round(v.fps) : "—";
    c.bitrate.textContent = bitrate((v.bitrate || 0) + (a.bitrate || 0));
    c.loss.textContent = String((v.lost || 0) + (a.lost || 0));
    c.viewers.textContent = String(s.subscribers || 0);
    const rec = s.recording;
    c.recording.textContent = rec ? rec.state + " " + duration(rec.duration) : "no";
    c.recording.className = "c-recording" + (rec ? " on" : "");
    row.record.textContent = rec ? "Stop recording" : "Record";
    row.record.className = rec ? "record stop" : "record";
    row.recording = !!rec;
    // Not colour alone: the word and the sign say it too.
    c.health.textContent = s.degraded ? "⚠ degraded: " + (s.reasons || []).join(", ") : "✓ ok";
    c.health.className = "c-health" + (s.degraded ? " degraded" : " ok");
    row.tr.classList.toggle("degraded", !!s.degraded);
  },

  async toggleRecording(name, button) {
    const row = this.rows.get(name);
    await run("streams", button, async () => {
      if (row && row.recording) {
        button.textContent = "Stopping…";
        await api("DELETE", "/api/v1/streams/" + encodeURIComponent(name) + "/recording");
      } else {
        button.textContent = "Starting…";
        await api("POST", "/api/v1/streams/" + encodeURIComponent(name) + "/recording", { rotation: $("record-rotation").value });
      }
    });
    await this.refresh();
  },

  async kick(name, button) {
    if (!(await confirmAction("Disconnect the publisher of " + name + "?", "Kick"))) return;
    await run("streams", button, () => api("DELETE", "/api/v1/streams/" + encodeURIComponent(name)));
    await this.refresh();
  },

  async watch(name) {
    await this.stopWatching();
    this.watching = name;
    $("player").hidden = false;
    $("player-title").textContent = name;
    $("player-link").href = "/watch/" + encodeURIComponent(name);
    $("player-state").textContent = "connecting";
    try {
      const session = await play(name, $("player-video"), {
        onState: (st) => { $("player-state").textContent = st === "connected" ? "playing" : st; },
      });
      if (this.watching !== name) { session.close(); return; }
      vigil.player = session;
      const readout = new Readout(session.pc);
      this.readoutTimer = setInterval(async () => {
        const r = await readout.read().catch(() => null);
        if (!r) return;
        $("player-readout").textContent = readoutText(r);
      }, 1000);
    } catch (err) {
      $("player-state").textContent = "cannot play: " + err.message;
    }
  },

  async stopWatching() {
    clearInterval(this.readoutTimer);
    this.watching = null;
    $("player-readout").textContent = "";
    if (vigil.player) {
      const s = vigil.player;
      vigil.player = null;
      await s.close();
    }
    $("player-video").srcObject = null;
  },
};

document.querySelectorAll("#streams-table [data-sort]").forEach((b) => {
  b.addEventListener("click", () => {
    const key = b.dataset.sort;
    const s = streamsView.sort;
    s.dir = s.key === key ? -s.dir : 1;
    s.key = key;
    document.querySelectorAll("#streams-table th").forEach((th) => th.removeAttribute("aria-sort"));
    b.parentElement.setAttribute("aria-sort", s.dir > 0 ? "ascending" : "descending");
    streamsView.render();
  });
});
$("streams-filter").addEventListener("input", () => streamsView.render());
$("player-close").addEventListener("click", () => { streamsView.stopWatching(); $("player").hidden = true; });
$("player-mute").addEventListener("click", () => {
  const v = $("player-video");
  v.muted = !v.muted;
  $("player-mute").textContent = v.muted ? "Unmute" : "Mute";
});
$("player-fullscreen").addEventListener("click", () => {
  $("player-video").requestFullscreen().catch((err) => { $("player-state").textContent = "full screen refused: " + err.message; });
});

// --- Publish --------------------------------------------------------------------------------

const publishView = {
  enter() {
    this.poll = poller(() => this.refresh(), 1000);
  },
  leave() { this.poll.stop(); },

  status(text) {
    $("publish-status").textContent = text;
  },

  async start() {
    $("publish-start").disabled = true;
    const name = $("publish-stream").value.trim();
    try {
      this.status("opening camera");
      this.name = name;
      vigil.publisher = await publish(name, {
        resolution: $("publish-resolution").value,
        codec: $("publish-codec").value,
        bitrate: Number($("publish-bitrate").value) || 0,
        onState: (st) => {
          if (st === "connected") this.status("publishing");
          if (st === "failed") this.status("failed: connection lost");
          if (st === "disconnected") this.status("connection interrupted");
        },
      });
      $("publish-preview").srcObject = vigil.publisher.media;
      if (vigil.publisher.pc.connectionState !== "connected") this.status("connecting");
      $("publish-stop").disabled = false;
    } catch (err) {
      this.status("failed: " + err.message);
      $("publish-start").disabled = false;
    }
  },

  async stop() {
    $("publish-stop").disabled = true;
    const p = vigil.publisher;
    vigil.publisher = null;
    if (p) await p.close();
    $("publish-preview").srcObject = null;
    $("publish-start").disabled = false;
    this.status("stopped");
  },

  async refresh() {
    const dl = $("publish-stats");
    if (!vigil.publisher) { dl.replaceChildren(); return; }
    let s;
    try {
      s = await api("GET", "/api/v1/streams/" + encodeURIComponent(this.name));
    } catch (err) {
      dl.replaceChildren(el("dt", { text: "Server" }), el("dd", { text: err.message }));
      return;
    }
    const v = s.video || {};
    const a = s.audio || {};
    const rows = [
      ["Status on the server", s.status],
      ["Video", v.codec ? v.codec + " " + (v.width || "?") + "×" + (v.height || "?") + " @ " + Math.round(v.fps) + " fps" : "—"],
      ["Video bitrate", bitrate(v.bitrate)],
      ["Audio", a.codec ? a.codec + " " + bitrate(a.bitrate) : "—"],
      ["Packets lost", String((v.lost || 0) + (a.lost || 0))],
      ["Viewers", String(s.subscribers)],
      ["Recording", s.recording ? s.recording.state : "no"],
      ["Health", s.degraded ? "degraded: " + s.reasons.join(", ") : "ok"],
    ];
    dl.replaceChildren(...rows.flatMap(([k, val]) => [el("dt", { text: k }), el("dd", { text: val })]));
  },
};

$("publish-form").addEventListener("submit", (ev) => { ev.preventDefault(); publishView.start(); });
$("publish-stop").addEventListener("click", () => publishView.stop());
window.addEventListener("pagehide", () => {
  if (vigil.publisher) vigil.publisher.close();
  if (vigil.player) vigil.player.close();
});

// --- Pull -----------------------------------------------------------------------------------

const pullView = {
  enter() { this.poll = poller(() => this.refresh(), 1000); },
  leave() { this.poll.stop(); },

  async refresh() {
    let data;
    try {
      data = await api("GET", "/api/v1/pulls");
    } catch (err) {
      if (err.status) viewError("pull", err);
      return;
    }
    const pulls = data.pulls || [];
    const tbody = document.querySelector("#pulls-table tbody");
    tbody.replaceChildren(...pulls.map((p) => {
      const stop = el("button", { type: "button", className: "stop-pull", text: "Stop" });
      stop.addEventListener("click", () => run("pull", stop, async () => {
        await api("DELETE", "/api/v1/pulls/" + encodeURIComponent(p.local));
        await this.refresh();
      }));
      return el("tr", { "data-pull": p.local, "data-state": p.state },
        el("td", { text: p.local }), el("td", { text: p.source }), el("td", { text: p.remote || "" }),
        el("td", { className: "state-" + p.state, text: p.state }), el("td", { text: time(p.since) }),
        el("td", { text: String(p.attempts) }), el("td", { className: "error", text: p.lastError || "" }),
        el("td", {}, stop));
    }));
    $("pulls-count").textContent = pulls.length + " pull" + (pulls.length === 1 ? "" : "s") + ", " +
      pulls.filter((p) => p.state === "playing").length + " playing";
    $("pull-stop-all").disabled = pulls.length === 0;
    this.pulls = pulls;
  },
};

$("pull-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const body = { source: $("pull-source").value.trim() };
  if ($("pull-remote").value.trim()) body.remote = $("pull-remote").value.trim();
  if ($("pull-local").value.trim()) body.local = $("pull-local").value.trim();
  body.qty = Number($("pull-qty").value) || 0;
  run("pull", $("pull-start"), async () => {
    await api("POST", "/api/v1/pulls", body);
    await pullView.refresh();
  });
});
$("pull-stop-all").addEventListener("click", async () => {
  const pulls = pullView.pulls || [];
  if (!(await confirmAction("Stop all " + pulls.length + " pulls?", "Stop all"))) return;
  await run("pull", $("pull-stop-all"), async () => {
    const results = await Promise.allSettled(pulls.map((p) => api("DELETE", "/api/v1/pulls/" + encodeURIComponent(p.local))));
    const failed = results.filter((r) => r.status === "rejected" && r.reason.status !== 404);
    if (failed.length) throw new Error(failed.length + " pulls could not be stopped: " + failed[0].reason.message);
  });
  await pullView.refresh();
});

// --- Recordings -----------------------------------------------------------------------------

const recordingsView = {
  enter() { this.poll = poller(() => this.refresh(), 5000); },
  leave() { this.poll.stop(); },

  query() {
    const q = new URLSearchParams({ limit: "1000" });
    const stream = $("rec-stream").value.trim();
    if (stream) q.set("stream", stream);
    const from = $("rec-from").value;
    const to = $("rec-to").value;
    if (from) q.set("from", new Date(from).toISOString());
    if (to) q.set("to", new Date(to).toISOString());
    if ($("rec-state").value) q.set("state", $("rec-state").value);
    return q;
  },

  async refresh() {
    let data;
    try {
      data = await api("GET", "/api/v1/recordings?" + this.query());
      viewError("recordings", null);
    } catch (err) {
      if (err.status) viewError("recordings", err);
      return;
    }
    const segs = data.recordings || [];
    const tbody = document.querySelector("#recordings-table tbody");
    tbody.replaceChildren(...segs.slice().reverse().map((s) => this.row(s)));
    $("recordings-total").textContent = segs.length < data.total
      ? "the first " + segs.length + " of " + data.total + " segments; narrow the filter to see the rest"
      : data.total + " segment" + (data.total === 1 ? "" : "s");
    this.timeline(segs);
  },

  row(s) {
    const url = "/api/v1/recordings/" + encodeURIComponent(s.id);
    const kept = s.state !== "deleted";
    const actions = el("td", { className: "actions" });
    if (kept && s.state !== "recording") {
      actions.append(
        el("button", { type: "button", className: "play", text: "Play", onclick: () => this.play(s) }), " ",
        el("a", { className: "download", href: withToken(url), download: s.path, text: "Download" }), " ");
      const del = el("button", { type: "button", className: "delete danger", text: "Delete" });
      del.addEventListener("click", () => this.remove(s, del));
      actions.append(del);
    }
    const stored = s.offloaded ? "S3" : s.upload && s.upload.state === "uploaded" ? "local + S3" : "local";
    return el("tr", { "data-segment": s.id, "data-state": s.state },
      el("td", { text: s.stream }), el("td", { text: time(s.start) }), el("td", { text: duration(s.duration) }),
      el("td", { text: bytes(s.bytes) }),
      el("td", { text: [s.container, s.videoCodec, s.audioCodec].filter(Boolean).join(" · ") }),
      el("td", { text: s.state + (s.deleteReason ? " (" + s.deleteReason + ")" : "") + (s.error ? ": " + s.error : "") }),
      el("td", { text: kept ? stored : "—" }), actions);
  },

  play(s) {
    if (!$("range-stream").value) $("range-stream").value = s.stream;
    if (!$("range-from").value) {
      $("range-from").value = localInput(new Date(s.start));
      $("range-to").value = localInput(new Date(s.end));
    }
    const v = $("rec-video");
    $("rec-player").hidden = false;
    $("rec-player-title").textContent = s.stream + " — " + time(s.start) + " (" + duration(s.duration) + ")";
    v.src = withToken("/api/v1/recordings/" + encodeURIComponent(s.id));
    v.dataset.segment = s.id;
    v.play().catch(() => { /* autoplay may be refused; the controls remain */ });
  },

  async remove(s, button) {
    const ok = await confirmAction("Delete the segment of " + s.stream + " from " + time(s.start) +
      " (" + bytes(s.bytes) + ")? The file is removed; the catalog keeps a record of it.", "Delete");
    if (!ok) return;
    await run("recordings", button, () => api("DELETE", "/api/v1/recordings/" + encodeURIComponent(s.id)));
    if ($("rec-video").dataset.segment === s.id) {
      $("rec-video").removeAttribute("src");
      $("rec-player").hidden = true;
    }
    await this.refresh();
  },

  // timeline draws one line per stream, a bar per segment, so that the gaps show.
  timeline(segs) {
    const box = $("rec-timeline");
    const kept = segs.filter((s) => s.start && s.end);
    if (!kept.length) { box.replaceChildren(); return; }
    const t0 = Math.min(...kept.map((s) => Date.parse(s.start)));
    const t1 = Math.max(...kept.map((s) => Date.parse(s.end)));
    const span = Math.max(t1 - t0, 1000);
    const streams = [...new Set(kept.map((s) => s.stream))].sort();
    const ns = "http://www.w3.org/2000/svg";
    const rowH = 22;
    const label = 140;
    const width = 1000;
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (streams.length * rowH + 18));
    svg.setAttribute("preserveAspectRatio", "none");
    streams.forEach((name, i) => {
      const y = i * rowH;
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", "4");
      text.setAttribute("y", String(y + 15));
      text.textContent = name.length > 18 ? name.slice(0, 17) + "…" : name;
      svg.append(text);
      for (const s of kept.filter((k) => k.stream === name)) {
        const x = label + ((Date.parse(s.start) - t0) / span) * (width - label - 4);
        const w = Math.max(((Date.parse(s.end) - Date.parse(s.start)) / span) * (width - label - 4), 1.5);
        const r = document.createElementNS(ns, "rect");
        r.setAttribute("x", String(x));
        r.setAttribute("y", String(y + 4));
        r.setAttribute("width", String(w));
        r.setAttribute("height", String(rowH - 8));
        r.setAttribute("class", "seg seg-" + s.state);
        const title = document.createElementNS(ns, "title");
        title.textContent = s.stream + " " + time(s.start) + " – " + time(s.end) + " (" + s.state + ")";
        r.append(title);
        if (s.state !== "deleted" && s.state !== "recording") r.addEventListener("click", () => this.play(s));
        svg.append(r);
      }
    });
    const axis = document.createElementNS(ns, "text");
    axis.setAttribute("x", String(label));
    axis.setAttribute("y", String(streams.length * rowH + 14));
    axis.textContent = time(new Date(t0).toISOString()) + "  →  " + time(new Date(t1).toISOString());
    svg.append(axis);
    box.replaceChildren(svg);
  },
};

$("rec-filter").addEventListener("submit", (ev) => { ev.preventDefault(); recordingsView.refresh(); });

// A time range of one stream, whatever segments it spans, through GET /api/v1/playback.
function localInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}
$("range-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams({
    stream: $("range-stream").value.trim(),
    start: new Date($("range-from").value).toISOString(),
    end: new Date($("range-to").value).toISOString(),
    gaps: $("range-gaps").value,
  });
  const url = "/api/v1/playback?" + q;
  // Ask for the first byte only, so that a bad range shows the server's message rather than a
  // <video> that says nothing.
  const ctl = new AbortController();
  const check = await fetch(url, { signal: ctl.signal, headers: { Range: "bytes=0-0", ...authHeaders() } }).catch((err) => err);
  if (check instanceof Error || !check.ok) {
    let msg = check instanceof Error ? check.message : check.status + " " + check.statusText;
    if (!(check instanceof Error)) { try { msg = check.status + " " + (await check.json()).message; } catch (e) { /* not JSON */ } }
    viewError("recordings", new Error("cannot play the range: " + msg));
    return;
  }
  ctl.abort(); // the answer is good: the <video> fetches it itself
  viewError("recordings", null);
  const v = $("rec-video");
  $("rec-player").hidden = false;
  $("rec-player-title").textContent = q.get("stream") + " — " + time(q.get("start")) + " to " + time(q.get("end")) +
    (q.get("gaps") === "skip" ? " (gaps skipped)" : "");
  v.src = withToken(url);
  v.dataset.segment = "";
  v.play().catch(() => {});
  const a = $("range-download");
  a.href = withToken(url);
  a.setAttribute("download", "");
  a.hidden = false;
});

$("rec-state").addEventListener("change", () => recordingsView.refresh());

// --- Storage --------------------------------------------------------------------------------

const storageView = {
  enter() { this.poll = poller(() => this.refresh(), 2000); },
  leave() { this.poll.stop(); },

  async refresh() {
    let st;
    let hist;
    try {
      [st, hist] = await Promise.all([api("GET", "/api/v1/storage"), api("GET", "/api/v1/storage/history")]);
      viewError("storage", null);
    } catch (err) {
      if (err.status) viewError("storage", err);
      return;
    }
    const d = st.disk || {};
    const set = (id, text) => { $(id).textContent = text; };
    set("st-free", bytes(d.free));
    set("st-total", bytes(d.total));
    set("st-rate", bytes(Math.round(d.writeRate || 0)) + "/s");
    set("st-ttf", d.timeToFull === null || d.timeToFull === undefined ? "not filling" : duration(d.timeToFull));
    const state = d.error ? "error: " + d.error : d.paused ? "⚠ paused: under the hard floor"
      : d.refusingNew ? "⚠ refusing new recordings" : d.low ? "⚠ low: deleting to keep space free" : "✓ ok";
    set("st-state", state);
    $("st-state").className = d.paused || d.refusingNew || d.low || d.error ? "bad" : "good";
    set("st-policy", d.policy || "—");
    set("st-minfree", bytes(d.minFree));
    set("st-floor", bytes(d.hardFloor));
    set("st-maxseg", d.maxSegmentSeconds ? duration(d.maxSegmentSeconds) + (d.maxSegmentBytes ? " or " + bytes(d.maxSegmentBytes) : "") : "no bound");
    const r = st.retention || {};
    set("st-maxage", r.maxAge ? duration(r.maxAge) : "no limit");
    set("st-maxbytes", r.maxBytes ? bytes(r.maxBytes) : "no limit");
    const reasons = Object.entries(r.deletionsByReason || {}).map(([k, v]) => k + " " + v).join(", ");
    set("st-deletions", (r.deletions || 0) + " segments, " + bytes(r.deletedBytes || 0) + (reasons ? " (" + reasons + ")" : ""));
    const u = st.uploads || {};
    set("st-uploads", u.enabled ? u.uploaded + " segments, " + bytes(u.bytes) : "not configured");
    set("st-queue", u.enabled ? u.queue + " waiting, " + u.inFlight + " in flight" : "—");
    set("st-upfail", u.enabled ? u.failures + (u.lastError ? " — last: " + u.lastError : "") : "—");
    const w = st.webhooks || {};
    set("st-webhooks", (w.delivered || 0) + " delivered, " + (w.failures || 0) + " failed, " + (w.queue || 0) + " queued");
    $("st-failures").replaceChildren(...(st.failures || []).map((f) =>
      el("li", { text: f.stream + ": recording " + f.state + ": " + f.error })));
    this.chart(hist.samples || []);
  },

  chart(samples) {
    const box = $("st-chart");
    if (samples.length < 2) {
      box.replaceChildren(el("p", { className: "empty", text: "The chart fills as the server runs (a point every " + (samples.length ? "few seconds" : "10 s") + ")." }));
      return;
    }
    const ns = "http://www.w3.org/2000/svg";
    const W = 1000;
    const H = 220;
    const pad = 44;
    const t1 = Date.parse(samples[samples.length - 1].time);
    const t0 = t1 - 3600 * 1000;
    const x = (t) => pad + ((Date.parse(t) - t0) / (t1 - t0)) * (W - 2 * pad);
    const maxFree = Math.max(...samples.map((s) => s.total || s.free), 1);
    const maxRate = Math.max(...samples.map((s) => s.writeRate), 1);
    const line = (vals, max, cls) => {
      const p = document.createElementNS(ns, "polyline");
      p.setAttribute("points", samples.map((s, i) => x(s.time).toFixed(1) + "," + (H - pad - (vals[i] / max) * (H - 2 * pad)).toFixed(1)).join(" "));
      p.setAttribute("class", cls);
      return p;
    };
    const text = (tx, ty, str, cls) => {
      const t = document.createElementNS(ns, "text");
      t.setAttribute("x", String(tx));
      t.setAttribute("y", String(ty));
      if (cls) t.setAttribute("class", cls);
      t.textContent = str;
      return t;
    };
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    const frame = document.createElementNS(ns, "rect");
    frame.setAttribute("x", String(pad));
    frame.setAttribute("y", String(pad));
    frame.setAttribute("width", String(W - 2 * pad));
    frame.setAttribute("height", String(H - 2 * pad));
    frame.setAttribute("class", "frame");
    svg.append(frame,
      line(samples.map((s) => s.free), maxFree, "free"),
      line(samples.map((s) => s.writeRate), maxRate, "rate"),
      text(pad, pad - 8, "free space (of " + bytes(maxFree) + ")", "free-label"),
      text(W - pad, pad - 8, "write rate (peak " + bytes(Math.round(maxRate)) + "/s)", "rate-label end"),
      text(pad, H - pad + 18, "1 hour ago"),
      text(W - pad, H - pad + 18, "now", "end"));
    box.replaceChildren(svg);
  },
};

// --- routing --------------------------------------------------------------------------------

const views = { streams: streamsView, publish: publishView, pull: pullView, recordings: recordingsView, storage: storageView };
let current = null;

function route() {
  let name = location.hash.replace(/^#/, "").split("?")[0];
  if (!views[name]) name = location.pathname === "/publish" ? "publish" : "streams";
  if (current === views[name]) return;
  if (current) current.leave();
  for (const [n] of Object.entries(views)) {
    $("view-" + n).hidden = n !== name;
    const link = document.querySelector('[data-nav="' + n + '"]');
    if (n === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  current = views[name];
  document.title = "vigil — " + name;
  current.enter();
}
window.addEventListener("hashchange", route);

// /publish?stream=NAME&codec=VP8&resolution=720p&autostart=1 starts publishing without a click.
const params = new URLSearchParams(location.search);
if (params.get("stream")) $("publish-stream").value = params.get("stream");
if (params.get("codec")) $("publish-codec").value = params.get("codec").toUpperCase();
if (params.get("resolution")) $("publish-resolution").value = params.get("resolution");
route();
if (current === publishView && params.get("autostart") === "1") publishView.start();

export { APIError };
