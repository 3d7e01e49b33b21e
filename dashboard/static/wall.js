// The wall: a mirror of the server's state, kept live over Server-Sent Events.
// Times come as absolute ISO timestamps, so the clock and countdown run smoothly here.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("wall-config").textContent);
  const t = config.texts;
  let state = { service: null, current: null, rotations: {}, stations: {}, printers: {} };
  let broker = { connected: true, since: null };
  let live = false;
  let revoked = false;
  let lastData = null;

  const $ = (id) => document.getElementById(id);
  const hhmm = (date) => date.toLocaleTimeString(config.lang, { hour: "2-digit", minute: "2-digit" });
  const hhmmss = (date) => date.toLocaleTimeString(config.lang);
  // Everything from MQTT is data, never markup: elements are built here and every value
  // goes in as text (a text node or an attribute value), numbers included.
  const text = (value) => String(value ?? "");
  const said = (key, fallback) => Object.hasOwn(t, key) ? t[key] : text(fallback);
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = text(value);
      else node.setAttribute(name, text(value));
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(text(child)));
    }
    return node;
  }
  // Replace a box's content only when it differs (a busy wall redraws every second).
  function show(box, ...nodes) {
    const now = [...box.childNodes];
    if (now.length === nodes.length && now.every((n, i) => n.isEqualNode(nodes[i]))) return;
    box.replaceChildren(...nodes);
  }
  const number = (value) => { const n = Number(value); return Number.isFinite(n) ? n : null; };

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
    // The link was revoked (or the staff login ended): stop, and show nothing but why.
    source.addEventListener("revoked", () => {
      source.close();
      revoked = true;
      state = { service: null, current: null, rotations: {}, stations: {}, printers: {} };
      render();
    });
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
      const program = today.flatMap((v, i) => [i ? el("br") : null, `${text(v.start)}–${text(v.end)} ${text(v.library)}`]);
      show(box,
        el("h2", null, t.no_visit),
        ...(next ? [el("div", { class: "program" }, el("strong", null, `${t.next_visit}:`),
          ` ${text(next.library)} · ${text(next.date)} ${text(next.start)}`)] : []),
        ...(today.length ? [el("h2", null, t.today), el("div", { class: "program" }, program)] : []));
      return;
    }
    const current = slotAt(rotation, now);
    const upcoming = rotation.slots.filter((s) => new Date(s.start) > now);
    const following = upcoming[0] || null;
    const change = current ? new Date(current.end) : following ? new Date(following.start) : null;
    let countdown = el("div", { class: "countdown" }, t.finished);
    if (change) {
      const left = Math.max(0, Math.round((change - now) / 1000));
      const label = current ? t.until_rotation : t.starts;
      const m = Math.floor(left / 60), s = String(left % 60).padStart(2, "0");
      countdown = el("div", { class: "countdown" + (left <= 60 ? " soon" : ""), "data-seconds": left },
        el("small", null, label), `${m}:${s}`);
    }
    const where = (slot, gid) => slot ? (slot.assignments.find((a) => a.group_id === gid) || null) : null;
    const cards = rotation.groups.map((g) => {
      const here = where(current, g.id), there = where(following, g.id);
      return el("div", { class: "group", "data-group": g.name },
        el("div", { class: "name" }, `${t.group} ${text(g.name)}\u00a0`, el("small", null, `(${text(g.size)})`)),
        el("div", { class: "now" }, `${t.now}: ${here ? text(here.station) : "—"}`,
          here && here.needs_staff === true ? el("small", { class: "staff" }, `\u00a0· ${t.staff_needed}`) : null),
        el("div", { class: "next" }, `${t.next}: ${there ? text(there.station) : "—"}`));
    });
    show(box, countdown, el("div", { class: "groups" }, cards));
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
    let detail = s.status === "out_of_service" && s.status_reason ? text(s.status_reason) : "";
    if (s.last_seen) {
      const age = Math.round((now - new Date(s.last_seen)) / 1000);
      detail = t.last_seen.replace("{age}", text(age));
    }
    return el("div", { class: `station kind-${text(s.kind)}`, "data-station": s.id, "data-state": st },
      el("div", { class: "what" }, s.name),
      el("div", { class: `state ${st}` }, said(st, st)),
      el("small", null, said(s.kind, s.kind) + (detail ? " · " + detail : "")));
  }

  function renderStationCard(s, now) {
    const card = document.querySelector(`[data-station="${CSS.escape(text(s.id))}"]`);
    if (!card || !s.name) return false;
    const fresh = stationCard(s, now);
    if (!card.isEqualNode(fresh)) card.replaceWith(fresh);
    return true;
  }

  function renderStations(now) {
    const stations = Object.values(state.stations).filter((s) => s.name)
      .sort((a, b) => (text(a.kind) + text(a.name)).localeCompare(text(b.kind) + text(b.name)));
    show($("stations"), el("div", { class: "list" }, stations.map((s) => stationCard(s, now))));
  }

  const minutes = (value) => {
    const s = number(value);
    return s == null ? "–" : `${Math.floor(s / 60)}:${String(Math.round(s) % 60).padStart(2, "0")}`;
  };
  const degrees = (pair) => Array.isArray(pair) && number(pair[0]) != null ? `${Math.round(number(pair[0]))}°` : "–";

  function renderPrinters(now) {
    const printers = Object.values(state.printers || {}).sort((a, b) => text(a.name).localeCompare(text(b.name)));
    const tiles = printers.map((p) => {
      // A sealed key's label already says what to do, in the wall's language.
      let detail = p.detail && p.state !== "key_sealed" ? text(p.detail) : "";
      if (p.state === "offline" && p.last_read) {
        detail = t.last_seen.replace("{age}", text(Math.round((now - new Date(p.last_read)) / 1000)));
      }
      const progress = Math.min(100, Math.max(0, number(p.progress) ?? 0));
      const job = p.job || null;
      const busy = job && (job.state === "uploading" || job.state === "printing");
      // A finished, failed or cancelled print may still be on the bed: staff must clear it.
      const awaiting = p.bed_clear === false && !busy && p.state !== "printing";
      const shown = awaiting
        ? el("span", { class: "state p-awaiting", "data-bed": "awaiting" }, t.awaiting_bed)
        : el("span", { class: `state p-${text(p.state)}` }, said("p_" + text(p.state), p.state));
      const who = job && job.group ? `${t.group} ${text(job.group)} · ${text(job.file)}` : job ? text(job.file) : "";
      const working = p.state === "printing" || p.state === "paused" || p.state === "stalled";
      const bar = el("div");
      bar.style.width = `${progress}%`;
      return el("div", { class: "printer", "data-printer": p.id, "data-state": p.state },
        el("div", { class: "head" }, el("span", null, p.name), shown),
        who ? el("small", { class: "job" }, who) : null,
        working ? [el("div", { class: "bar" }, bar),
          el("small", null, `${job ? "" : text(p.file) + " · "}${progress}% · ${t.elapsed} ${minutes(p.elapsed_seconds)} · ${t.left} ${minutes(p.left_seconds)}`)] : null,
        el("small", null, `${t.nozzle} ${degrees(p.nozzle)} · ${t.bed} ${degrees(p.bed)}${detail ? " · " + detail : ""}`));
    });
    show($("printers"), ...tiles);
  }

  function renderVisit() {
    const current = state.current && state.current.current;
    if (current) show($("visit"), document.createTextNode(text(current.library)), el("small", null, current.topic));
    else show($("visit"));
  }

  function renderBanner(now) {
    const banner = $("banner");
    const since = lastData ? hhmmss(lastData) : "—";
    if (revoked) { banner.textContent = t.revoked; banner.hidden = false; }
    else if (!live) { banner.textContent = `${t.lost_server} ${since}`; banner.hidden = false; }
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
