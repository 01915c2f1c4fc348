/* Part 2: the lesson's line fit. Data live here; POST /fit-line?include=trajectory does the SGD; we animate. */
"use strict";

(() => {
  const section = document.getElementById("linefit");
  const plotCanvas = document.getElementById("fit-plot");
  const lossCanvas = document.getElementById("loss-plot");
  const form = document.getElementById("fit-controls");
  const lrInput = document.getElementById("fit-lr");
  const batchInput = document.getElementById("fit-batch");
  const epochsInput = document.getElementById("fit-epochs");
  const runButton = document.getElementById("fit-run");
  const presetRow = document.getElementById("preset-row");
  const out = {
    slope: document.getElementById("fit-slope"),
    intercept: document.getElementById("fit-intercept"),
    loss: document.getElementById("fit-loss"),
    step: document.getElementById("fit-step"),
    exact: document.getElementById("fit-exact"),
    message: document.getElementById("fit-message"),
    count: document.getElementById("point-count"),
  };

  const config = (Plot.config().fit || {});
  const presets = Array.isArray(config.presets) ? config.presets : [];
  const N_POINTS = 100; // the lesson's example: 100 points, x uniform in [-1, 1], y = 3x + 2 + noise
  const TRUE_SLOPE = 3;
  const TRUE_INTERCEPT = 2;
  const NOISE_SD = 0.5;
  const MS_PER_STEP = 110; // animation speed per SGD step, so a slow learner visibly takes longer
  const MIN_MS = 1200;
  const MAX_MS = 7000;

  // ---- the data -----------------------------------------------------------------------------------
  /** Small seeded generator (mulberry32) so the first view is the same for everyone, tests included. */
  function rng(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function gaussian(rand) {
    const u = 1 - rand();
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  let noiseSeed = 42;
  const baseX = (() => {
    const rand = rng(7);
    return Array.from({ length: N_POINTS }, () => -1 + 2 * rand());
  })();
  let points = [];
  let added = [];

  function makeLessonPoints() {
    const rand = rng(noiseSeed);
    points = baseX.map((x) => [x, TRUE_SLOPE * x + TRUE_INTERCEPT + NOISE_SD * gaussian(rand)]);
  }

  function allPoints() {
    return points.concat(added);
  }

  /** The plotted window: the lesson's region, widened to show every point. */
  function view() {
    const pts = allPoints();
    let [xlo, xhi, ylo, yhi] = [-1.2, 1.2, -2, 6];
    for (const [x, y] of pts) {
      xlo = Math.min(xlo, x);
      xhi = Math.max(xhi, x);
      ylo = Math.min(ylo, y);
      yhi = Math.max(yhi, y);
    }
    const px = 0.04 * (xhi - xlo);
    const py = 0.06 * (yhi - ylo);
    return { x: [xlo - px, xhi + px], y: [ylo - py, yhi + py] };
  }
  let win = null;

  // ---- fit state ----------------------------------------------------------------------------------
  let result = null; // the last /fit-line answer
  const NO_RUN = { traj: [], steps: [], losses: [], sampled: false, settle: 0 };
  let anim = NO_RUN; // the answer prepared for animation (describeRun)
  let step = -1; // index into anim.traj being shown
  let progress = 0; // 0..1 of the animation
  let animation = 0;
  let cursor = { x: 0, y: 2, visible: false };

  // ---- drawing ------------------------------------------------------------------------------------
  const drawPlot = Plot.autoCanvas(plotCanvas, (ctx, w, h) => {
    win = win || view();
    const map = Plot.frame(ctx, w, h, { x: win.x, y: win.y, zeroAxes: true, xTitle: "x", yTitle: "y" });
    plotCanvas._map = map;
    const dot = Plot.css("--dot");
    const dotAdded = Plot.css("--dot-added");
    const r = w < 420 ? 3 : 3.6;
    ctx.save();
    ctx.beginPath();
    ctx.rect(map.box.x0, map.box.y0, map.box.x1 - map.box.x0, map.box.y1 - map.box.y0);
    ctx.clip();
    ctx.globalAlpha = 0.75;
    for (const [list, color] of [[points, dot], [added, dotAdded]]) {
      ctx.fillStyle = color;
      for (const [x, y] of list) {
        ctx.beginPath();
        ctx.arc(map.x(x), map.y(y), list === added ? r + 1.2 : r, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    ctx.restore();
    // The path so far: faint earlier lines, so even a still picture shows where SGD came from.
    const upto = step >= 0 ? step : anim.traj.length - 1;
    const every = Math.max(1, Math.ceil(upto / 40));
    ctx.save();
    ctx.globalAlpha = 0.22;
    for (let i = 0; i < upto; i += every) {
      const seg = Plot.clipLine(anim.traj[i][0], anim.traj[i][1], ...win.x, ...win.y);
      if (seg) Plot.polyline(ctx, map, seg, { color: Plot.css("--sgd"), width: 1.5 });
    }
    ctx.restore();
    const current = currentParams();
    if (current) {
      const seg = Plot.clipLine(current[0], current[1], ...win.x, ...win.y);
      if (seg) Plot.polyline(ctx, map, seg, { color: Plot.css("--sgd"), width: 4 });
    }
    if (result && result.closed_form) {
      const seg = Plot.clipLine(result.closed_form.slope, result.closed_form.intercept, ...win.x, ...win.y);
      if (seg) Plot.polyline(ctx, map, seg, { color: Plot.css("--exact"), width: 2, dash: [7, 6] });
    }
    if (cursor.visible) {
      const cx = map.x(cursor.x);
      const cy = map.y(cursor.y);
      ctx.strokeStyle = Plot.css("--dot-added");
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(cx - 9, cy);
      ctx.lineTo(cx + 9, cy);
      ctx.moveTo(cx, cy - 9);
      ctx.lineTo(cx, cy + 9);
      ctx.stroke();
    }
  });

  const drawLoss = Plot.autoCanvas(lossCanvas, (ctx, w, h) => {
    const floor = result && result.closed_form && result.closed_form.loss > 0 ? result.closed_form.loss : null;
    if (!anim.losses.length) {
      const map = Plot.frame(ctx, w, h, { x: [0, 10], y: [0.1, 10], yLog: true, xTitle: "SGD step", yTitle: "loss" });
      ctx.fillStyle = Plot.css("--muted");
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.font = "13px system-ui, sans-serif";
      ctx.fillText("press Run to see the loss fall", (map.box.x0 + map.box.x1) / 2, (map.box.y0 + map.box.y1) / 2);
      return;
    }
    const positive = anim.losses.filter((v) => v > 0);
    let lo = Math.min(...positive, floor || Infinity);
    let hi = Math.max(...positive);
    if (!Number.isFinite(lo)) lo = 1e-3;
    if (!(hi > lo)) hi = lo * 10;
    const last = anim.steps[anim.steps.length - 1] || 1;
    const map = Plot.frame(ctx, w, h, {
      x: [0, last], y: [lo, hi], yLog: true, yTitle: "loss (log)",
      xTitle: anim.sampled ? "SGD steps (a long run, thinned out)" : "SGD step",
    });
    if (floor) Plot.polyline(ctx, map, [[0, floor], [last, floor]], { color: Plot.css("--exact"), width: 1.5, dash: [6, 5] });
    const upto = step >= 0 ? step : anim.losses.length - 1;
    const series = anim.losses.slice(0, upto + 1).map((v, i) => [anim.steps[i], Math.max(v, lo)]);
    Plot.polyline(ctx, map, series, { color: Plot.css("--sgd"), width: 2.5 });
    const [lx, ly] = series[series.length - 1];
    ctx.fillStyle = Plot.css("--sgd");
    ctx.beginPath();
    ctx.arc(map.x(lx), Math.max(map.box.y0, Math.min(map.box.y1, map.y(ly))), 4.5, 0, 2 * Math.PI);
    ctx.fill();
  });

  /** Mean squared error of the line (slope, intercept) on the points: the loss SGD lowers. */
  function mse(slope, intercept, pts) {
    let sum = 0;
    for (const [x, y] of pts) sum += (slope * x + intercept - y) ** 2;
    return sum / pts.length;
  }

  /**
   * What the animation needs from a fit: the loss after each trajectory entry (entry i is the line after
   * SGD step i; the service thins long runs to at most max_trajectory entries) and where the line stops
   * visibly moving.
   */
  function describeRun(answer, pts) {
    const traj = (Array.isArray(answer.trajectory) ? answer.trajectory : []).filter(
      (p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]),
    );
    const sampled = Number.isInteger(config.max_trajectory) && traj.length >= config.max_trajectory;
    const steps = traj.map((_, i) => i);
    const losses = traj.map(([a, b]) => mse(a, b, pts));
    // Stop animating once the line is still: later steps only polish digits nobody can see.
    const xspan = win.x[1] - win.x[0];
    const yspan = win.y[1] - win.y[0];
    const [fa, fb] = traj.length ? traj[traj.length - 1] : [0, 0];
    let settle = traj.length - 1;
    while (settle > 0) {
      const [a, b] = traj[settle - 1];
      if (Math.abs(a - fa) * xspan + Math.abs(b - fb) > 0.002 * yspan) break;
      settle -= 1;
    }
    return { traj, steps, losses, sampled, settle };
  }

  function currentParams() {
    if (!result) return null;
    if (step >= 0 && step < anim.traj.length) return anim.traj[step];
    if (progress >= 1) return [result.slope, result.intercept];
    return null;
  }

  function redrawAll() {
    drawPlot();
    drawLoss();
  }

  // ---- read-outs ------------------------------------------------------------------------------------
  function showNumbers() {
    const current = currentParams();
    out.slope.textContent = current ? Plot.fmt(Number(current[0])) : "–";
    out.intercept.textContent = current ? Plot.fmt(Number(current[1])) : "–";
    if (!result) {
      out.loss.textContent = "–";
      out.step.textContent = "–";
      return;
    }
    const done = progress >= 1;
    const at = Math.max(0, Math.min(step, anim.losses.length - 1));
    out.loss.textContent = Plot.fmt(done ? result.loss : anim.losses[at], 4);
    const last = anim.traj.length - 1;
    out.step.textContent = anim.sampled ? `${Math.round((100 * at) / Math.max(1, last))}%` : String(done ? last : at);
  }

  function setMessage(text, kind = "") {
    out.message.textContent = text;
    out.message.className = `message${kind ? ` is-${kind}` : ""}`;
  }

  function finalMessage() {
    const lr = Plot.fmt(Number(result.learning_rate ?? lrInput.value), 4).replace(/\.?0+$/, "");
    const epochs = result.epochs_run;
    if (result.status === "diverged") {
      setMessage(
        `Diverged! With learning rate ${lr} every step overshoots the bottom of the loss valley and lands ` +
          `higher on the other side, so the line swings wider and the loss explodes. SGD gave up after ` +
          `${epochs} epoch${epochs === 1 ? "" : "s"}. Try a smaller learning rate.`,
        "error",
      );
    } else if (result.status === "converged") {
      setMessage(
        `Converged in ${epochs} epoch${epochs === 1 ? "" : "s"}: SGD's line lies on the exact least-squares ` +
          `line. Nothing but small steps downhill got it there.`,
        "good",
      );
    } else {
      const cf = result.closed_form;
      const close = cf && Math.abs(result.loss - cf.loss) <= 0.01 * Math.max(cf.loss, 1e-12);
      setMessage(
        close
          ? `Used all ${epochs} epochs and got within 1% of the lowest possible loss.`
          : `Still crawling after ${epochs} epochs: with learning rate ${lr} each step is tiny. ` +
              `Try a bigger rate or more epochs.`,
        close ? "good" : "warn",
      );
    }
  }

  // ---- animation ----------------------------------------------------------------------------------
  function animate() {
    cancelAnimationFrame(animation);
    const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    const frames = anim.settle; // animate trajectory entries 0..settle, then show the end
    const duration = reduce || frames < 1 ? 0 : Math.min(MAX_MS, Math.max(MIN_MS, frames * MS_PER_STEP));
    const start = performance.now();
    section.dataset.fitState = "animating";
    const tick = (now) => {
      progress = duration ? Math.min(1, (now - start) / duration) : 1;
      step = progress >= 1 ? anim.traj.length - 1 : Math.min(frames, Math.floor(progress * (frames + 1)));
      showNumbers();
      redrawAll();
      if (progress < 1) {
        animation = requestAnimationFrame(tick);
      } else {
        step = -1;
        showNumbers();
        drawPlot();
        finalMessage();
        section.dataset.fitState = result.status === "diverged" ? "diverged" : "done";
        runButton.disabled = false;
      }
    };
    animation = requestAnimationFrame(tick);
  }

  function readOptions() {
    const learningRate = Number(lrInput.value);
    const batchSize = Number(batchInput.value);
    const epochs = Number(epochsInput.value);
    if (!(learningRate > 0) || !Number.isFinite(learningRate)) return [null, "The learning rate must be a positive number.", lrInput];
    if (!Number.isInteger(batchSize) || batchSize < 1) return [null, "The batch size must be a whole number, 1 or more.", batchInput];
    if (!Number.isInteger(epochs) || epochs < 1) return [null, "Epochs must be a whole number, 1 or more.", epochsInput];
    const options = { learning_rate: learningRate, batch_size: batchSize, epochs };
    if (Number.isInteger(config.seed)) options.seed = config.seed;
    return [options, "", null];
  }

  async function run(event) {
    if (event) event.preventDefault();
    const [options, problem, field] = readOptions();
    if (!options) {
      setMessage(problem, "error");
      field.focus();
      return;
    }
    cancelAnimationFrame(animation);
    runButton.disabled = true;
    section.dataset.fitState = "running";
    setMessage("SGD is working…");
    const pts = allPoints();
    try {
      const answer = await Plot.api("/fit-line?include=trajectory", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), ...options }),
      });
      result = { learning_rate: options.learning_rate, ...answer };
      anim = describeRun(result, pts);
      const cf = result.closed_form;
      out.exact.textContent = cf
        ? `slope ${Plot.fmt(cf.slope)}, intercept ${Plot.fmt(cf.intercept)}, loss ${Plot.fmt(cf.loss, 4)}`
        : "not given";
      progress = 0;
      step = 0;
      setMessage("Training… watch the line walk towards the dots.");
      animate();
    } catch (err) {
      result = null;
      anim = NO_RUN;
      progress = 0;
      step = -1;
      showNumbers();
      redrawAll();
      setMessage(`The service could not fit that: ${err.message}`, "error");
      section.dataset.fitState = "error";
      runButton.disabled = false;
    }
  }

  function dataChanged(note) {
    cancelAnimationFrame(animation);
    result = null;
    anim = NO_RUN;
    progress = 0;
    step = -1;
    win = view();
    out.count.textContent = String(allPoints().length);
    out.exact.textContent = "run to compare";
    runButton.disabled = false;
    section.dataset.fitState = "idle";
    showNumbers();
    redrawAll();
    setMessage(note);
  }

  // ---- controls -----------------------------------------------------------------------------------
  const presetButtons = presets.map((preset) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn preset";
    button.dataset.preset = preset.name;
    button.dataset.testid = `preset-${preset.key}`;
    button.setAttribute("aria-pressed", "false");
    button.innerHTML = `${preset.name} <small>${preset.learning_rate}</small>`;
    button.addEventListener("click", () => {
      lrInput.value = String(preset.learning_rate);
      syncPresets();
      const hint = preset.hint ? ` ${preset.hint}` : "";
      setMessage(`Learning rate ${preset.learning_rate} (“${preset.name}”).${hint} Press Run.`);
    });
    presetRow.appendChild(button);
    return button;
  });

  function syncPresets() {
    const value = Number(lrInput.value);
    presetButtons.forEach((button, i) => button.setAttribute("aria-pressed", String(presets[i].learning_rate === value)));
  }
  lrInput.addEventListener("input", syncPresets);

  form.addEventListener("submit", run);
  document.getElementById("fit-noise").addEventListener("click", () => {
    noiseSeed = (noiseSeed * 1103515245 + 12345) >>> 0;
    makeLessonPoints();
    dataChanged("New noise drawn around the same line y = 3x + 2. Press Run.");
  });
  document.getElementById("fit-reset").addEventListener("click", () => {
    noiseSeed = 42;
    added = [];
    makeLessonPoints();
    dataChanged("Back to the lesson's 100 points.");
  });

  function addPoint(x, y) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    added.push([x, y]);
    dataChanged(`Added a point at (${Plot.fmt(x, 2)}, ${Plot.fmt(y, 2)}). Press Run to refit.`);
  }

  plotCanvas.addEventListener("click", (event) => {
    const map = plotCanvas._map;
    if (!map) return;
    const rect = plotCanvas.getBoundingClientRect();
    const px = event.clientX - rect.left;
    const py = event.clientY - rect.top;
    const { box } = map;
    if (px < box.x0 || px > box.x1 || py < box.y0 || py > box.y1) return;
    addPoint(map.invX(px), map.invY(py));
  });

  plotCanvas.addEventListener("keydown", (event) => {
    const dx = (win.x[1] - win.x[0]) / 40;
    const dy = (win.y[1] - win.y[0]) / 40;
    const moves = { ArrowLeft: [-dx, 0], ArrowRight: [dx, 0], ArrowUp: [0, dy], ArrowDown: [0, -dy] };
    if (moves[event.key]) {
      event.preventDefault();
      cursor.x = Math.max(win.x[0], Math.min(win.x[1], cursor.x + moves[event.key][0]));
      cursor.y = Math.max(win.y[0], Math.min(win.y[1], cursor.y + moves[event.key][1]));
      drawPlot();
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      addPoint(cursor.x, cursor.y);
    }
  });
  plotCanvas.addEventListener("focus", () => {
    cursor.visible = true;
    drawPlot();
  });
  plotCanvas.addEventListener("blur", () => {
    cursor.visible = false;
    drawPlot();
  });

  // ---- start --------------------------------------------------------------------------------------
  if (config.max_learning_rate) lrInput.max = String(config.max_learning_rate);
  if (config.max_epochs) epochsInput.max = String(config.max_epochs);
  lrInput.value = String(config.learning_rate ?? 0.1);
  batchInput.value = String(config.batch_size ?? 10);
  epochsInput.value = String(config.epochs ?? 50);
  syncPresets();
  makeLessonPoints();
  dataChanged("Press Run to start SGD from a first guess and watch it learn the line.");
})();
