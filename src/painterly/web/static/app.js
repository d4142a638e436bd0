// painterly studio: the page. Plain JavaScript, no libraries, nothing from the internet.
// It picks images, starts jobs (POST /api/jobs), follows one job's Server-Sent Events
// (live preview, loss curve, progress and ETA) and lists this session's jobs. In Fast mode
// it paints the chosen photo with a fast style in one request (POST /api/fast). Before a
// job, it shows a one-pass preview of the chosen photo and painting (POST /api/universal).
// The Live tab is in live.js and the Clip tab in clip.js, which use the helpers below.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  config: null,
  chosen: { content: null, style: null },   // StoredImage records from the server
  fast: null,                                // GET /api/fast/styles
  fastStyle: null,                           // the chosen fast style's name
  job: null,                                 // id of the job shown on the stage
  jobActive: false,                          // that job is queued or running
  source: null,                              // its EventSource
  points: [],                                // [step, total, content, style]
  total: 0, scaleEdges: [], imageSeq: 0,
  pollTimer: null,
  ready: false,                              // init() has finished
  onePass: { timer: null, busy: false, again: false, key: null, urls: [] },
};

// ------------------------------------------------------------------ helpers

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    throw Object.assign(new Error(message), { status: response.status });
  }
  return body;
}

/** POST ``body`` as JSON to ``path``; the answer's JSON, or an Error with its message. */
function postJson(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(body) });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function clock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  seconds = Math.max(0, Math.round(seconds));
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

const strengthToWeight = (v) => Math.round(Math.pow(10, Number(v)) * 100) / 100;
const weightToStrength = (w) => Math.log10(Math.min(100, Math.max(1, w)));

// ------------------------------------------------------------------ images

function choose(role, image) {
  state.chosen[role] = image;
  for (const button of $(`${role}-examples`).querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.id === image.id));
  }
  $(`${role}-chosen`).src = image.thumb;
  $(`${role}-name`).textContent = image.credit ? `${image.name} (${image.credit})` : image.name;
  $(`${role}-error`).textContent = "";
  renderExploreChosen();
  requestOnePass();
}

function addThumb(role, image, select) {
  const label = image.credit ? `${image.name}, ${image.credit}` : image.name;
  const button = el("button", {
    type: "button", "data-id": image.id, title: label, "aria-label": label,
    "aria-pressed": "false", onclick: () => choose(role, image),
  }, el("img", { src: image.thumb, alt: "", loading: "lazy" }));
  $(`${role}-examples`).append(button);
  if (select) choose(role, image);
}

async function upload(role, file) {
  const error = $(`${role}-error`), drop = $(`${role}-drop`);
  error.textContent = "";
  if (!file) return;
  const limit = state.config.limits.max_upload_bytes;
  if (file.size === 0) { error.textContent = `${file.name}: the file is empty`; return; }
  if (file.size > limit) {
    error.textContent = `${file.name}: the file is larger than the limit of ${(limit / 2 ** 20).toFixed(0)} MB`;
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  drop.classList.add("busy");
  try {
    const image = await api("/api/uploads", { method: "POST", body: form });
    addThumb(role, image, true);
  } catch (e) {
    error.textContent = e.message;
  } finally {
    drop.classList.remove("busy");
  }
}

function setupDrop(role) {
  const drop = $(`${role}-drop`), input = $(`${role}-file`);
  input.addEventListener("change", () => { upload(role, input.files[0]); input.value = ""; });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) upload(role, files[0]);
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
}

// ------------------------------------------------------------------ jobs

function readParams() {
  const params = {
    content: state.chosen.content && state.chosen.content.id,
    style: state.chosen.style && state.chosen.style.id,
    size: Number($("size").value),
    iterations: Number($("iterations").value),
    seed: Number($("seed").value),
    style_weight: strengthToWeight($("strength").value),
  };
  const colours = state.config.preserve_color;
  if (colours) params.preserve_color = colours[$("preserve-color").selectedIndex];
  return params;
}

async function start(event) {
  event.preventDefault();
  $("message").textContent = "";
  if (method() === "fast") { await paintFast(); return; }
  const params = readParams();
  if (!params.content || !params.style) {
    $("message").textContent = "Choose a photo and a painting first.";
    return;
  }
  try {
    const job = await postJson("/api/jobs", params);
    follow(job);
    refreshGallery();
  } catch (e) {
    $("message").textContent = e.message;
  }
}

async function cancel() {
  if (!state.job) return;
  try { await api(`/api/jobs/${state.job}/cancel`, { method: "POST" }); }
  catch (e) { $("message").textContent = e.message; }
  refreshGallery();
}

function follow(job) {
  if (job.info.kind === "clip" && typeof followClip === "function") {  // the Clip tab's
    showTab("clip");
    followClip(job);
    return;
  }
  if (state.source) state.source.close();
  state.job = job.id;
  state.jobActive = ["queued", "running"].includes(job.state);
  state.points = [];
  state.total = job.total_steps;
  state.scaleEdges = [];
  $("download").hidden = true;
  $("progress").value = 0;
  $("cancel").disabled = !["queued", "running"].includes(job.state);
  if (job.preview || job.result) showImage(job.result || job.preview);
  showStatus(job);
  drawLoss();
  markCurrent();
  if (["done", "failed", "cancelled"].includes(job.state)) { finished(job); return; }

  const source = new EventSource(job.events);
  state.source = source;
  source.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  source.addEventListener("progress", (e) => progress(JSON.parse(e.data)));
  for (const name of ["done", "failed", "cancelled"]) {
    source.addEventListener(name, (e) => { source.close(); finished(JSON.parse(e.data)); });
  }
}

function showStatus(job) {
  const text = {
    queued: job.position === 1 ? "Waiting: next in the queue." : `Waiting: position ${job.position} in the queue.`,
    running: job.cancelling ? "Cancelling…" : "Preparing the network and the images…",
  }[job.state];
  if (text && !(job.state === "running" && !job.cancelling && state.points.length)) {
    $("status").textContent = text;
  }
  const placeholder = {
    queued: job.position === 1 ? "Next in the queue…" : "Waiting for the jobs ahead of this one…",
    running: "Preparing the network and the images…",
  }[job.state];
  if (placeholder) $("placeholder").textContent = placeholder;
}

function progress(p) {
  if (p.points && p.points.length) {
    state.points.push(...p.points);
    if (p.step === p.steps && !state.scaleEdges.includes(p.done) && p.done < p.total) state.scaleEdges.push(p.done);
  }
  state.total = p.total;
  if (p.preview) showImage(p.preview);
  $("progress").value = p.done / p.total;
  const [w, h] = p.size;
  const eta = p.eta === null ? "" : ` · about ${clock(p.eta)} left`;
  $("status").textContent =
    `Scale ${p.scale}/${p.scales} (${w}×${h}) · step ${p.done}/${p.total} · ${clock(p.elapsed)} elapsed${eta}`;
  drawLoss();
}

function showImage(url, label = "") {
  // Load off-screen first, so the visible image never flashes empty between frames; a
  // frame that arrives after a newer one (loads finish out of order) is dropped. label:
  // a caption on the image (the one-pass preview's), none for a job's own images.
  const seq = ++state.imageSeq;
  const next = new Image();
  next.onload = () => {
    if (seq !== state.imageSeq) return;
    const live = $("live");
    live.src = url;
    live.hidden = false;
    $("placeholder").hidden = true;
    $("preview-label").textContent = label;
    $("preview-label").hidden = !label;
    fitImage();
  };
  next.src = url;
}

function fitImage() {
  // As large as the frame allows, but never blown up more than 2.5 times (a 64 px run
  // should not turn into a blur the size of the screen).
  const live = $("live"), frame = live.parentElement;
  if (!live.naturalWidth) return;
  const scale = Math.min(frame.clientWidth / live.naturalWidth,
                         frame.clientHeight / live.naturalHeight, 2.5);
  live.style.width = `${Math.round(live.naturalWidth * scale)}px`;
  live.style.height = `${Math.round(live.naturalHeight * scale)}px`;
}

function finished(job) {
  $("cancel").disabled = true;
  state.jobActive = false;
  if (job.state === "done") {
    showImage(job.result);
    $("progress").value = 1;
    $("status").textContent = `Done in ${clock(job.elapsed)}.`;
    const link = $("download");
    link.href = job.download;
    link.setAttribute("download", job.info.download_name || "painterly.png");
    link.hidden = false;
  } else if (job.state === "failed") {
    $("status").textContent = "Failed.";
    $("message").textContent = job.error;
  } else {
    $("status").textContent = "Cancelled.";
  }
  refreshGallery();
}

// ------------------------------------------------------------------ fast mode

const method = () => ($("method-fast").checked ? "fast" : "optimise");

function setMethod() {
  const fast = method() === "fast";
  document.body.dataset.method = method();
  $("style-picker").hidden = fast;
  $("fast-picker").hidden = !fast;
  $("start").textContent = fast ? "Paint" : "Start";
  if (fast) $("cancel").disabled = true;
  showChosenStyle();
  requestOnePass();
}

function showChosenStyle() {
  const picture = $("style-chosen");
  if (method() === "fast") {
    const style = state.fast && state.fast.styles.find((s) => s.name === state.fastStyle);
    picture.hidden = !(style && style.thumb);
    if (style && style.thumb) picture.src = style.thumb;
    $("style-name").textContent = style ? `${style.title} (fast style)` : "";
  } else {
    picture.hidden = false;
    if (state.chosen.style) choose("style", state.chosen.style);
  }
}

function chooseFast(name) {
  state.fastStyle = name;
  for (const button of $("fast-styles").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.fast === name));
  }
  $("fast-error").textContent = "";
  showChosenStyle();
}

async function loadFast() {
  try { state.fast = await api("/api/fast/styles"); }
  catch (e) { state.fast = { available: false, message: e.message, styles: [] }; }
  const fast = state.fast, box = $("fast-styles");
  box.replaceChildren();
  for (const style of fast.styles) {
    const label = style.source === "yours" ? `${style.title} (yours)` : style.title;
    box.append(el("button", {
      type: "button", class: style.thumb ? "" : "named", "data-fast": style.name, title: label,
      "aria-label": label, "aria-pressed": "false", onclick: () => chooseFast(style.name),
    }, style.thumb ? el("img", { src: style.thumb, alt: "", loading: "lazy" }) : style.title));
  }
  if (fast.styles.length) chooseFast(fast.styles[0].name);
  $("method-fast").disabled = !fast.available;
  $("method-fast-label").title = fast.available ? "" : fast.message;
  if (typeof setupLive === "function") setupLive(fast);
  if (typeof setupClip === "function") setupClip(state.config.clips, fast);
}

async function paintFast() {
  const content = state.chosen.content;
  if (!content || !state.fastStyle) {
    $("message").textContent = "Choose a photo and a fast style first.";
    return;
  }
  if (state.source) state.source.close();
  state.job = null;
  state.jobActive = false;
  markCurrent();
  const params = { image: content.id, style: state.fastStyle, size: Number($("size").value) };
  if (state.fast.preserve_color.includes($("preserve-color").value)) {
    params.preserve_color = $("preserve-color").value;
  }
  $("start").disabled = true;
  $("download").hidden = true;
  $("status").textContent = "Painting…";
  try {
    const result = await postJson("/api/fast", params);
    showImage(result.result);
    $("progress").value = 1;
    $("status").textContent =
      `Painted in ${(result.elapsed * 1000).toFixed(0)} ms (${result.width}×${result.height}, ${result.title}).`;
    const link = $("download");
    link.href = result.download;
    link.setAttribute("download", result.download_name);
    link.hidden = false;
  } catch (e) {
    $("status").textContent = "Failed.";
    $("message").textContent = e.message;
  } finally {
    $("start").disabled = false;
  }
}

// ------------------------------------------------------------------ one-pass preview

// In Optimise mode the chosen photo is painted with the chosen painting in one pass by
// universal style transfer (Li et al. 2017) as soon as both are chosen, and again when the
// strength, size or colours change: a preview in a second or two, shown on the stage with a
// label until a job's own images take its place. One request at a time; what changes while
// it paints is sent when it returns.
const ONE_PASS_DELAY = 300;   // ms without changes before a request
const ONE_PASS_EDGE = 512;    // long edge at most: a preview, not the result
const ONE_PASS_LABEL = "one-pass preview (universal style transfer)";

const onePassAvailable = () => Boolean(state.config && state.config.universal &&
                                       state.config.universal.available);

function onePassParams() {
  const { content, style } = state.chosen;
  if (!onePassAvailable() || method() !== "optimise" || !content || !style) return null;
  const size = Math.max(16, Math.min(Number($("size").value) || ONE_PASS_EDGE, ONE_PASS_EDGE));
  const colours = $("preserve-color").value;
  return {
    photo: content.id, painting: style.id, size,
    strength: Number($("one-pass-strength").value),
    preserve_color: ["luminance", "histogram"].includes(colours) ? colours : "none",
  };
}

function requestOnePass(delay = ONE_PASS_DELAY) {
  if (!state.ready) return;  // (images chosen while the page starts: see init)
  clearTimeout(state.onePass.timer);
  state.onePass.timer = setTimeout(sendOnePass, delay);
}

async function sendOnePass() {
  const one = state.onePass, params = onePassParams();
  if (!params) return;
  if (one.busy) { one.again = true; return; }
  const key = JSON.stringify(params), job = state.job;
  if (key === one.key) { showOnePass(one.urls.at(-1), job); return; }
  one.busy = true;
  one.again = false;
  let retry = ONE_PASS_DELAY;
  $("one-pass-status").textContent = "painting…";
  try {
    const response = await fetch("/api/universal", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(params),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      const message = (body && body.error) || `${response.status} ${response.statusText}`;
      throw Object.assign(new Error(message), { status: response.status });
    }
    const url = URL.createObjectURL(await response.blob());
    one.key = key;
    one.urls.push(url);
    while (one.urls.length > 2) URL.revokeObjectURL(one.urls.shift());  // shown or showing
    const seconds = Number(response.headers.get("X-Paint-Seconds"));
    $("one-pass-status").textContent =
      isFinite(seconds) ? `painted in ${(seconds * 1000).toFixed(0)} ms` : "";
    showOnePass(url, job);
  } catch (e) {
    $("one-pass-status").textContent = e.message;
    if (e.status === 501) {  // the decoders have gone since the page started
      state.config.universal = { available: false, message: e.message };
      showOnePassControls();
    }
    if (e.status === 503) { one.again = true; retry = 1000; }  // another page's preview
  } finally {
    one.busy = false;
    if (one.again) requestOnePass(retry);
  }
}

function showOnePass(url, job) {
  // Not over a job chosen since the request, nor over one whose own images are coming.
  if (url && job === state.job && !state.jobActive && method() === "optimise") {
    showImage(url, ONE_PASS_LABEL);
  }
}

function showOnePassControls() {
  $("one-pass").hidden = !onePassAvailable();
}

function setupOnePass() {
  const slider = $("one-pass-strength");
  const shown = () => { $("one-pass-strength-value").textContent = Number(slider.value).toFixed(2); };
  shown();
  slider.addEventListener("input", () => { shown(); requestOnePass(); });
  for (const id of ["size", "preserve-color"]) $(id).addEventListener("change", () => requestOnePass());
  showOnePassControls();
}

// ------------------------------------------------------------------ loss curve

function drawLoss() {
  const canvas = $("loss");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 640, height = canvas.clientHeight || 180;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const left = 46, right = 12, top = 24, bottom = 22;
  const plotW = width - left - right, plotH = height - top - bottom;
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6f6a63";
  const series = [[1, "total", "#23211f"], [2, "content", "#2f5d8a"], [3, "style", "#c2662d"]];
  const total = Math.max(state.total, 1);
  // The axis fits the curve after its first few steps (which can spike up, or start at a
  // content loss of ~0) and spans at most 5 decades; points outside are drawn at the edge.
  const skip = Math.max(2, Math.floor(0.05 * total));
  const settled = state.points.filter((point) => point[0] > skip);
  const values = [];
  for (const point of settled.length ? settled : state.points) {
    for (const [index] of series) if (point[index] > 0) values.push(Math.log10(point[index]));
  }
  if (!values.length) {
    g.fillText("The loss curve appears here while the image forms.", left, top + plotH / 2);
    return;
  }
  let hi = Math.ceil(Math.max(...values));
  const lo = Math.max(Math.floor(Math.min(...values)), hi - 5);
  if (hi === lo) hi = lo + 1;
  const x = (step) => left + (step / total) * plotW;
  const y = (v) => top + (1 - (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * plotH;
  g.strokeStyle = "#e2dcd2";
  g.lineWidth = 1;
  for (let e = lo; e <= hi; e++) {
    g.beginPath(); g.moveTo(left, y(e)); g.lineTo(left + plotW, y(e)); g.stroke();
    g.fillText(`1e${e}`, 6, y(e) + 4);
  }
  g.setLineDash([4, 4]);
  for (const edge of state.scaleEdges) {
    g.beginPath(); g.moveTo(x(edge), top); g.lineTo(x(edge), top + plotH); g.stroke();
  }
  g.setLineDash([]);
  g.fillText("loss (log scale)", 6, 13);
  g.fillText("step", left + plotW - 24, height - 6);
  g.fillText("0", left, height - 6);
  g.fillText(String(total), left + plotW - 60, height - 6);
  let legendX = left + plotW - 3 * 70;
  for (const [index, name, colour] of series) {
    g.strokeStyle = colour;
    g.lineWidth = index === 1 ? 2 : 1.3;
    g.beginPath();
    let drawing = false;
    for (const point of state.points) {
      if (!(point[index] > 0)) { drawing = false; continue; }
      const px = x(point[0]), py = y(Math.log10(point[index]));
      if (drawing) g.lineTo(px, py); else g.moveTo(px, py);
      drawing = true;
    }
    g.stroke();
    g.fillStyle = colour;
    g.fillRect(legendX, 8, 10, 3);
    g.fillText(name, legendX + 14, 13);
    legendX += 70;
  }
}

// ------------------------------------------------------------------ gallery

async function refreshGallery() {
  let jobs;
  try { jobs = (await api("/api/jobs")).jobs; } catch (e) { return; }
  const list = $("gallery");
  list.replaceChildren();
  if (!jobs.length) list.append(el("li", { class: "empty" }, "Results of this session appear here."));
  for (const job of jobs.slice().reverse()) list.append(galleryItem(job));
  markCurrent();
  const active = jobs.some((job) => job.state === "queued" || job.state === "running");
  clearTimeout(state.pollTimer);
  if (active) state.pollTimer = setTimeout(refreshGallery, 2000);
}

function galleryItem(job) {
  const stateText = {
    queued: `queued #${job.position}`, running: job.cancelling ? "cancelling" : "running",
    done: `done, ${clock(job.elapsed)}`, failed: "failed", cancelled: "cancelled",
  }[job.state];
  const clipJob = job.info.kind === "clip";
  const picture = job.thumb || job.preview || (job.info.content && job.info.content.thumb);
  const actions = [];
  if (job.state === "queued" || job.state === "running") {
    actions.push(el("button", { type: "button", onclick: async () => {
      await api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).catch(() => null);
      refreshGallery();
    } }, "Cancel"));
  }
  if (job.download) {
    actions.push(el("a", { class: "button", href: job.download, download: job.info.download_name },
      clipJob ? "MP4" : "PNG"));
  }
  const p = job.info.params;
  const summary = job.info.kind === "explore"
    ? `explore · ${p.layer || (p.layers || []).join(", ")}`
    : clipJob ? `clip · ${p.width}×${p.height} · ${p.frames} frames`
    : `${p.size}px · ${p.iterations} it · ×${p.style_weight}`;
  return el("li", { "data-job": job.id, title: job.error || "" },
    el("img", { class: "thumb", src: picture, alt: job.info.title, onclick: () => follow(job) }),
    el("span", { class: "title" }, job.info.title),
    el("div", { class: "meta" },
      el("span", { class: `state ${job.state}` }, stateText),
      el("span", {}, ...actions)),
    el("span", { class: "state" }, summary));
}

function markCurrent() {
  for (const item of $("gallery").querySelectorAll("li[data-job]")) {
    item.classList.toggle("current", item.dataset.job === state.job);
  }
}

// ------------------------------------------------------------------ explore tab

const PANELS = { paint: "paint", live: "live-tab", clip: "clip-tab", explore: "explore" };

function showTab(name) {
  for (const [tab, panel] of Object.entries(PANELS)) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(panel).hidden = tab !== name;
  }
  if (name === "explore") loadExplore();
  if (name !== "live" && typeof stopLive === "function") stopLive();  // the camera goes off
}

function renderExploreChosen() {
  const box = $("explore-chosen");
  box.replaceChildren();
  for (const role of ["content", "style"]) {
    const image = state.chosen[role];
    if (!image) continue;
    box.append(el("figure", {}, el("img", { src: image.thumb, alt: image.name }),
      el("figcaption", {}, image.name)));
  }
}

async function loadExplore() {
  renderExploreChosen();
  let info;
  try { info = await api("/api/explore"); } catch (e) { $("explore-message").textContent = e.message; return; }
  $("explore-message").textContent = info.available ? "" : info.message;
  const views = $("explore-views");
  views.replaceChildren();
  for (const view of info.views) {
    const layer = view.layer === null
      ? el("span", { class: "layers" }, view.layers.join(", "))
      : el("select", { "aria-label": "layer" }, ...view.layers.map((name) =>
          el("option", { value: name, selected: name === view.layer ? "" : null }, name)));
    const image = el("select", { "aria-label": "image" },
      el("option", { value: "content", selected: view.image === "content" ? "" : null }, "the photo"),
      el("option", { value: "style", selected: view.image === "style" ? "" : null }, "the painting"));
    const run = el("button", { type: "button", class: "primary", "data-view": view.id,
      disabled: info.available ? null : "",
      onclick: () => runExplore(view.id, image.value, view.layer === null ? null : layer.value) },
      "Show");
    views.append(el("div", { class: "view" }, el("h2", {}, view.title), el("p", {}, view.description),
      el("label", {}, "Image ", image), el("label", {}, view.layer === null ? "Layers " : "Layer ", layer),
      run));
  }
}

async function runExplore(view, role, layer) {
  const image = state.chosen[role];
  $("explore-status").textContent = "";
  try {
    const job = await postJson("/api/explore", layer ? { view, image: image && image.id, layer }
                                                    : { view, image: image && image.id });
    followExplore(job);
  } catch (e) {
    $("explore-status").textContent = e.message;
  }
}

function followExplore(job) {
  const bar = $("explore-progress"), picture = $("explore-image"), status = $("explore-status");
  bar.hidden = false; bar.value = 0;
  const source = new EventSource(job.events);
  source.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    status.textContent = s.state === "queued" ? `Waiting: position ${s.position} in the queue.` : "Working…";
  });
  source.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    bar.value = p.done / p.total;
    status.textContent = `step ${p.done}/${p.total} · ${clock(p.elapsed)} elapsed`;
    if (p.preview) { picture.src = p.preview; picture.hidden = false; }
  });
  for (const name of ["done", "failed", "cancelled"]) {
    source.addEventListener(name, (e) => {
      source.close();
      const j = JSON.parse(e.data);
      bar.hidden = true;
      status.textContent = name === "done" ? "" : (j.error || "Cancelled.");
      if (j.result) { picture.src = j.result; picture.hidden = false; }
      refreshGallery();
    });
  }
}

// ------------------------------------------------------------------ start-up

async function init() {
  const config = await api("/api/config");
  state.config = config;
  $("about").textContent = `painterly ${config.version} · ${config.network} · ${config.device}`;
  const d = config.defaults, limits = config.limits;
  $("size").value = d.size; $("size").max = limits.max_size;
  $("iterations").value = d.iterations; $("iterations").max = limits.max_iterations;
  $("seed").value = d.seed;
  $("strength").value = weightToStrength(d.style_weight);
  $("strength-value").textContent = strengthToWeight($("strength").value);
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = strengthToWeight($("strength").value);
  });
  const keep = $("preserve-color");
  if (config.preserve_color) {
    const names = { none: "the painting's", luminance: "the photo's (brightness only)",
                    histogram: "the photo's (recolour the painting)", false: "the painting's",
                    true: "the photo's" };
    keep.replaceChildren(...config.preserve_color.map((value) =>
      el("option", { value: String(value) }, names[String(value)] || String(value))));
    keep.selectedIndex = Math.max(0, config.preserve_color.indexOf(d.preserve_color));
  } else {
    keep.disabled = true;
    keep.title = "coming soon";
  }
  for (const image of config.examples) {
    const preferred = image.id === "ex-content-chelsea_cat" || image.id === "ex-style-starry_night";
    addThumb(image.role, image, preferred);
  }
  for (const role of ["content", "style"]) {
    if (!state.chosen[role]) {
      const first = config.examples.find((image) => image.role === role);
      if (first) choose(role, first);
    }
    setupDrop(role);
  }
  setupOnePass();
  $("controls").addEventListener("submit", start);
  $("cancel").addEventListener("click", cancel);
  $("tab-paint").addEventListener("click", () => showTab("paint"));
  $("tab-explore").addEventListener("click", () => showTab("explore"));
  $("tab-live").addEventListener("click", () => showTab("live"));
  $("tab-clip").addEventListener("click", () => showTab("clip"));
  for (const radio of document.querySelectorAll("input[name='method']")) {
    radio.addEventListener("change", setMethod);
  }
  setMethod();
  await loadFast();
  window.addEventListener("resize", () => { drawLoss(); fitImage(); });
  drawLoss();
  await refreshGallery();
  const jobs = (await api("/api/jobs")).jobs;   // after a reload, pick up the latest job again
  const clips = jobs.filter((job) => job.info.kind === "clip");
  if (clips.length && typeof followClip === "function") followClip(clips[clips.length - 1]);
  const latest = jobs.filter((job) => job.info.kind !== "clip").pop();
  state.ready = true;
  if (latest) follow(latest);
  else requestOnePass();        // a fresh page: the chosen examples, in one pass
}

// After every deferred script (live.js too) has run.
document.addEventListener("DOMContentLoaded", () => {
  init().catch((e) => { $("message").textContent = `The studio did not start: ${e.message}`; });
});
