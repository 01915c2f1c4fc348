/* Part 1: draw a digit, send it to POST /predict, show the label, ten probabilities and what the model saw. */
"use strict";

(() => {
  const section = document.getElementById("digits");
  const canvas = document.getElementById("digit-canvas");
  const frame = canvas.parentElement;
  const labelEl = document.getElementById("predicted-label");
  const confidenceEl = document.getElementById("confidence");
  const flagEl = document.getElementById("digit-flag");
  const seenImg = document.getElementById("preprocessed");
  const seenEmpty = document.getElementById("seen-empty");
  const probsEl = document.getElementById("probs");
  const statusEl = document.getElementById("digit-status");
  const upload = document.getElementById("upload");

  const STROKE = 0.075; // marker width as a fraction of the box: MNIST strokes are thick
  const EXPORT_SIZE = 280; // the PNG sent to the service; it does the MNIST-style shrinking
  const LIVE_EVERY_MS = 300; // while drawing, ask at most this often

  /** Strokes in box units (0..1) so they survive a resize; an uploaded picture sits underneath. */
  let strokes = [];
  let picture = null;
  let drawing = null;

  // ---- the ten probability bars -----------------------------------------------------------------
  const bars = [];
  for (let digit = 0; digit < 10; digit += 1) {
    const row = document.createElement("div");
    row.className = "prob";
    row.dataset.testid = "prob-bar";
    row.dataset.digit = String(digit);
    row.setAttribute("role", "meter");
    row.setAttribute("aria-label", `Digit ${digit}`);
    row.setAttribute("aria-valuemin", "0");
    row.setAttribute("aria-valuemax", "100");
    row.setAttribute("aria-valuenow", "0");
    row.setAttribute("aria-valuetext", "no prediction yet");
    row.innerHTML =
      `<span class="prob-digit" aria-hidden="true">${digit}</span>` +
      '<span class="prob-track"><span class="prob-fill"></span></span>' +
      '<span class="prob-pct" aria-hidden="true">–</span>';
    probsEl.appendChild(row);
    bars.push({ row, fill: row.querySelector(".prob-fill"), pct: row.querySelector(".prob-pct") });
  }

  function showBars(probabilities) {
    const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    bars.forEach((bar, digit) => {
      const p = probabilities ? probabilities[digit] : 0;
      const value = Number.isFinite(p) ? Math.max(0, Math.min(1, p)) : 0;
      bar.fill.style.width = `${(100 * value).toFixed(2)}%`;
      bar.pct.textContent = probabilities ? Plot.pct(value) : "–";
      bar.row.classList.toggle("is-top", digit === top);
      bar.row.setAttribute("aria-valuenow", (100 * value).toFixed(1));
      bar.row.setAttribute("aria-valuetext", probabilities ? Plot.pct(value) : "no prediction yet");
    });
  }

  function showEmpty(message) {
    labelEl.textContent = "?";
    labelEl.classList.add("is-empty");
    confidenceEl.textContent = message;
    flagEl.hidden = true;
    seenImg.hidden = true;
    seenImg.removeAttribute("src");
    seenEmpty.hidden = false;
    showBars(null);
  }

  function showStatus(text, isError = false) {
    statusEl.textContent = text;
    statusEl.classList.toggle("is-error", isError);
  }

  // ---- drawing ----------------------------------------------------------------------------------
  const redraw = Plot.autoCanvas(canvas, (ctx, w, h) => paint(ctx, w, h));

  function paint(ctx, w, h) {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, w, h);
    if (picture) {
      const scale = Math.min(w / picture.width, h / picture.height);
      const pw = picture.width * scale;
      const ph = picture.height * scale;
      ctx.drawImage(picture, (w - pw) / 2, (h - ph) / 2, pw, ph);
    }
    for (const stroke of strokes) drawStroke(ctx, stroke, w, h);
  }

  function inkStyle(ctx, w) {
    ctx.strokeStyle = "#111827";
    ctx.fillStyle = "#111827";
    ctx.lineWidth = STROKE * w;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function drawStroke(ctx, stroke, w, h, from = 0) {
    inkStyle(ctx, w);
    if (stroke.length === 1) {
      ctx.beginPath();
      ctx.arc(stroke[0][0] * w, stroke[0][1] * h, (STROKE * w) / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    const start = Math.max(0, from - 1);
    ctx.moveTo(stroke[start][0] * w, stroke[start][1] * h);
    for (let i = start + 1; i < stroke.length; i += 1) ctx.lineTo(stroke[i][0] * w, stroke[i][1] * h);
    ctx.stroke();
  }

  function hasInk() {
    return strokes.length > 0 || picture !== null;
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    try {
      canvas.setPointerCapture(event.pointerId); // keep the stroke even when the pointer leaves the box
    } catch {
      /* a synthetic or already-released pointer: drawing still works without capture */
    }
    drawing = { id: event.pointerId, stroke: [Plot.boxPoint(canvas, event)] };
    section.dataset.predictState = "drawing";
    strokes.push(drawing.stroke);
    frame.classList.add("has-ink");
    redraw();
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!drawing || event.pointerId !== drawing.id) return;
    event.preventDefault();
    const events = typeof event.getCoalescedEvents === "function" ? event.getCoalescedEvents() : [];
    const before = drawing.stroke.length;
    for (const e of events.length ? events : [event]) drawing.stroke.push(Plot.boxPoint(canvas, e));
    const ctx = canvas.getContext("2d");
    const rect = canvas.getBoundingClientRect();
    drawStroke(ctx, drawing.stroke, rect.width, rect.height, before);
    predictSoon();
  });

  function endStroke(event) {
    if (!drawing || event.pointerId !== drawing.id) return;
    drawing = null;
    predictNow();
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  function clear() {
    strokes = [];
    picture = null;
    drawing = null;
    frame.classList.remove("has-ink");
    redraw();
    latest += 1; // any answer still on its way is now stale
    wanted = false;
    showEmpty("nothing drawn yet");
    showStatus("");
    section.dataset.predictState = "idle";
    section.dispatchEvent(new CustomEvent("prediction", { detail: null })); // feedback.js: nothing to correct
  }
  document.getElementById("clear").addEventListener("click", clear);
  canvas.addEventListener("keydown", (event) => {
    if (event.key === "Escape" || event.key === "Delete" || event.key === "Backspace") clear();
  });

  upload.addEventListener("change", async () => {
    const file = upload.files && upload.files[0];
    upload.value = "";
    if (!file) return;
    strokes = [];
    picture = null;
    try {
      picture = await createImageBitmap(file);
    } catch {
      picture = null; // e.g. TIFF: the browser cannot show it, but the service may still read it
    }
    frame.classList.toggle("has-ink", picture !== null);
    redraw();
    send(file, file.name);
  });

  // ---- asking the service -----------------------------------------------------------------------
  let latest = 0; // number of the newest request; older answers are dropped
  let inFlight = false;
  let wanted = false; // the drawing changed while a request was out
  let lastSent = 0;
  let timer = 0;
  let outcome = "idle"; // what the newest answer was: "done" or "error" (exposed for tests as data-predict-state)

  function exportPng() {
    const off = document.createElement("canvas");
    off.width = EXPORT_SIZE;
    off.height = EXPORT_SIZE;
    paint(off.getContext("2d"), EXPORT_SIZE, EXPORT_SIZE);
    return new Promise((resolve) => off.toBlob(resolve, "image/png"));
  }

  function predictSoon() {
    if (timer) return;
    const wait = Math.max(0, LIVE_EVERY_MS - (performance.now() - lastSent));
    timer = setTimeout(() => {
      timer = 0;
      if (drawing) predictNow();
    }, wait);
  }

  async function predictNow() {
    clearTimeout(timer);
    timer = 0;
    if (!hasInk()) return;
    if (inFlight) {
      wanted = true;
      return;
    }
    const blob = await exportPng();
    if (blob) send(blob, "drawing.png");
  }

  async function send(blob, filename) {
    const id = (latest += 1);
    inFlight = true;
    section.dataset.predictState = "busy";
    wanted = false;
    lastSent = performance.now();
    const body = new FormData();
    body.append("image", blob, filename);
    try {
      const result = await Plot.api("/predict?include=preprocessed", { method: "POST", body });
      if (id === latest) outcome = show(result) ? "done" : "error";
    } catch (err) {
      if (id === latest) {
        fail(err);
        outcome = "error";
      }
    } finally {
      inFlight = false;
      if (wanted && hasInk()) predictNow();
      else if (!drawing && id === latest) section.dataset.predictState = outcome;
    }
  }

  function show(result) {
    const probs = Array.isArray(result.probabilities) ? result.probabilities.map(Number) : null;
    if (!probs || probs.length !== 10 || !Number.isInteger(result.label)) {
      fail(new Error("The service sent an answer this page does not understand."));
      return false;
    }
    labelEl.textContent = String(result.label);
    labelEl.classList.remove("is-empty");
    const confidence = Number.isFinite(result.confidence) ? result.confidence : probs[result.label];
    confidenceEl.textContent = `${Plot.pct(confidence)} sure`;
    // looks_like_digit: the model's own "is this a digit at all?" (its digit_score, or a fallback rule).
    const digitLike = result.looks_like_digit !== false;
    const score = Number.isFinite(result.digit_score) ? ` (score ${result.digit_score.toFixed(2)})` : "";
    flagEl.textContent = digitLike ? `looks like a digit${score}` : `does not look like a digit${score}`;
    flagEl.classList.toggle("is-not-digit", !digitLike);
    flagEl.dataset.looksLikeDigit = String(digitLike);
    flagEl.hidden = false;
    showBars(probs);
    if (typeof result.preprocessed === "string" && result.preprocessed) {
      seenImg.src = `data:image/png;base64,${result.preprocessed}`;
      seenImg.hidden = false;
      seenEmpty.hidden = true;
    }
    const model = result.model ? ` (model ${result.model.name} v${result.model.version})` : "";
    showStatus(
      !digitLike
        ? `That does not look like a digit to the model${model}; its best guess is still shown.`
        : confidence < 0.6
        ? `Not sure: it is torn between a few digits${model}. Try drawing bigger or clearer.`
        : `Read in one request to POST /predict${model}.`,
    );
    section.dispatchEvent(new CustomEvent("prediction", { detail: result })); // feedback.js offers corrections
    return true;
  }

  function fail(err) {
    if (err && err.name === "AbortError") return;
    const noInk = err && err.status === 422 && /ink/i.test(err.message);
    showEmpty(noInk ? "no digit found" : "could not read it");
    showStatus(
      noInk
        ? "The service found no ink in that picture. Draw a digit with dark strokes, or upload another picture."
        : `Could not read that: ${err && err.message ? err.message : "unknown error"}`,
      true,
    );
  }

  showEmpty("nothing drawn yet");
  section.dataset.predictState = "idle";
})();
