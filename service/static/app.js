// Soundalike page: plain JS over the JSON API; no build step, nothing fetched but this server.
"use strict";

const AUDIO_EXTENSIONS = ["wav", "flac", "ogg", "oga", "opus", "mp3", "m4a", "aac", "wma", "aif", "aiff"];
const K = 10;
const PLAYLIST_LENGTH = 25;

function songLink(song) {
  return el("a", { href: `#/song/${song.id}`, className: "song-link" }, songName(song));
}

function player(song, { preload }) {
  const audio = el("audio", { controls: true, preload, src: `/api/songs/${song.id}/audio` });
  audio.setAttribute("aria-label", `Play ${songName(song)}`);
  return audio;
}

function meter(value, { label, colour }) {
  // A bar for a value in [0, 1]; the number is printed beside it, so the bar is decoration.
  const fill = el("span", { className: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
  if (colour) fill.style.background = colour;
  const bar = el("span", { className: "bar", title: label });
  bar.setAttribute("aria-hidden", "true");
  bar.append(fill);
  return bar;
}

function genreBars(genre) {
  const top = Object.entries(genre.probabilities || {}).sort((a, b) => b[1] - a[1]).slice(0, 3);
  const list = el("ul", { className: "bars genre-probs" });
  list.setAttribute("aria-label", "Top three genre probabilities");
  for (const [label, p] of top) {
    list.append(el("li", {}, el("span", { className: "label" }, label),
      meter(p, { label: `${label} ${percent(p)}`, colour: genreColour(label) }),
      el("span", { className: "value" }, percent(p))));
  }
  return list;
}

// A song's top tags, as the musicnn networks hear it (empty until they have run on the song).
function tagList(tags, { label }) {
  if (!tags || !tags.length) return null;
  const list = el("ul", { className: "tags" });
  list.setAttribute("aria-label", label);
  list.append(...tags.map((t) => el("li", { className: "tag", title: `probability ${percent(t.probability)}` },
    t.tag)));
  return list;
}

function showNeighbours(neighbours) {
  $("#neighbours-h").hidden = false;
  const list = $("#neighbours");
  list.replaceChildren(...neighbours.map((n) => {
    const score = el("span", { className: "value", title: "cosine similarity" }, n.score.toFixed(3));
    const head = el("div", { className: "row" }, meter(n.score, { label: `cosine ${n.score.toFixed(3)}` }),
      score, songLink(n), chip(n.genre));
    const tags = tagList(n.tags, { label: "Its top tags" });
    return el("li", { className: "neighbour" }, head, tags, player(n, { preload: "none" }));
  }));
  if (!neighbours.length) list.append(el("li", { className: "muted" }, "No other songs in the library yet."));
}

function facts(pairs) {
  const dl = el("dl", { className: "facts" });
  for (const [term, value] of pairs) if (value) dl.append(el("dt", {}, term), el("dd", {}, value));
  return dl;
}

let searchCount = 0;

async function search() {
  const q = $("#q").value.trim();
  const mine = ++searchCount;
  try {
    const page = await api(`/api/songs?limit=50&q=${encodeURIComponent(q)}`);
    if (mine !== searchCount) return; // a newer search answered first or is on its way
    $("#songs").replaceChildren(...page.items.map((song) => el("li", {}, songLink(song), chip(song.genre))));
    const total = page.total.toLocaleString();
    const shown = page.items.length < page.total ? `${page.items.length} of ${total}` : total;
    $("#songs-count").textContent = page.total
      ? `${shown} song${page.total === 1 ? "" : "s"}${q ? ` matching “${q}”` : ""}`
      : q ? `No song matches “${q}”.` : "The library is empty: run soundalike index on a folder.";
  } catch (err) {
    $("#songs-count").textContent = err.message;
  }
}

let songCount = 0;

function spaceParam() {
  // Empty: let the server choose (its default, or features while sound vectors are missing).
  const space = $("#space").value;
  return space ? `&space=${encodeURIComponent(space)}` : "";
}

function showSpace(result) {
  const note = result.space_note ? ` (${result.space_note})` : "";
  $("#space-used").textContent = result.space ? `Answered in the ${result.space} space${note}.` : "";
}

async function openSong(id, { focus }) {
  const box = $("#song");
  const mine = ++songCount;
  box.setAttribute("aria-busy", "true");
  try {
    const result = await api(`/api/songs/${id}/similar?k=${K}${spaceParam()}`);
    if (mine !== songCount) return; // the user walked on before this answer came
    const { song, neighbours } = result;
    showSpace(result);
    document.title = `${song.title} · Soundalike`;
    const genre = el("p", { className: "genre" }, "Genre: ", chip(song.genre));
    const tags = tagList(song.tags, { label: "Top tags, as the network hears the song" });
    const heard = tags
      ? [el("p", { className: "tags-h" }, "Heard as:"), tags]
      : [el("p", { className: "tags-h muted" }, "No tags yet: the network has not heard this song.")];
    box.replaceChildren(
      el("h3", { className: "song-title" }, song.title),
      facts([["Artist", song.artist], ["Album", song.album],
        ["Length", formatDuration(song.duration_s)], ["File", song.filename]]),
      genre, genreBars(song.genre), ...heard, player(song, { preload: "metadata" }),
      el("button", { type: "button", id: "make-playlist", onclick: () => makePlaylist(song) },
        "Make a playlist from this song"));
    $("#playlist-box").hidden = true;
    showNeighbours(neighbours);
    highlightOnMap(song.id);
    if (focus) $("#song-panel").focus();
  } catch (err) {
    box.replaceChildren(el("p", { className: "error" }, err.message));
    $("#neighbours").replaceChildren();
  } finally {
    box.removeAttribute("aria-busy");
  }
}

let playlistUrl = null;

async function makePlaylist(song) {
  // The server walks the playlist twice, once as JSON to show and once as the M3U8 file to
  // download; the walk is deterministic, so both list the same songs.
  const box = $("#playlist-box");
  const message = $("#playlist-msg");
  box.hidden = false;
  message.textContent = `Making a playlist from “${songName(song)}”…`;
  $("#playlist").replaceChildren();
  const request = {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ seeds: [song.id], length: PLAYLIST_LENGTH }),
  };
  try {
    const playlist = await api("/api/playlists", request);
    const file = await fetch("/api/playlists?format=m3u8", request);
    if (!file.ok) throw new ApiError(file.status, "http_error", `HTTP ${file.status}`);
    if (playlistUrl) URL.revokeObjectURL(playlistUrl);
    playlistUrl = URL.createObjectURL(await file.blob());
    $("#playlist").replaceChildren(...playlist.songs.map((s) => el("li", {}, songLink(s))));
    const download = el("a", { id: "playlist-download", href: playlistUrl,
      download: `soundalike-${song.id}.m3u8` }, "Download the playlist (M3U8)");
    message.replaceChildren(`${playlist.songs.length} songs. `, download);
  } catch (err) {
    message.textContent = `No playlist: ${err.message}`;
  }
}

function uploadMessage(text, kind) {
  const message = $("#upload-msg");
  message.textContent = text;
  message.className = kind || "";
}

function checkFile(file) {
  // Refuse early what the server would refuse anyway, with words a person can act on.
  const limit = overview.stats ? overview.stats.max_upload_bytes : null;
  const ext = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  if (!file.type.startsWith("audio/") && !AUDIO_EXTENSIONS.includes(ext)) {
    return `“${file.name}” is not an audio file${file.type ? ` (${file.type})` : ""}. ` +
      "Choose a wav, flac, ogg, opus, mp3 or m4a file.";
  }
  if (limit && file.size > limit) {
    return `“${file.name}” is too large: ${formatBytes(file.size)}, the limit is ${formatBytes(limit)}. ` +
      "A 30 s excerpt is enough.";
  }
  if (file.size === 0) return `“${file.name}” is empty.`;
  return null;
}

function explainUploadError(file, err) {
  if (err.status === 413) {
    return `“${file.name}” is too large for this server (${err.message}). A 30 s excerpt is enough.`;
  }
  if (err.code === "bad_audio") return `Could not read “${file.name}” as audio: ${err.message}.`;
  return `The upload failed: ${err.message}`;
}

async function upload(file) {
  if (!file) return;
  $("#file").value = ""; // the same file can be chosen again after an error
  const problem = checkFile(file);
  if (problem) { uploadMessage(problem, "error"); return; }
  uploadMessage(`Analysing “${file.name}”… this takes a few seconds.`, "busy");
  const form = new FormData();
  form.append("file", file);
  try {
    const result = await api(`/api/similar?k=${K}${spaceParam()}`, { method: "POST", body: form });
    showSpace(result);
    history.pushState(null, "", "#/clip");
    document.title = `${file.name} · Soundalike`;
    $("#song").replaceChildren(
      el("h3", { className: "song-title" }, `Your clip: ${file.name}`),
      facts([["Length", formatDuration(result.upload.duration_s)], ["Size", formatBytes(file.size)]]),
      el("p", { className: "genre" }, "Predicted genre: ", chip(result.genre)), genreBars(result.genre));
    showNeighbours(result.neighbours);
    highlightOnMap(null);
    uploadMessage(`Done: ${result.neighbours.length} similar songs for “${file.name}”.`, "ok");
    $("#song-panel").scrollIntoView({ block: "start" });
  } catch (err) {
    uploadMessage(explainUploadError(file, err), "error");
  }
}

function route({ focus }) {
  const match = location.hash.match(/^#\/song\/(\d+)$/);
  if (match) openSong(Number(match[1]), { focus });
}

function setUpDrop() {
  const zone = $("#drop");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    upload(event.dataTransfer.files[0]);
  });
  $("#file").addEventListener("change", () => upload($("#file").files[0]));
  $("#upload").addEventListener("submit", (event) => { event.preventDefault(); upload($("#file").files[0]); });
}

let timer;
$("#q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
document.addEventListener("keydown", (event) => {
  // "/" jumps to the search box, as on many sites; not while typing somewhere else.
  if (event.key === "/" && !["INPUT", "TEXTAREA"].includes(document.activeElement.tagName)) {
    event.preventDefault();
    $("#q").focus();
  }
});
window.addEventListener("hashchange", () => route({ focus: true }));
// Another space re-asks for the open song's neighbours; a clip has to be dropped again.
$("#space").addEventListener("change", () => route({ focus: false }));
setUpDrop();
loadOverview().then(() => route({ focus: false }));
setInterval(loadOverview, 10000);
search();
