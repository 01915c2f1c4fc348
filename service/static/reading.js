/* Read a number: draw or upload a line of digits, send it to POST /read, draw each digit's box, label and confidence. */
"use strict";

(() => {
  const section = document.getElementById("read");
  const canvas = document.getElementById("read-canvas");
  const frame = document.getElementById("read-frame");
  const boxesEl = document.getElementById("read-boxes");
  const textEl = document.getElementById("read-text");
  const statusEl = document.getElementById("read-status");
  const upload = document.getElementById("read-upload");

  const STROKE = 0.025; // of the width: as thick, relative to a digit, as the single-digit pad's pen
  const EXPORT_WIDTH = 900; // the PNG sent (3:1, as the box)
  let strokes = [];
  let picture = null; // an uploaded ImageBitmap, shown fitted into the box
  let drawing = null;
  let latest = 0;

  const redraw = Plot.autoCanvas(canvas, (ctx, w, h) => paint(ctx, w, h));

  function fit(w, h) {
    const scale = Math.min(w / picture.width, h / picture.height);
    return { scale, x: (w - picture.width * scale) / 2, y: (h - picture.height * scale) / 2 };
  }

  function paint(ctx, w, h) {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, w, h);
    if (picture) {
      const f = fit(w, h);
      ctx.drawImage(picture, f.x, f.y, picture.width * f.scale, picture.height * f.scale);
    }
    ctx.strokeStyle = "#111827";
    ctx.fillStyle = "#111827";
    ctx.lineWidth = STROKE * w;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const stroke of strokes) {
      ctx.beginPath();
      ctx.moveTo(stroke[0][0] * w, stroke[0][1] * h);
      for (const [x, y] of stroke.slice(1)) ctx.lineTo(x * w, y * h);
      if (stroke.length === 1) ctx.lineTo(stroke[0][0] * w + 0.1, stroke[0][1] * h);
      ctx.stroke();
    }
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    try {
      canvas.setPointerCapture(event.pointerId);
    } catch {
      /* drawing works without capture */
    }
    if (picture) clear(); // drawing starts over on a blank box
    drawing = { id: event.pointerId, stroke: [Plot.boxPoint(canvas, event)] };
    strokes.push(drawing.stroke);
    frame.classList.add("has-ink");
    section.dataset.readState = "drawing";
    redraw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing || event.pointerId !== drawing.id) return;
    event.preventDefault();
    const events = typeof event.getCoalescedEvents === "function" ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) drawing.stroke.push(Plot.boxPoint(canvas, e));
    redraw();
  });
  function endStroke(event) {
    if (!drawing || event.pointerId !== drawing.id) return;
    drawing = null;
    exportPng().then((blob) => blob && send(blob, "number.png", EXPORT_WIDTH, EXPORT_WIDTH / 3));
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  function clear() {
    strokes = [];
    picture = null;
    drawing = null;
    latest += 1;
    frame.classList.remove("has-ink");
    boxesEl.replaceChildren();
    textEl.textContent = "?";
    statusEl.textContent = "";
    statusEl.classList.remove("is-error");
    section.dataset.readState = "idle";
    redraw();
  }
  document.getElementById("read-clear").addEventListener("click", clear);

  upload.addEventListener("change", async () => {
    const file = upload.files && upload.files[0];
    upload.value = "";
    if (!file) return;
    clear();
    try {
      picture = await createImageBitmap(file);
    } catch {
      picture = null; // the browser cannot show it (e.g. TIFF); the service may still read it
    }
    frame.classList.toggle("has-ink", picture !== null);
    redraw();
    send(file, file.name, picture ? picture.width : 0, picture ? picture.height : 0);
  });

  function exportPng() {
    const off = document.createElement("canvas");
    off.width = EXPORT_WIDTH;
    off.height = EXPORT_WIDTH / 3;
    paint(off.getContext("2d"), off.width, off.height);
    return new Promise((resolve) => off.toBlob(resolve, "image/png"));
  }

  async function send(blob, filename, width, height) {
    const id = (latest += 1);
    section.dataset.readState = "busy";
    const body = new FormData();
    body.append("image", blob, filename);
    try {
      const result = await Plot.api("/read", { method: "POST", body });
      if (id !== latest) return;
      show(result, width, height);
      section.dataset.readState = "done";
    } catch (err) {
      if (id !== latest) return;
      boxesEl.replaceChildren();
      textEl.textContent = "?";
      const noInk = err && err.status === 422 && /ink/i.test(err.message);
      statusEl.textContent = noInk
        ? "No digits found: write them with dark strokes, or upload another picture."
        : `Could not read that: ${err && err.message ? err.message : "unknown error"}`;
      statusEl.classList.add("is-error");
      section.dataset.readState = "error";
    }
  }

  /** Boxes come in the picture's pixels; the picture is shown fitted into the box: map them there. */
  function show(result, width, height) {
    textEl.textContent = result.text;
    statusEl.classList.remove("is-error");
    const rect = canvas.getBoundingClientRect();
    let scale = rect.width / EXPORT_WIDTH;
    let x0 = 0;
    let y0 = 0;
    if (picture) {
      const f = fit(rect.width, rect.height);
      scale = f.scale;
      x0 = f.x;
      y0 = f.y;
    } else if (!width) {
      scale = 0; // the picture is not shown: no boxes to draw over it
    }
    boxesEl.replaceChildren(
      ...(scale ? result.digits : []).map((digit) => {
        const el = document.createElement("div");
        el.className = "read-box";
        el.dataset.testid = "read-box";
        el.style.left = `${x0 + digit.box.x * scale}px`;
        el.style.top = `${y0 + digit.box.y * scale}px`;
        el.style.width = `${digit.box.width * scale}px`;
        el.style.height = `${digit.box.height * scale}px`;
        const tag = document.createElement("span");
        tag.textContent = `${digit.label} · ${Plot.pct(digit.confidence)}`;
        el.appendChild(tag);
        return el;
      }),
    );
    const model = result.model ? ` (model ${result.model.name} v${result.model.version})` : "";
    statusEl.textContent = `${result.digits.length} digit${result.digits.length === 1 ? "" : "s"}, read in one request to POST /read${model}.`;
  }

  section.dataset.readState = "idle";
})();
