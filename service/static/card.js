/* Part 3: the model card from GET /model, with the per-epoch learning curves drawn on two canvases. */
"use strict";

(() => {
  const el = (id) => document.getElementById(id);
  const statusEl = el("card-status");
  let history = [];

  /** Per-epoch entries, whatever their exact key names: {epoch, train_loss, val_loss, train_accuracy, ...}. */
  function pick(entry, kind, what) {
    const keys = Object.keys(entry);
    const key = keys.find((k) => {
      const l = k.toLowerCase();
      const isKind = kind === "train" ? l.startsWith("train") : l.startsWith("val");
      return isKind && l.includes(what);
    });
    const value = key === undefined ? NaN : Number(entry[key]);
    return Number.isFinite(value) ? value : null;
  }

  function curves(ctx, w, h, what) {
    const rows = history.map((entry, i) => ({
      epoch: Number.isFinite(Number(entry.epoch)) ? Number(entry.epoch) : i + 1,
      train: pick(entry, "train", what),
      val: pick(entry, "val", what),
    }));
    const values = rows.flatMap((r) => [r.train, r.val]).filter((v) => v !== null);
    const isAcc = what === "acc";
    const scale = isAcc && values.length && Math.max(...values) <= 1 ? 100 : 1;
    const epochs = rows.map((r) => r.epoch);
    const x = rows.length ? [Math.min(...epochs), Math.max(Math.max(...epochs), Math.min(...epochs) + 1)] : [0, 1];
    if (!values.length) {
      const map = Plot.frame(ctx, w, h, { x, y: [0, 1], xTitle: "epoch" });
      ctx.fillStyle = Plot.css("--muted");
      ctx.textAlign = "center";
      ctx.font = "13px system-ui, sans-serif";
      ctx.fillText(history.length ? "not recorded" : "no learning curves in this model card",
        (map.box.x0 + map.box.x1) / 2, (map.box.y0 + map.box.y1) / 2);
      return;
    }
    let lo = Math.min(...values) * scale;
    let hi = Math.max(...values) * scale;
    const pad = Math.max((hi - lo) * 0.08, isAcc ? 0.1 : 1e-3);
    lo -= pad;
    hi += pad;
    if (isAcc) hi = Math.min(hi, 100);
    const map = Plot.frame(ctx, w, h, {
      x, y: [lo, hi], xTitle: "epoch", yTitle: isAcc ? "accuracy %" : "loss",
      xTicks: Plot.ticks(x[0], x[1], Math.min(6, rows.length)).filter(Number.isInteger),
    });
    for (const [series, color] of [["train", Plot.css("--train")], ["val", Plot.css("--val")]]) {
      const pts = rows.filter((r) => r[series] !== null).map((r) => [r.epoch, r[series] * scale]);
      Plot.polyline(ctx, map, pts, { color, width: 2.5 });
      ctx.fillStyle = color;
      for (const [px, py] of pts) {
        ctx.beginPath();
        ctx.arc(map.x(px), map.y(py), 3, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }

  const drawLoss = Plot.autoCanvas(el("card-loss"), (ctx, w, h) => curves(ctx, w, h, "loss"));
  const drawAcc = Plot.autoCanvas(el("card-acc"), (ctx, w, h) => curves(ctx, w, h, "acc"));

  function accuracy(value) {
    const v = Number(value);
    if (!Number.isFinite(v)) return "not given";
    return `${(v <= 1 ? 100 * v : v).toFixed(2)}%`;
  }

  function trained(value) {
    if (!value) return "not given";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  async function load() {
    try {
      const card = await Plot.api("/model");
      const metrics = card.metrics || {};
      el("card-name").textContent = card.name || "not given";
      el("card-version").textContent = card.version || "not given";
      el("card-test-acc").textContent = accuracy(metrics.test_accuracy ?? card.test_accuracy);
      // A model whose members also trained on validation (--refit) carries its held-out twins' figure.
      el("card-val-acc").textContent = accuracy(metrics.held_out_validation_accuracy ?? metrics.validation_accuracy);
      el("card-trained").textContent = trained(card.trained_at || (card.metadata && card.metadata.trained_at) || metrics.trained_at);
      history = Array.isArray(card.history) ? card.history.filter((e) => e && typeof e === "object") : [];
      statusEl.textContent = history.length ? "" : "This model card carries no per-epoch learning curves.";
    } catch (err) {
      for (const id of ["card-name", "card-version", "card-test-acc", "card-val-acc", "card-trained"]) el(id).textContent = "–";
      statusEl.textContent = `Could not load the model card: ${err.message}`;
      statusEl.classList.add("is-error");
    }
    drawLoss();
    drawAcc();
  }

  load();
})();
