// painterly studio: the Clip tab. A video file is sent as the body of POST /api/clips, then
// painted with a fast style by a job of the studio's queue (POST /api/clips/paint); the page
// follows the job's Server-Sent Events (a bar, frames done, ETA, the latest painted frame)
// and ends with the MP4 in a <video> player and a download link.
// Uses $, api, el and clock from app.js; app.js calls setupClip() once the styles are known.
"use strict";

const clip = {
  status: null,          // config.clips: available, message, limits
  stored: null,          // the uploaded clip (POST /api/clips)
  job: null,             // id of the clip job shown
  source: null,          // its EventSource
  ready: false,          // the controls have their listeners
};

function setupClip(status, fast) {
  clip.status = status;
  const tab = $("tab-clip");
  tab.hidden = !(status && status.available);
  if (tab.hidden) return;
  const label = (style) => (style.source === "yours" ? `${style.title} (yours)` : style.title);
  $("clip-style").replaceChildren(...fast.styles.map((style) =>
    el("option", { value: style.name }, label(style))));
  const names = { none: "the painting's", luminance: "the clip's (brightness only)",
                  histogram: "the clip's (recoloured)" };
  $("clip-colours").replaceChildren(...(fast.preserve_color || ["none"]).map((value) =>
    el("option", { value }, names[value] || value)));
  const limits = status.limits, size = $("clip-size");
  size.min = limits.min_size; size.max = limits.max_size; size.value = limits.size;
  $("clip-limits").textContent = `Up to ${(limits.max_bytes / 2 ** 20).toFixed(0)} MB, ` +
    `${limits.max_frames} frames and ${(limits.max_pixels / 1e6).toFixed(1)} megapixels a frame.`;
  $("clip-message").textContent = fast.available ? "" : fast.message;
  if (clip.ready) return;
  clip.ready = true;
  setupClipDrop();
  $("clip-start").addEventListener("click", paintClip);
  $("clip-cancel").addEventListener("click", cancelClip);
  showClipButtons();
}

function showClipButtons(active = false) {
  const styles = $("clip-style").options.length > 0;
  $("clip-start").disabled = active || !clip.stored || !styles;
  $("clip-cancel").disabled = !active;
}

function setupClipDrop() {
  const drop = $("clip-drop"), input = $("clip-file");
  input.addEventListener("change", () => { uploadClip(input.files[0]); input.value = ""; });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) uploadClip(files[0]);
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
}

async function uploadClip(file) {
  const message = $("clip-message"), drop = $("clip-drop"), limit = clip.status.limits.max_bytes;
  message.textContent = "";
  if (!file) return;
  if (file.size === 0) { message.textContent = `${file.name}: the file is empty`; return; }
  if (file.size > limit) {
    message.textContent = `${file.name}: the file is larger than the limit of ${(limit / 2 ** 20).toFixed(0)} MB`;
    return;
  }
  // A file the browser cannot name a type for is sent as MP4: the studio reads what it is.
  const type = file.type || "video/mp4";
  drop.classList.add("busy");
  $("clip-chosen").textContent = `Reading ${file.name}…`;
  try {
    clip.stored = await api(`/api/clips?name=${encodeURIComponent(file.name)}`, {
      method: "POST", headers: { "Content-Type": type }, body: file,
    });
    const c = clip.stored;
    $("clip-chosen").textContent =
      `${c.name} · ${c.width}×${c.height} · ${c.frames} frames · ${c.duration.toFixed(1)} s` +
      (c.audio ? " · sound" : "");
  } catch (e) {
    clip.stored = null;
    $("clip-chosen").textContent = "Drop a clip here, or choose a file";
    message.textContent = e.message;
  } finally {
    drop.classList.remove("busy");
    showClipButtons(false);
  }
}

async function paintClip() {
  if (!clip.stored) return;
  $("clip-message").textContent = "";
  const params = { clip: clip.stored.id, style: $("clip-style").value,
                   size: Number($("clip-size").value), preserve_color: $("clip-colours").value };
  try {
    const job = await postJson("/api/clips/paint", params);
    followClip(job);
    refreshGallery();
  } catch (e) {
    $("clip-message").textContent = e.message;
  }
}

async function cancelClip() {
  if (!clip.job) return;
  try { await api(`/api/jobs/${clip.job}/cancel`, { method: "POST" }); }
  catch (e) { $("clip-message").textContent = e.message; }
  refreshGallery();
}

function followClip(job) {
  if (clip.source) clip.source.close();
  clip.job = job.id;
  $("clip-download").hidden = true;
  $("clip-video").hidden = true;
  $("clip-video").removeAttribute("src");
  $("clip-progress").value = 0;
  if (job.preview) showClipFrame(job.preview);
  const active = ["queued", "running"].includes(job.state);
  showClipButtons(active);
  if (!active) { clipFinished(job); return; }
  $("clip-status").textContent = "Waiting in the queue…";
  const source = new EventSource(job.events);
  clip.source = source;
  source.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    if (s.state === "queued") $("clip-status").textContent = `Waiting: position ${s.position} in the queue.`;
    else if (s.cancelling) $("clip-status").textContent = "Cancelling…";
  });
  source.addEventListener("progress", (e) => clipProgress(JSON.parse(e.data)));
  for (const name of ["done", "failed", "cancelled"]) {
    source.addEventListener(name, (e) => { source.close(); clipFinished(JSON.parse(e.data)); });
  }
}

function clipProgress(p) {
  if (p.preview) showClipFrame(p.preview);
  $("clip-progress").value = p.done / p.total;
  const [w, h] = p.size;
  const eta = p.eta === null ? "" : ` · about ${clock(p.eta)} left`;
  $("clip-status").textContent =
    `Frame ${p.done}/${p.total} (${w}×${h}) · ${clock(p.elapsed)} elapsed${eta}`;
}

function showClipFrame(url) {
  const frame = $("clip-frame");
  frame.src = url;
  frame.hidden = false;
  $("clip-placeholder").hidden = true;
}

function clipFinished(job) {
  // (the event's links are those of a picture: a clip's result is its own MP4)
  showClipButtons(false);
  const base = `/api/jobs/${job.id}/result.mp4`;
  if (job.state === "done") {
    const video = $("clip-video");
    video.src = base;
    video.hidden = false;
    $("clip-frame").hidden = true;
    $("clip-placeholder").hidden = true;
    $("clip-progress").value = 1;
    $("clip-status").textContent = `Done in ${clock(job.elapsed)}.`;
    const link = $("clip-download");
    link.href = `${base}?download=1`;
    link.setAttribute("download", job.info.download_name || "painterly.mp4");
    link.hidden = false;
  } else if (job.state === "failed") {
    $("clip-status").textContent = "Failed.";
    $("clip-message").textContent = job.error;
  } else {
    $("clip-status").textContent = "Cancelled.";
  }
  refreshGallery();
}
