/* Under the answer: "Wrong? It was a ..." buttons that send POST /feedback, then the feedback so far.
   Shown only when the server keeps samples (page config "feedback": DIGITS_STORE_URL is set). */
"use strict";

(() => {
  if (!Plot.config().feedback) return;
  const section = document.getElementById("digits");
  const box = document.getElementById("feedback");
  const buttonsEl = document.getElementById("feedback-buttons");
  const statusEl = document.getElementById("feedback-status");
  let current = null; // the prediction being corrected

  const buttons = [];
  const choices = [...Array(10).keys()].map((d) => ({ text: String(d), body: { label: d } }));
  choices.push({ text: "not a digit", body: { not_a_digit: true } });
  for (const choice of choices) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn feedback-btn";
    button.textContent = choice.text;
    button.dataset.testid = `feedback-${choice.text.replace(/ /g, "-")}`;
    button.addEventListener("click", () => send(choice));
    buttonsEl.append(button);
    buttons.push({ button, choice });
  }

  function status(text, isError = false) {
    statusEl.textContent = text;
    statusEl.classList.toggle("is-error", isError);
  }

  section.addEventListener("prediction", (event) => {
    current = event.detail && event.detail.prediction_id ? event.detail : null;
    box.hidden = current === null;
    for (const { button, choice } of buttons) {
      button.hidden = choice.body.label === (current && current.label); // "it was a 7" when it said 7: no
      button.disabled = false;
    }
    status("");
    box.dataset.feedbackState = "idle";
  });

  async function send(choice) {
    if (!current) return;
    const target = current;
    for (const { button } of buttons) button.disabled = true;
    box.dataset.feedbackState = "busy";
    try {
      await Plot.api("/feedback", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prediction_id: target.prediction_id, ...choice.body }),
      });
      const summary = await Plot.api("/feedback/summary");
      const mine = summary.versions.find((v) => target.model && v.model.version === target.model.version);
      const said = choice.body.not_a_digit ? "not a digit" : `a ${choice.text}`;
      const figures = mine
        ? ` Feedback so far on model v${mine.model.version}: ${mine.labelled} labelled, ` +
          `${mine.not_a_digit} not a digit` +
          (mine.accuracy === undefined || mine.accuracy === null ? "." : `, ${Plot.pct(mine.accuracy)} read right.`)
        : "";
      status(`Thanks: saved as ${said}.${figures}`);
      box.dataset.feedbackState = "done";
    } catch (err) {
      status(`Could not save the correction: ${err && err.message ? err.message : "unknown error"}`, true);
      box.dataset.feedbackState = "error";
    } finally {
      for (const { button } of buttons) button.disabled = false;
    }
  }
})();
