// painterly studio: the Live tab. The camera (getUserMedia) is drawn to a canvas, each frame
// is sent as JPEG to POST /api/fast/frame, and the painted JPEG that comes back is drawn on
// the page. One frame is in flight at a time, so the rate adapts to the machine; the frames
// per second shown are those painted and drawn over the last two seconds.
// Uses $, api and el from app.js; app.js calls setupLive() once the styles are known.
"use strict";

const live = {
  fast: null,            // GET /api/fast/styles
  stream: null,          // the camera's MediaStream
  running: false,
  arrivals: [],          // performance.now() of the frames drawn in the last two seconds
  frames: 0,
  capture: document.createElement("canvas"),
};
const FPS_WINDOW_MS = 2000;
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function setupLive(fast) {
  live.fast = fast;
  const label = (style) => (style.source === "yours" ? `${style.title} (yours)` : style.title);
  $("live-style").replaceChildren(...fast.styles.map((style) =>
    el("option", { value: style.name }, label(style))));
  const names = { none: "the painting's", luminance: "the camera's (brightness only)",
                  histogram: "the camera's (recoloured)" };
  $("live-colours").replaceChildren(...fast.preserve_color.map((value) =>
    el("option", { value }, names[value] || value)));
  const limits = fast.limits, edge = $("live-edge");
  edge.min = limits.min_edge; edge.max = limits.max_frame_edge; edge.value = limits.frame_edge;
  $("live-start").disabled = !fast.available;
  $("live-message").textContent = fast.available ? "" : fast.message;
  $("live-start").addEventListener("click", startLive);
  $("live-stop").addEventListener("click", () => stopLive());
  document.addEventListener("visibilitychange", () => { if (document.hidden) stopLive(); });
}

function liveEdge() {
  const limits = live.fast.limits, value = Number($("live-edge").value);
  if (!Number.isInteger(value) || value < limits.min_edge || value > limits.max_frame_edge) {
    return limits.frame_edge;
  }
  return value;
}

async function startLive() {
  if (live.running) return;
  $("live-message").textContent = "";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("live-message").textContent =
      "This browser offers no camera to this page (open the studio at http://127.0.0.1).";
    return;
  }
  $("live-start").disabled = true;
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    $("live-message").textContent = `The camera did not start: ${e.message || e.name}`;
    $("live-start").disabled = false;
    return;
  }
  const video = $("live-video");
  video.srcObject = live.stream;
  await video.play().catch(() => null);
  live.running = true;
  live.arrivals = [];
  $("live-stop").disabled = false;
  paintFrames();
}

function stopLive(message) {
  live.running = false;
  if (live.stream) for (const track of live.stream.getTracks()) track.stop();
  live.stream = null;
  $("live-video").srcObject = null;
  $("live-stop").disabled = true;
  $("live-start").disabled = !(live.fast && live.fast.available);
  if (message) $("live-message").textContent = message;
}

async function paintFrames() {
  const video = $("live-video");
  while (live.running) {
    if (!video.videoWidth) { await sleep(50); continue; }
    const body = await grabFrame(video);
    const query = new URLSearchParams({ style: $("live-style").value, edge: liveEdge(),
                                        preserve_color: $("live-colours").value });
    let response;
    try {
      response = await fetch(`/api/fast/frame?${query}`, {
        method: "POST", headers: { "Content-Type": "image/jpeg" }, body });
    } catch (e) {
      stopLive(`The studio did not answer: ${e.message}`);
      return;
    }
    if (response.status === 503) { await sleep(300); continue; }  // busy with another painting
    if (!response.ok) {
      const error = await response.json().catch(() => null);
      stopLive((error && error.error) || `${response.status} ${response.statusText}`);
      return;
    }
    const picture = await createImageBitmap(await response.blob());
    if (!live.running) { picture.close(); return; }
    drawPainted(picture, Number(response.headers.get("X-Paint-Seconds")));
  }
}

async function grabFrame(video) {
  // The camera's picture no larger than the painting's size (never enlarged), as JPEG.
  const scale = Math.min(1, liveEdge() / Math.max(video.videoWidth, video.videoHeight));
  const canvas = live.capture;
  canvas.width = Math.max(1, Math.round(video.videoWidth * scale));
  canvas.height = Math.max(1, Math.round(video.videoHeight * scale));
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
}

function drawPainted(picture, seconds) {
  const output = $("live-output");
  if (output.width !== picture.width || output.height !== picture.height) {
    output.width = picture.width;
    output.height = picture.height;
  }
  output.getContext("2d").drawImage(picture, 0, 0);
  picture.close();
  const now = performance.now();
  live.arrivals.push(now);
  while (live.arrivals.length > 2 && now - live.arrivals[0] > FPS_WINDOW_MS) live.arrivals.shift();
  const count = live.arrivals.length, span = now - live.arrivals[0];
  live.frames += 1;
  output.dataset.frames = String(live.frames);
  if (count >= 2 && span > 0) $("live-fps").textContent = ((count - 1) * 1000 / span).toFixed(1);
  const painted = Number.isFinite(seconds) ? ` · painted in ${Math.round(seconds * 1000)} ms` : "";
  $("live-timing").textContent = `· ${output.width}×${output.height}${painted}`;
}
