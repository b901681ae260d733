// Helpers shared by the page's scripts: the JSON API, elements, genre colours and chips.
"use strict";

const $ = (sel) => document.querySelector(sel);

// Fixed colours per GTZAN genre, so a genre looks the same in chips, chart and map.
const GENRE_COLOURS = {
  blues: "#1f5fa8", classical: "#8c564b", country: "#a0740a", disco: "#c2185b",
  hiphop: "#6a3d9a", jazz: "#2e7d32", metal: "#37474f", pop: "#d84315",
  reggae: "#00838f", rock: "#b71c1c",
};

function genreColour(label) {
  return GENRE_COLOURS[label] || "#6b6b6b";
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new ApiError(0, "offline", "The service cannot be reached. Is it still running?");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, body.error || "http_error",
      body.message || `HTTP ${response.status} ${response.statusText}`);
  }
  return body;
}

// el("li", {className: "x"}, child, "text") builds an element; text is never parsed as HTML.
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  node.append(...children.filter((c) => c != null));
  return node;
}

function percent(value) {
  return `${Math.round(value * 100)}%`;
}

function chip(genre) {
  const label = (genre && genre.label) || "unknown";
  const conf = genre && genre.confidence != null ? ` ${percent(genre.confidence)}` : "";
  const dot = el("span", { className: "dot" });
  dot.style.background = genreColour(label);
  dot.setAttribute("aria-hidden", "true");
  return el("span", { className: "chip", title: `genre: ${label}${conf}` }, dot, `${label}${conf}`);
}

function songName(song) {
  return song.artist ? `${song.artist} – ${song.title}` : song.title;
}

function formatBytes(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
}

function formatDuration(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
