/* Shared helpers for the page: canvas set-up, axes, number formatting, API calls. Plain canvas 2D. */
"use strict";

window.Plot = (() => {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  /** Readable number, never "NaN" or "Infinity": non-finite values show as a dash. */
  function fmt(value, digits = 3) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    const abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(2).replace("e+", "e");
    return value.toFixed(digits);
  }

  function pct(p) {
    if (!Number.isFinite(p)) return "–";
    const v = 100 * p;
    return (v >= 99.95 || v < 0.05) && v !== 0 ? `${v.toFixed(v >= 99.95 ? 0 : 1)}%` : `${v.toFixed(1)}%`;
  }

  /** Where a pointer event falls on an element, as [x, y] fractions of its box, clamped to 0..1. */
  function boxPoint(element, event) {
    const rect = element.getBoundingClientRect();
    return [
      Math.max(0, Math.min(1, (event.clientX - rect.left) / rect.width)),
      Math.max(0, Math.min(1, (event.clientY - rect.top) / rect.height)),
    ];
  }

  /**
   * Keep a canvas's backing store at CSS size × devicePixelRatio and call draw(ctx, width, height) in CSS
   * pixels whenever it resizes. Returns a function that redraws on demand.
   */
  function autoCanvas(canvas, draw) {
    const ctx = canvas.getContext("2d");
    let width = 0;
    let height = 0;
    function redraw() {
      if (!width || !height) return;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      const dpr = canvas.width / width;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      draw(ctx, width, height);
    }
    function resize() {
      const rect = canvas.getBoundingClientRect();
      const dpr = Math.min(window.devicePixelRatio || 1, 3);
      width = Math.max(1, rect.width);
      height = Math.max(1, rect.height);
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      redraw();
    }
    new ResizeObserver(resize).observe(canvas);
    resize();
    return redraw;
  }

  /** About n round tick values covering [lo, hi]. */
  function ticks(lo, hi, n = 5) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => raw <= s) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function tickLabel(v) {
    const abs = Math.abs(v);
    if (abs !== 0 && (abs >= 1e4 || abs < 1e-2)) return v.toExponential(0).replace("e+", "e");
    return String(Number(v.toPrecision(4)));
  }

  /**
   * A 2D chart frame: maps data to pixels, draws grid, ticks and axis titles. yLog draws the y axis in
   * powers of ten. Returns {x(v), y(v), invX(px), invY(px), box} for drawing series on top.
   */
  function frame(ctx, width, height, opts) {
    const small = width < 420;
    const pad = { left: small ? 40 : 52, right: 12, top: 12, bottom: opts.xTitle ? (small ? 38 : 42) : 26 };
    const box = { x0: pad.left, y0: pad.top, x1: width - pad.right, y1: height - pad.bottom };
    const [xlo, xhi] = opts.x;
    let [ylo, yhi] = opts.y;
    const f = opts.yLog ? Math.log10 : (v) => v;
    if (opts.yLog) {
      ylo = Math.floor(Math.log10(ylo));
      yhi = Math.ceil(Math.log10(yhi));
      if (yhi === ylo) yhi += 1;
    }
    const sx = (box.x1 - box.x0) / (xhi - xlo);
    const sy = (box.y1 - box.y0) / (yhi - ylo);
    const map = {
      box,
      x: (v) => box.x0 + (v - xlo) * sx,
      y: (v) => box.y1 - (f(v) - ylo) * sy,
      invX: (px) => xlo + (px - box.x0) / sx,
      invY: (py) => {
        const t = ylo + (box.y1 - py) / sy;
        return opts.yLog ? 10 ** t : t;
      },
    };
    const font = `${small ? 10 : 11}px system-ui, sans-serif`;
    ctx.font = font;
    ctx.lineWidth = 1;
    ctx.fillStyle = css("--muted") || "#5b6178";

    // grid + y ticks
    const yt = opts.yLog ? ticks(ylo, yhi, Math.min(6, yhi - ylo)).filter((t) => Number.isInteger(t)) : ticks(ylo, yhi, small ? 4 : 5);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of yt) {
      const py = box.y1 - (t - ylo) * sy;
      ctx.strokeStyle = "#e7e9f2";
      ctx.beginPath();
      ctx.moveTo(box.x0, py);
      ctx.lineTo(box.x1, py);
      ctx.stroke();
      ctx.fillText(opts.yLog ? tickLabel(10 ** t) : tickLabel(t), box.x0 - 6, py);
    }
    // x ticks
    const xt = opts.xTicks || ticks(xlo, xhi, small ? 4 : 6);
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of xt) {
      const px = map.x(t);
      ctx.strokeStyle = "#eef0f6";
      ctx.beginPath();
      ctx.moveTo(px, box.y0);
      ctx.lineTo(px, box.y1);
      ctx.stroke();
      ctx.fillText(opts.xFormat ? opts.xFormat(t) : tickLabel(t), px, box.y1 + 5);
    }
    // zero axes, when in view
    ctx.strokeStyle = "#b8bdd2";
    if (opts.zeroAxes) {
      if (xlo < 0 && xhi > 0) {
        ctx.beginPath();
        ctx.moveTo(map.x(0), box.y0);
        ctx.lineTo(map.x(0), box.y1);
        ctx.stroke();
      }
      if (!opts.yLog && ylo < 0 && yhi > 0) {
        ctx.beginPath();
        ctx.moveTo(box.x0, map.y(0));
        ctx.lineTo(box.x1, map.y(0));
        ctx.stroke();
      }
    }
    ctx.strokeStyle = "#cfd3e3";
    ctx.strokeRect(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0);
    if (opts.xTitle) {
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      ctx.fillText(opts.xTitle, (box.x0 + box.x1) / 2, height - 2);
    }
    if (opts.yTitle) {
      ctx.save();
      ctx.translate(11, (box.y0 + box.y1) / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      ctx.fillText(opts.yTitle, 0, -8);
      ctx.restore();
    }
    return map;
  }

  /** Stroke a polyline of [x, y] data points through map, clipped to the chart box. */
  function polyline(ctx, map, points, style) {
    if (points.length === 0) return;
    const { box } = map;
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0);
    ctx.clip();
    ctx.strokeStyle = style.color;
    ctx.lineWidth = style.width || 2;
    ctx.setLineDash(style.dash || []);
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    ctx.beginPath();
    let started = false;
    for (const [x, y] of points) {
      const px = map.x(x);
      const py = map.y(y);
      if (!Number.isFinite(px) || !Number.isFinite(py)) {
        started = false;
        continue;
      }
      // Canvas misbehaves with astronomically large coordinates; keep them merely far off-screen.
      const cy = Math.max(-1e5, Math.min(1e5, py));
      if (started) ctx.lineTo(px, cy);
      else ctx.moveTo(px, cy);
      started = true;
    }
    ctx.stroke();
    ctx.restore();
  }

  /**
   * The visible piece of the line y = slope·x + intercept inside [xlo, xhi] × [ylo, yhi], or null.
   * Computed in data space so a wildly diverged line never hands canvas huge numbers.
   */
  function clipLine(slope, intercept, xlo, xhi, ylo, yhi) {
    if (!Number.isFinite(slope) || !Number.isFinite(intercept)) return null;
    let t0 = xlo;
    let t1 = xhi;
    if (slope === 0) {
      return intercept >= ylo && intercept <= yhi ? [[xlo, intercept], [xhi, intercept]] : null;
    }
    const xa = (ylo - intercept) / slope;
    const xb = (yhi - intercept) / slope;
    t0 = Math.max(t0, Math.min(xa, xb));
    t1 = Math.min(t1, Math.max(xa, xb));
    if (!(t1 > t0)) return null;
    return [[t0, slope * t0 + intercept], [t1, slope * t1 + intercept]];
  }

  /** Call the API; resolve to parsed JSON or throw an Error whose message is the server's own detail. */
  async function api(url, init = {}) {
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new Error("The service did not answer. Is it still running?");
    }
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json().catch(() => null) : null;
    if (!response.ok) {
      const detail = body && (body.detail || body.error || body.title);
      const error = new Error(typeof detail === "string" ? detail : `The service answered ${response.status}.`);
      error.status = response.status;
      error.body = body;
      throw error;
    }
    if (body === null) throw new Error("The service sent an unexpected answer.");
    return body;
  }

  function config() {
    try {
      return JSON.parse(document.getElementById("page-config").textContent);
    } catch {
      return {};
    }
  }

  return { css, fmt, pct, autoCanvas, boxPoint, ticks, frame, polyline, clipLine, api, config };
})();
