// The library at a glance: indexing status, songs per genre, and the 2-D map of all songs.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
// Past this many points the map's dots leave the tab order; the search list covers them.
const MAP_TAB_LIMIT = 300;

const overview = { stats: null, mapGeneration: null, current: null };

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

function showStatus(stats) {
  const waiting = stats.songs - stats.indexed;
  const state = waiting > 0 ? `${waiting} waiting to be indexed` : "all indexed";
  $("#status").textContent = `${stats.songs.toLocaleString()} songs · ${state}`;
  const facts = [
    ["Songs in the database", String(stats.songs)],
    ["Vectors in the index", String(stats.indexed)],
    ["Index generation", String(stats.index_generation)],
    ["Last indexed", ago(stats.synced_at)],
    ["Genre model", stats.model_version || "none"],
  ];
  $("#index-status").replaceChildren(
    ...facts.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  $("#upload-limit").textContent = `Up to ${formatBytes(stats.max_upload_bytes)}; wav, flac, ogg, opus, mp3, m4a…`;
}

function showGenres(genres, total) {
  const most = Math.max(1, ...genres.map((g) => g.count));
  $("#genres").replaceChildren(...genres.map((g) => {
    const fill = el("span", { className: "fill" });
    fill.style.width = `${(100 * g.count) / most}%`;
    fill.style.background = genreColour(g.label);
    const bar = el("span", { className: "bar" }, fill);
    bar.setAttribute("aria-hidden", "true");
    const share = total ? ` (${percent(g.count / total)})` : "";
    return el("li", {}, el("span", { className: "label" }, g.label), bar,
      el("span", { className: "value" }, `${g.count}${share}`));
  }));
  if (!genres.length) $("#genres").append(el("li", { className: "muted" }, "No songs yet."));
}

function showMap(body) {
  const map = $("#map");
  map.replaceChildren(svg("rect", { x: 0, y: 0, width: 100, height: 100, class: "map-bg" }));
  const focusable = body.points.length <= MAP_TAB_LIMIT;
  for (const p of body.points) {
    const link = svg("a", { href: `#/song/${p.id}`, "data-id": p.id, class: "point" });
    if (!focusable) link.setAttribute("tabindex", "-1");
    const label = `${songName(p)} (${p.genre || "unknown"})`;
    link.setAttribute("aria-label", label);
    const dot = svg("circle", { cx: 50 + 45 * p.x, cy: 50 - 45 * p.y, r: 2.2, fill: genreColour(p.genre) });
    const title = svg("title");
    title.textContent = label;
    dot.append(title);
    link.append(dot);
    map.append(link);
  }
  const genres = [...new Set(body.points.map((p) => p.genre || "unknown"))].sort();
  $("#legend").replaceChildren(...genres.map((g) => chip({ label: g })));
  $("#map-h").textContent = body.sampled
    ? `Map of ${body.points.length.toLocaleString()} of ${body.songs.toLocaleString()} songs`
    : "Map of all songs";
  overview.mapGeneration = body.index_generation;
  highlightOnMap(overview.current);
}

function highlightOnMap(id) {
  overview.current = id;
  for (const point of document.querySelectorAll("#map .point")) {
    const on = String(id) === point.getAttribute("data-id");
    point.classList.toggle("current", on);
    if (on) point.parentNode.append(point); // draw the current song on top
  }
}

async function loadOverview() {
  try {
    const stats = await api("/api/library/stats");
    overview.stats = stats;
    showStatus(stats);
    showGenres(stats.genres, stats.songs);
    if (stats.index_generation !== overview.mapGeneration) showMap(await api("/api/library/map"));
  } catch (err) {
    $("#status").textContent = `Service unavailable: ${err.message}`;
  }
}
