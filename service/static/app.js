// Soundalike page: plain JS over the JSON API, no build step, no network beyond this server.
"use strict";

const $ = (sel) => document.querySelector(sel);

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ message: response.statusText }));
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  return body;
}

function chip(genre) {
  const span = document.createElement("span");
  span.className = "chip";
  const conf = genre.confidence == null ? "" : ` ${Math.round(genre.confidence * 100)}%`;
  span.textContent = `${genre.label || "?"}${conf}`;
  return span;
}

function songButton(song) {
  const button = document.createElement("button");
  button.className = "link";
  button.type = "button";
  button.textContent = song.artist ? `${song.artist} – ${song.title}` : song.title;
  button.addEventListener("click", () => openSong(song.id));
  return button;
}

function scoreBar(score) {
  const bar = document.createElement("span");
  bar.className = "score";
  bar.title = `cosine ${score.toFixed(3)}`;
  const fill = document.createElement("span");
  fill.style.width = `${Math.max(0, score) * 100}%`;
  bar.append(fill);
  return bar;
}

function showNeighbours(neighbours) {
  const list = $("#neighbours");
  list.replaceChildren();
  for (const n of neighbours) {
    const li = document.createElement("li");
    const value = document.createElement("span");
    value.className = "muted";
    value.textContent = n.score.toFixed(3);
    li.append(scoreBar(n.score), value, songButton(n), chip(n.genre));
    list.append(li);
  }
}

async function search() {
  const q = $("#q").value.trim();
  try {
    const page = await api(`/api/songs?limit=50&q=${encodeURIComponent(q)}`);
    const list = $("#songs");
    list.replaceChildren();
    for (const song of page.items) {
      const li = document.createElement("li");
      li.append(songButton(song), chip(song.genre));
      list.append(li);
    }
    $("#songs-count").textContent = `${page.items.length} of ${page.total} songs`;
  } catch (err) {
    $("#songs-count").textContent = err.message;
  }
}

async function openSong(id) {
  try {
    const result = await api(`/api/songs/${id}/similar?k=10`);
    const song = result.song;
    const box = $("#song");
    box.replaceChildren();
    const title = document.createElement("p");
    title.append(songButton(song), " ", chip(song.genre));
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = song.audio_url;
    box.append(title, audio);
    showNeighbours(result.neighbours);
  } catch (err) {
    $("#song").textContent = err.message;
  }
}

async function upload(event) {
  event.preventDefault();
  const file = $("#file").files[0];
  const message = $("#upload-msg");
  message.textContent = "";
  if (!file) { message.textContent = "Choose an audio file first."; return; }
  const form = new FormData();
  form.append("file", file);
  try {
    const result = await api("/api/similar?k=10", { method: "POST", body: form });
    const box = $("#song");
    box.replaceChildren();
    const title = document.createElement("p");
    title.append(`${file.name} `, chip(result.genre));
    box.append(title);
    showNeighbours(result.neighbours);
  } catch (err) {
    message.textContent = err.message;
  }
}

async function status() {
  try {
    const health = await api("/api/health");
    $("#status").textContent = `${health.songs} songs, ${health.indexed} indexed, model ${health.model_version}`;
  } catch (err) {
    $("#status").textContent = `Service unavailable: ${err.message}`;
  }
}

let timer;
$("#q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
$("#upload").addEventListener("submit", upload);
status();
search();
