// humannet viewer: a filterable grid of clips and a clip page with keypoints drawn over the video.
// Plain JavaScript, no libraries, so it works offline. State lives in the URL hash:
//   #/?f.viewpoint=ego&s.blur_score=0.5,1&q=pour&offset=0   the grid with filters
//   #/clip/CLIP_ID                                          one clip
"use strict";

const PAGE = 60;
// MediaPipe Pose and Hands landmark connections (the order of the arrays in {clip_id}.pose.npz).
const BODY_EDGES = [[0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5], [5, 6], [6, 8], [9, 10], [11, 12], [11, 13], [13, 15], [15, 17], [15, 19],
  [15, 21], [17, 19], [12, 14], [14, 16], [16, 18], [16, 20], [16, 22], [18, 20], [11, 23], [12, 24], [23, 24], [23, 25], [24, 26], [25, 27],
  [26, 28], [27, 29], [28, 30], [29, 31], [30, 32], [27, 31], [28, 32]];
const HAND_EDGES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11], [11, 12], [9, 13], [13, 14],
  [14, 15], [15, 16], [13, 17], [0, 17], [17, 18], [18, 19], [19, 20]];
const BODY_VISIBILITY = 0.3;
const HAND_COLOURS = ["#ff9f1c", "#2ec4b6"]; // the person's left, right hand

// Exposed for tests and for people poking at the page from the console.
window.viewerState = { facets: null, lastGridHash: "#/", framesDrawn: 0, lastDrawnKeypoints: 0, pose: null, clip: null };

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// ---------- routing ----------

function parseHash() {
  const hash = location.hash || "#/";
  const clip = hash.match(/^#\/clip\/([^?]+)/);
  if (clip) return { view: "clip", clipId: decodeURIComponent(clip[1]) };
  const query = hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "";
  return { view: "grid", params: new URLSearchParams(query) };
}

// Every navigation bumps this; an async load whose route is no longer current drops its result.
let routeNumber = 0;
const isCurrentRoute = (number) => number === routeNumber;

async function route() {
  const number = ++routeNumber;
  // The URL is now the state: a search typed before this navigation must not fire later and navigate again
  // (a stale timer would drag the page from a clip back to the grid).
  cancelPendingSearch();
  const state = parseHash();
  const clipView = state.view === "clip";
  $("#grid-view").hidden = clipView;
  $("#clip-view").hidden = !clipView;
  $("#filters").hidden = clipView;
  if (!clipView) {
    stopClip();
    window.viewerState.lastGridHash = location.hash || "#/";
    syncFilterInputs(state.params);
    await loadGrid(state.params, number);
  } else {
    await loadClip(state.clipId, number);
  }
}

// ---------- filters ----------

async function loadFacets() {
  const facets = await getJSON("/api/facets");
  window.viewerState.facets = facets;
  const labels = $("#label-filters");
  labels.replaceChildren();
  for (const facet of facets.labels) {
    labels.append(el("fieldset", { dataset: { column: facet.column } }, el("legend", {}, facet.column),
      facet.values.map((v) => el("label", {},
        el("input", { type: "checkbox", value: v.value, dataset: { facet: facet.column }, onchange: applyFilters }),
        ` ${v.value} `, el("span", { class: "count" }, `(${v.count})`)))));
  }
  const scores = $("#score-filters");
  scores.replaceChildren();
  for (const score of facets.scores) {
    const step = Math.max((score.max - score.min) / 100, 1e-6);
    const input = (bound, placeholder) => el("input", { type: "number", step: String(step), placeholder: fmt(placeholder), dataset: { score: score.column, bound }, onchange: applyFilters });
    scores.append(el("fieldset", {}, el("legend", {}, score.column), el("div", { class: "range" }, input("min", score.min), input("max", score.max))));
  }
}

function filterParams() {
  const params = new URLSearchParams();
  const text = $("#search").value.trim();
  if (text) params.set("q", text);
  for (const box of document.querySelectorAll("input[data-facet]:checked")) params.append(`f.${box.dataset.facet}`, box.value);
  const ranges = {};
  for (const input of document.querySelectorAll("input[data-score]")) {
    if (input.value !== "") (ranges[input.dataset.score] ||= {})[input.dataset.bound] = input.value;
  }
  for (const [column, range] of Object.entries(ranges)) params.set(`s.${column}`, `${range.min ?? ""},${range.max ?? ""}`);
  return params;
}

function applyFilters() {
  cancelPendingSearch();
  const params = filterParams();
  location.hash = `#/?${params.toString()}`;
}

let searchTimer = null;

// Typing searches after a pause; any navigation before then cancels it (see route).
function scheduleSearch() {
  cancelPendingSearch();
  searchTimer = setTimeout(applyFilters, 300);
}

function cancelPendingSearch() {
  clearTimeout(searchTimer);
  searchTimer = null;
}

function clearFilters() {
  cancelPendingSearch();
  $("#search").value = "";
  if (location.hash === "#/") route(); // no hashchange when the hash is already "#/": re-sync the inputs and the grid here
  else location.hash = "#/";
}

function syncFilterInputs(params) {
  $("#search").value = params.get("q") || "";
  for (const box of document.querySelectorAll("input[data-facet]")) box.checked = params.getAll(`f.${box.dataset.facet}`).includes(box.value);
  for (const input of document.querySelectorAll("input[data-score]")) {
    const [low, high] = (params.get(`s.${input.dataset.score}`) || ",").split(",");
    input.value = input.dataset.bound === "min" ? low : high;
  }
}

// ---------- grid ----------

async function loadGrid(params, number) {
  const query = new URLSearchParams(params);
  query.set("limit", String(PAGE));
  const grid = $("#grid");
  let page;
  try {
    page = await getJSON(`/api/clips?${query.toString()}`);
  } catch (error) {
    if (!isCurrentRoute(number)) return;
    grid.replaceChildren(el("p", { class: "error" }, error.message));
    $("#result-count").textContent = "";
    return;
  }
  if (!isCurrentRoute(number)) return; // a later navigation owns the grid now
  $("#result-count").textContent = `${page.total} clip${page.total === 1 ? "" : "s"}`;
  $("#result-count").dataset.total = page.total;
  grid.replaceChildren(...page.clips.map(card));
  const offset = page.offset;
  $("#page-info").textContent = page.total ? `${offset + 1}–${offset + page.clips.length} of ${page.total}` : "no clips match";
  $("#prev-page").disabled = offset === 0;
  $("#next-page").disabled = offset + page.clips.length >= page.total;
  $("#prev-page").onclick = () => { params.set("offset", String(Math.max(0, offset - PAGE))); location.hash = `#/?${params}`; };
  $("#next-page").onclick = () => { params.set("offset", String(offset + PAGE)); location.hash = `#/?${params}`; };
}

function card(clip) {
  const picture = clip.media === "ok"
    ? el("img", { src: `/thumb/${encodeURIComponent(clip.clip_id)}.jpg`, alt: clip.clip_id, loading: "lazy", onerror: (e) => e.target.replaceWith(placeholder("thumbnail unavailable")) })
    : placeholder(clip.media);
  const tags = [clip.viewpoint, ...(clip.motion_categories || []), clip.activity_class].filter(Boolean).map((t) => el("span", { class: "tag" }, t));
  return el("a", { class: "clip-card", href: `#/clip/${encodeURIComponent(clip.clip_id)}`, dataset: { clipId: clip.clip_id, media: clip.media } },
    picture,
    el("div", { class: "meta" },
      clip.caption_short ? el("div", { class: "caption" }, clip.caption_short) : null,
      el("div", {}, tags),
      el("div", { class: "count" }, `${fmt(clip.duration_s)} s · ${clip.title || clip.video_id}`)));
}

function placeholder(text) {
  return el("div", { class: "placeholder" }, text);
}

// ---------- clip page ----------

let frameCallback = null;

function stopClip() {
  const video = $("#player");
  if (frameCallback !== null && video.cancelVideoFrameCallback) video.cancelVideoFrameCallback(frameCallback);
  frameCallback = null;
  video.pause();
  video.removeAttribute("src");
  video.load();
}

async function loadClip(clipId, number) {
  stopClip();
  $("#back").href = window.viewerState.lastGridHash;
  $("#clip-title").textContent = clipId;
  const placeholderBox = $("#media-placeholder");
  const video = $("#player");
  const overlay = $("#overlay");
  overlay.dataset.drawnKeypoints = "0";
  window.viewerState.pose = null;
  window.viewerState.clip = null;
  let detail;
  try {
    detail = await getJSON(`/api/clip/${encodeURIComponent(clipId)}`);
  } catch (error) {
    if (!isCurrentRoute(number)) return;
    video.hidden = true;
    placeholderBox.hidden = false;
    placeholderBox.textContent = error.message;
    return;
  }
  if (!isCurrentRoute(number)) return; // the user has left this clip: do not start its video
  window.viewerState.clip = detail;
  $("#clip-title").textContent = detail.clip.caption_short || detail.video.title || clipId;
  renderSource(detail);
  renderCaption(detail);
  renderLabels(detail);
  $("#metadata").textContent = JSON.stringify({ index: detail.clip, shard: detail.metadata }, null, 2);
  const playable = detail.media.state === "ok";
  video.hidden = !playable;
  placeholderBox.hidden = playable;
  placeholderBox.textContent = playable ? "" : `Video unavailable: ${detail.media.state}`;
  if (!playable) {
    $("#pose-status").textContent = "";
    return;
  }
  video.src = `/media/${encodeURIComponent(clipId)}.mp4`;
  video.addEventListener("loadedmetadata", () => { overlay.width = video.videoWidth; overlay.height = video.videoHeight; drawAt(video.currentTime); }, { once: true });
  getJSON(`/api/clip/${encodeURIComponent(clipId)}/pose`).then((pose) => {
    if (!isCurrentRoute(number)) return;
    window.viewerState.pose = pose;
    $("#pose-status").textContent = `${pose.times.length} keypoint samples`;
    drawAt(video.currentTime);
  }).catch((error) => { if (isCurrentRoute(number)) $("#pose-status").textContent = `no keypoints: ${error.message}`; });
  const onFrame = (now, metadata) => { drawAt(metadata.mediaTime); frameCallback = video.requestVideoFrameCallback(onFrame); };
  if (video.requestVideoFrameCallback) frameCallback = video.requestVideoFrameCallback(onFrame);
}

function nearestSample(times, t) {
  let low = 0;
  let high = times.length - 1;
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (times[mid] <= t) low = mid; else high = mid;
  }
  return Math.abs(times[high] - t) < Math.abs(times[low] - t) ? high : low;
}

function drawAt(t) {
  const overlay = $("#overlay");
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const pose = window.viewerState.pose;
  if (!pose || !pose.times.length || !overlay.width) return;
  const index = nearestSample(pose.times, t);
  const spacing = pose.times.length > 1 ? (pose.times[pose.times.length - 1] - pose.times[0]) / (pose.times.length - 1) : 0.1;
  if (Math.abs(pose.times[index] - t) > Math.max(1.5 * spacing, 0.15)) return; // no sample near this frame
  const w = overlay.width;
  const h = overlay.height;
  const scale = Math.max(2, w / 320);
  let drawn = 0;
  const drawSet = (points, edges, colour, usable) => {
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = scale;
    for (const [a, b] of edges) {
      if (usable(points[a]) && usable(points[b])) {
        ctx.beginPath();
        ctx.moveTo(points[a][0] * w, points[a][1] * h);
        ctx.lineTo(points[b][0] * w, points[b][1] * h);
        ctx.stroke();
      }
    }
    for (const point of points) {
      if (!usable(point)) continue;
      ctx.beginPath();
      ctx.arc(point[0] * w, point[1] * h, scale * 1.5, 0, 2 * Math.PI);
      ctx.fill();
      drawn += 1;
    }
  };
  const present = (p) => p && p[0] !== null && p[1] !== null;
  if ($("#show-body").checked && pose.body[index] && pose.body[index].length) {
    drawSet(pose.body[index], BODY_EDGES, "#e71d36", (p) => present(p) && (p[2] === null || p[2] >= BODY_VISIBILITY));
  }
  if ($("#show-hands").checked && pose.hands[index]) {
    pose.hands[index].forEach((hand, side) => drawSet(hand, HAND_EDGES, HAND_COLOURS[side] || "#fff", present));
  }
  overlay.dataset.drawnKeypoints = String(drawn);
  window.viewerState.lastDrawnKeypoints = drawn;
  if (drawn) window.viewerState.framesDrawn += 1;
}

function renderSource(detail) {
  const source = detail.source;
  const span = `${fmt(source.start_s)}–${fmt(source.end_s)} s`;
  const target = source.url || (source.uri ? `file://${source.uri}` : null);
  const name = source.title || source.url || source.uri || detail.clip.video_id;
  const link = target ? el("a", { id: "source-link", href: target, target: "_blank", rel: "noopener" }, name) : el("span", {}, name);
  $("#source").replaceChildren("Source: ", link, ` (${span} of the source video)`, source.license ? ` · licence: ${source.license}` : "");
}

function renderCaption(detail) {
  const box = $("#caption-tree");
  box.replaceChildren();
  if (detail.caption) box.append(...captionRecord(detail.caption));
  if (detail.caption_nodes && detail.caption_nodes.length) {
    box.append(el("details", { open: "" }, el("summary", {}, `Caption tree of the source video (${detail.caption_nodes.length} nodes)`),
      nodeTree(detail.caption_nodes, detail.clip.clip_id)));
  }
  if (!box.children.length) {
    const short = detail.clip.caption_short;
    box.append(short ? el("p", {}, short) : el("p", { class: "count" }, "No caption for this clip."));
  }
}

// A clip's caption record (clip JSON `caption`): the texts and timed actions up front, every field with its provenance folded.
function captionRecord(caption) {
  if (typeof caption !== "object" || caption === null) return [el("p", {}, fmt(caption))];
  const parts = [];
  if (caption.short) parts.push(el("p", { class: "caption-short" }, caption.short));
  if (caption.detailed && caption.detailed !== caption.short) parts.push(el("p", {}, caption.detailed));
  if (Array.isArray(caption.actions) && caption.actions.length) {
    parts.push(el("ol", { class: "actions" }, caption.actions.map((a) => el("li", {},
      `${fmt(a.start_s)}–${fmt(a.end_s)} s: ${a.text || [a.verb, a.object].filter(Boolean).join(" ")}`,
      a.provenance ? el("span", { class: "count" }, ` (${a.provenance})`) : null))));
  }
  const rest = Object.fromEntries(Object.entries(caption).filter(([key]) => !["short", "detailed", "actions"].includes(key)));
  parts.push(el("details", {}, el("summary", {}, "All caption fields and their provenance"), tree(rest)));
  return parts;
}

// Caption tree nodes (captions/trees.parquet rows: node_id, parent_id, kind, start, end, caption_short, ...) as a nested list.
function nodeTree(nodes, clipId) {
  if (!nodes.every((n) => "node_id" in n && "parent_id" in n)) return tree(nodes);
  const children = new Map();
  for (const node of nodes) {
    const key = node.parent_id ?? "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(node);
  }
  const ids = new Set(nodes.map((n) => n.node_id));
  const roots = nodes.filter((n) => n.parent_id === null || !ids.has(n.parent_id));
  const item = (node) => {
    const text = node.caption_short || node.action_brief || node.caption_detailed || "";
    const span = node.start !== undefined ? ` ${fmt(node.start)}–${fmt(node.end)} s` : "";
    const own = node.clip_id === clipId && node.kind === "clip";
    return el("li", { class: own ? "current" : null, dataset: { nodeKind: node.kind || "" } },
      el("span", { class: "key" }, `${node.kind || "node"}${span}: `), text,
      node.provenance ? el("span", { class: "count" }, ` (${node.provenance})`) : null,
      (children.get(node.node_id) || []).length ? el("ul", {}, children.get(node.node_id).map(item)) : null);
  };
  return el("ul", { class: "tree" }, roots.map(item));
}

function tree(value) {
  if (Array.isArray(value)) return el("ul", { class: "tree" }, value.map((item) => el("li", {}, tree(item))));
  if (value && typeof value === "object") {
    return el("ul", { class: "tree" }, Object.entries(value).map(([key, item]) =>
      el("li", {}, el("span", { class: "key" }, `${key}: `), typeof item === "object" && item !== null ? tree(item) : fmt(item))));
  }
  return document.createTextNode(fmt(value));
}

// A provenance record from provenance.parquet ({stage, stage_version, config_hash, ...}) as one short line.
function provenanceText(provenance) {
  if (provenance && typeof provenance === "object") {
    const parts = [provenance.stage, provenance.stage_version ? `v${provenance.stage_version}` : null, provenance.config_hash ? `config ${provenance.config_hash}` : null];
    return parts.filter(Boolean).join(" ") || JSON.stringify(provenance);
  }
  return fmt(provenance);
}

function renderLabels(detail) {
  $("#labels tbody").replaceChildren(...detail.labels.map((label) =>
    el("tr", { dataset: { label: label.name } }, el("td", {}, label.name), el("td", {}, fmt(label.value)), el("td", {}, fmt(label.score)), el("td", {}, provenanceText(label.provenance)))));
  $("#scores tbody").replaceChildren(...detail.scores.map((score) => el("tr", {}, el("td", {}, score.name), el("td", {}, fmt(score.value)))));
}

// ---------- start ----------

$("#search").addEventListener("input", scheduleSearch);
$("#clear-filters").addEventListener("click", clearFilters);
$("#player").addEventListener("seeked", () => drawAt($("#player").currentTime));
if (!HTMLVideoElement.prototype.requestVideoFrameCallback) $("#player").addEventListener("timeupdate", () => drawAt($("#player").currentTime));
$("#show-body").addEventListener("change", () => drawAt($("#player").currentTime));
$("#show-hands").addEventListener("change", () => drawAt($("#player").currentTime));
window.addEventListener("hashchange", route);
loadFacets().catch((error) => { $("#label-filters").replaceChildren(el("p", { class: "error" }, error.message)); }).finally(route);
