// The wall: a mirror of the server's state, kept live over Server-Sent Events.
// Times come as absolute ISO timestamps, so the clock and countdown run smoothly here.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("wall-config").textContent);
  const t = config.texts;
  let state = { service: null, current: null, rotations: {}, stations: {}, printers: {} };
  let broker = { connected: true, since: null };
  let live = false;
  let lastData = null;

  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const hhmm = (date) => date.toLocaleTimeString(config.lang, { hour: "2-digit", minute: "2-digit" });
  const hhmmss = (date) => date.toLocaleTimeString(config.lang);

  function connect() {
    const source = new EventSource(config.events);
    source.addEventListener("snapshot", (e) => {
      state = JSON.parse(e.data);  // a full resync: cards the server no longer knows go away
      live = true; lastData = new Date(); render();
    });
    source.addEventListener("part", (e) => {
      const { key, value } = JSON.parse(e.data);
      const [kind, id] = key.split(":");
      if (kind === "service") state.service = value;
      else if (kind === "current") state.current = value;
      else if (kind === "rotation") { if (value) state.rotations[id] = value; else delete state.rotations[id]; }
      else if (kind === "printer") { if (value) state.printers[id] = value; else delete state.printers[id]; }
      else if (kind === "station") {
        if (value) state.stations[id] = value; else delete state.stations[id];
        lastData = new Date();
        // One station changed: redraw its card alone (a busy wall gets many of these).
        if (value && !renderStationCard(value, new Date())) renderStations(new Date());
        else if (!value) renderStations(new Date());
        fit();
        return;
      }
      lastData = new Date(); render();
    });
    source.addEventListener("broker", (e) => { broker = JSON.parse(e.data); render(); });
    source.onopen = () => { live = true; render(); };
    source.onerror = () => { live = false; render(); };  // EventSource reconnects by itself
  }

  function activeRotation(now) {
    const current = state.current && state.current.current;
    const rotations = Object.values(state.rotations);
    if (current && state.rotations[current.id]) return state.rotations[current.id];
    return rotations.find((r) => r.slots.length && new Date(r.slots[r.slots.length - 1].end) > now) || null;
  }

  function slotAt(rotation, now) {
    return rotation.slots.find((s) => new Date(s.start) <= now && now < new Date(s.end)) || null;
  }

  function renderRotation(now) {
    const rotation = activeRotation(now);
    const box = $("rotation");
    if (!rotation) {
      const next = state.current && state.current.next;
      const today = (state.current && state.current.today) || [];
      box.innerHTML = `<h2>${esc(t.no_visit)}</h2>` +
        (next ? `<div class="program"><strong>${esc(t.next_visit)}:</strong> ${esc(next.library)} · ${esc(next.date)} ${esc(next.start)}</div>` : "") +
        (today.length ? `<h2>${esc(t.today)}</h2><div class="program">${today.map((v) => `${esc(v.start)}–${esc(v.end)} ${esc(v.library)}`).join("<br>")}</div>` : "");
      return;
    }
    const current = slotAt(rotation, now);
    const upcoming = rotation.slots.filter((s) => new Date(s.start) > now);
    const following = upcoming[0] || null;
    const change = current ? new Date(current.end) : following ? new Date(following.start) : null;
    let countdown = `<div class="countdown">${esc(t.finished)}</div>`;
    if (change) {
      const left = Math.max(0, Math.round((change - now) / 1000));
      const label = current ? t.until_rotation : t.starts;
      const m = Math.floor(left / 60), s = String(left % 60).padStart(2, "0");
      countdown = `<div class="countdown${left <= 60 ? " soon" : ""}" data-seconds="${left}"><small>${esc(label)}</small>${m}:${s}</div>`;
    }
    const where = (slot, gid) => slot ? (slot.assignments.find((a) => a.group_id === gid) || null) : null;
    const cards = rotation.groups.map((g) => {
      const here = where(current, g.id), there = where(following, g.id);
      return `<div class="group" data-group="${esc(g.name)}"><div class="name">${esc(t.group)} ${esc(g.name)}&nbsp;<small>(${g.size})</small></div>` +
        `<div class="now">${esc(t.now)}: ${here ? esc(here.station) : "—"}</div>` +
        `<div class="next">${esc(t.next)}: ${there ? esc(there.station) : "—"}</div></div>`;
    }).join("");
    box.innerHTML = countdown + `<div class="groups">${cards}</div>`;
  }

  function stationState(station, now) {
    if (station.agent === "offline") return "offline";
    if (station.status === "out_of_service") return "out_of_service";
    for (const rotation of Object.values(state.rotations)) {
      const slot = slotAt(rotation, now);
      if (slot && slot.assignments.some((a) => a.station_id === station.id)) return "in_use";
    }
    return "free";
  }

  function stationCard(s, now) {
    const st = stationState(s, now);
    let detail = s.status === "out_of_service" && s.status_reason ? esc(s.status_reason) : "";
    if (s.last_seen) {
      const age = Math.round((now - new Date(s.last_seen)) / 1000);
      detail = esc(t.last_seen.replace("{age}", age));
    }
    return `<div class="station kind-${esc(s.kind)}" data-station="${s.id}" data-state="${st}"><div class="what">${esc(s.name)}</div><div class="state ${st}">${esc(t[st])}</div><small>${esc(t[s.kind] || s.kind)}${detail ? " · " + detail : ""}</small></div>`;
  }

  function renderStationCard(s, now) {
    const card = document.querySelector(`[data-station="${s.id}"]`);
    if (!card || !s.name) return false;
    const html = stationCard(s, now);
    if (card.outerHTML !== html) card.outerHTML = html;
    return true;
  }

  function renderStations(now) {
    const stations = Object.values(state.stations).filter((s) => s.name)
      .sort((a, b) => (a.kind + a.name).localeCompare(b.kind + b.name));
    const html = `<div class="list">` + stations.map((s) => stationCard(s, now)).join("") + `</div>`;
    if ($("stations").innerHTML !== html) $("stations").innerHTML = html;
  }

  const minutes = (s) => s == null ? "–" : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  const degrees = (pair) => pair && pair[0] != null ? `${Math.round(pair[0])}°` : "–";

  function renderPrinters(now) {
    const printers = Object.values(state.printers || {}).sort((a, b) => a.name.localeCompare(b.name));
    const html = printers.map((p) => {
      let detail = p.detail ? esc(p.detail) : "";
      if (p.state === "offline" && p.last_read) {
        detail = esc(t.last_seen.replace("{age}", Math.round((now - new Date(p.last_read)) / 1000)));
      }
      const progress = p.progress == null ? 0 : p.progress;
      const job = p.job || null;
      const busy = job && (job.state === "uploading" || job.state === "printing");
      // A finished, failed or cancelled print may still be on the bed: staff must clear it.
      const awaiting = p.bed_clear === false && !busy && p.state !== "printing";
      const shown = awaiting ? `<span class="state p-awaiting" data-bed="awaiting">${esc(t.awaiting_bed)}</span>`
        : `<span class="state p-${esc(p.state)}">${esc(t["p_" + p.state] || p.state)}</span>`;
      const who = job && job.group ? `${esc(t.group)} ${esc(job.group)} · ${esc(job.file)}` : job ? esc(job.file) : "";
      return `<div class="printer" data-printer="${p.id}" data-state="${esc(p.state)}">` +
        `<div class="head"><span>${esc(p.name)}</span>${shown}</div>` +
        (who ? `<small class="job">${who}</small>` : "") +
        (p.state === "printing" || p.state === "paused" || p.state === "stalled"
          ? `<div class="bar"><div style="width:${progress}%"></div></div><small>${job ? "" : esc(p.file || "") + " · "}${progress}% · ${esc(t.elapsed)} ${minutes(p.elapsed_seconds)} · ${esc(t.left)} ${minutes(p.left_seconds)}</small>`
          : "") +
        `<small>${esc(t.nozzle)} ${degrees(p.nozzle)} · ${esc(t.bed)} ${degrees(p.bed)}${detail ? " · " + detail : ""}</small></div>`;
    }).join("");
    if ($("printers").innerHTML !== html) $("printers").innerHTML = html;
  }

  function renderVisit() {
    const current = state.current && state.current.current;
    $("visit").innerHTML = current ? `${esc(current.library)}<small>${esc(current.topic)}</small>` : "";
  }

  function renderBanner(now) {
    const banner = $("banner");
    const since = lastData ? hhmmss(lastData) : "—";
    if (!live) { banner.textContent = `${t.lost_server} ${since}`; banner.hidden = false; }
    else if (!broker.connected) { banner.textContent = `${t.lost_broker} ${since}`; banner.hidden = false; }
    else banner.hidden = true;
  }

  // The wall fits its screen. Each region (.fit) shows its tiles at the largest scale --s, at
  // most 1, at which nothing reaches past the region; wall.css sizes everything in it from --s.
  // The search runs when the screen or the number of elements changes, or something spills.
  const SMALLEST = 0.3;
  let fitted = "";
  const spills = (box) => box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1;

  function fitRegion(box) {
    box.style.setProperty("--s", "1");
    if (!spills(box)) return;
    let lo = SMALLEST, hi = 1;
    for (let step = 0; step < 8; step++) {
      const mid = (lo + hi) / 2;
      box.style.setProperty("--s", mid.toFixed(4));
      if (spills(box)) hi = mid; else lo = mid;
    }
    box.style.setProperty("--s", lo.toFixed(4));
  }

  function fit() {
    const regions = [...document.querySelectorAll(".fit")];
    const shape = [innerWidth, innerHeight, ...regions.map((r) => r.getElementsByTagName("*").length)].join(" ");
    if (shape === fitted && !regions.some(spills)) return;
    fitted = shape;
    regions.forEach(fitRegion);  // in page order: in portrait the stations get what the rest leaves
  }

  function render() {
    const now = new Date();
    $("clock").textContent = hhmm(now);
    renderVisit(); renderRotation(now); renderStations(now); renderPrinters(now); renderBanner(now);
    fit();
  }

  addEventListener("resize", fit);
  setInterval(render, 1000);
  connect();
  render();
})();
