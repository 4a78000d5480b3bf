// Gyre analyst console: vanilla JS, same origin only. The API key lives in this tab's sessionStorage.
"use strict";

const KEY = "gyre.serving_api_key";
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function link(href, text) {
  return href ? el("a", { href, target: "_blank", rel: "noopener" }, text) : document.createTextNode("");
}

async function call(path, options = {}) {
  const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "", ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    forget("The key was refused: enter the serving API key.");
    throw new Error("the API key was refused");
  }
  return response;
}

async function errorText(response) {
  try {
    const body = await response.json();
    const detail = (body.detail || []).map ? (body.detail || []).map((d) => `${d.field}: ${d.message}`) : [body.detail];
    return [body.error, ...detail].filter(Boolean).join("; ") || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// -- key --------------------------------------------------------------------------------------------------------
function forget(message = "") {
  sessionStorage.removeItem(KEY);
  $("console").hidden = true;
  $("forget").hidden = true;
  $("login").hidden = false;
  $("key-error").textContent = message;
}

async function open() {
  $("login").hidden = true;
  $("console").hidden = false;
  $("forget").hidden = false;
  $("key-error").textContent = "";
  $("score-form").elements.transaction_id.value = `console-${Date.now()}`;
  $("score-form").elements.event_timestamp.value = new Date().toISOString().slice(0, 19) + "Z";
  await refreshLoop();
}

// -- ask ----------------------------------------------------------------------------------------------------------
function* sseEvents(buffer) {
  let start = 0;
  let end;
  while ((end = buffer.text.indexOf("\n\n", start)) !== -1) {
    const block = buffer.text.slice(start, end);
    start = end + 2;
    const name = (block.match(/^event: (.*)$/m) || [])[1];
    const data = (block.match(/^data: (.*)$/m) || [])[1];
    if (name && data) yield { name, data: JSON.parse(data) };
  }
  buffer.text = buffer.text.slice(start);
}

function renderAnswer(text, citations) {
  const byNumber = new Map(citations.map((c) => [c.n, c]));
  const answer = $("answer");
  answer.replaceChildren();
  for (const part of text.split(/(\[\d+\])/)) {
    const cited = byNumber.get(Number((part.match(/^\[(\d+)\]$/) || [])[1]));
    answer.append(cited ? el("a", { href: `#cite-${cited.n}`, class: "cite" }, part) : part);
  }
}

function renderCitations(citations) {
  $("citations").replaceChildren(
    ...citations.map((c) => {
      const anchor = el("a", { href: `#doc=${encodeURIComponent(c.source)}&chunk=${c.chunk_id}`, class: "source" },
        `${c.title} — ${c.heading}`);
      anchor.addEventListener("click", (event) => {
        event.preventDefault();
        showDocument(c.source, c.chunk_id);
      });
      return el("li", { id: `cite-${c.n}`, value: c.n }, anchor, el("span", { class: "muted" }, ` (${c.source})`));
    }),
  );
}

async function showDocument(source, chunkId) {
  const response = await call(`/console/api/document?source=${encodeURIComponent(source)}`);
  if (!response.ok) {
    $("document-meta").textContent = await errorText(response);
    $("document").hidden = false;
    return;
  }
  const doc = await response.json();
  $("document-title").textContent = doc.title;
  $("document-meta").textContent = [doc.source, doc.category, doc.team, (doc.tags || []).join(", ")]
    .filter(Boolean).join(" · ");
  $("passages").replaceChildren(
    ...doc.passages.map((p) =>
      el("div", { class: p.chunk_id === chunkId ? "passage cited" : "passage", "data-chunk": p.chunk_id },
        el("strong", {}, p.heading), "\n", p.content)),
  );
  $("document").hidden = false;
  const cited = $("passages").querySelector(".cited");
  if (cited) cited.scrollIntoView({ block: "nearest" });
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value;
  $("answer").textContent = "";
  $("citations").replaceChildren();
  $("document").hidden = true;
  $("answer-mode").textContent = "searching the knowledge base…";
  const response = await call("/ask_stream", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ question }),
  });
  if (!response.ok) {
    $("answer-mode").textContent = await errorText(response);
    return;
  }
  $("answer-mode").textContent = "answering…";
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const buffer = { text: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer.text += value;
    for (const event of sseEvents(buffer)) {
      if (event.name === "delta") $("answer").append(event.data.text);
      if (event.name === "error") $("answer-mode").textContent = event.data.message;
      if (event.name === "done") {
        const result = event.data.result;
        const how = result.mode === "generated" ? `generated by ${result.model}` : `extractive: ${result.note}`;
        $("answer-mode").textContent = `${how} · index version ${result.index_version ?? "none"}`;
        renderAnswer(result.answer, result.citations);
        renderCitations(result.citations);
      }
    }
  }
}

// -- score --------------------------------------------------------------------------------------------------------
function transaction(form) {
  const body = Object.fromEntries(new FormData(form).entries());
  body.amount = Number(body.amount);
  body.card_age_days = Number.parseInt(body.card_age_days, 10);
  return body;
}

async function loggedRows(requestId) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const response = await call(`/console/api/predictions/${requestId}`);
    if (response.ok) return response.json();
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return null;
}

function showFeatures(requestId, rows) {
  const champion = rows.find((r) => r.role === "champion");
  $("features-status").textContent = `the model's inputs as logged with request ${requestId}`;
  const value = (v) => (v === null ? "missing (model default)" : typeof v === "number" ? +v.toFixed(6) : v);
  $("features").tBodies[0].replaceChildren(
    ...Object.entries(champion.features).map(([name, v]) => el("tr", {}, el("td", {}, name), el("td", {}, value(v)))),
  );
  $("features").hidden = false;
}

async function score(event) {
  event.preventDefault();
  $("score-error").textContent = "";
  $("verdict").hidden = true;
  $("features").hidden = true;
  $("features-status").textContent = "";
  const response = await call("/score", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ transaction: transaction(event.target) }),
  });
  if (!response.ok) {
    $("score-error").textContent = await errorText(response);
    return;
  }
  const result = await response.json();
  $("verdict-score").textContent = result.score.toFixed(4);
  const decision = $("verdict-decision");
  decision.textContent = result.decision ? "decline / review" : "approve";
  decision.className = result.decision ? "fraud" : "legit";
  decision.append(el("span", { class: "muted" }, ` (threshold ${result.threshold.toFixed(4)})`));
  $("verdict-model").textContent = `${result.model_name} v${result.model_version}`;
  $("verdict-freshness").textContent = result.unknown_entity
    ? "unknown customer or merchant: scored on the model's defaults"
    : `freshest row ${Math.round(result.feature_age_s)} s old`;
  $("verdict").hidden = false;
  $("features-status").textContent = "reading the prediction log…";
  const rows = await loggedRows(result.request_id);
  if (rows) showFeatures(result.request_id, rows);
  else $("features-status").textContent = "the prediction was not logged (see the endpoint's /readyz)";
}

// -- loop ---------------------------------------------------------------------------------------------------------
function box(id, title, ...lines) {
  $(id).replaceChildren(el("h3", {}, title), ...lines.map((line) => el("p", {}, ...[line].flat())));
}

function failed(part) {
  return part && part.error ? `unavailable: ${part.error}` : null;
}

function when(iso) {
  return iso ? iso.slice(0, 16).replace("T", " ") : "";
}

function renderLoop(loop) {
  const champ = loop.champion;
  if (failed(champ)) box("loop-champion", "Champion", failed(champ));
  else if (!champ.aliases.champion) box("loop-champion", "Champion", `${champ.model_name} has no champion yet.`);
  else {
    box("loop-champion", "Champion",
      [`${champ.model_name} `, el("strong", { id: "champion-version" }, `v${champ.aliases.champion}`)],
      `challenger: ${champ.aliases.challenger ? "v" + champ.aliases.challenger : "none"} · previous: ${
        champ.aliases["previous-champion"] ? "v" + champ.aliases["previous-champion"] : "none"}`,
      [link(champ.run_url, "MLflow run"), " · ", link(champ.version_url, "model version")]);
  }

  const drift = loop.drift;
  if (failed(drift)) box("loop-drift", "Last drift check", failed(drift));
  else if (!drift) box("loop-drift", "Last drift check", "No night checked yet: monitor_drift writes one per night.");
  else {
    box("loop-drift", "Last drift check",
      `night ${drift.night.slice(0, 10)}, model v${drift.model_version}: ${Math.round(drift.drifted_share * 100)} % of features drifted`
        + (drift.drifted_features.length ? ` (${drift.drifted_features.join(", ")})` : ""),
      `prediction PSI ${drift.prediction_psi?.toFixed(3) ?? "–"} · ROC-AUC (matured) ${drift.roc_auc?.toFixed(3) ?? "–"}`,
      ["decision: ", el("strong", { id: "drift-decision" }, drift.decision)],
      (drift.reasons || []).join("; "),
      [link(drift.report_url, "Evidently report"), " · ", link(drift.json_url, "JSON"), " · ",
        link(drift.run_url, "MLflow run"), " · ", link(loop.links.dags.monitor_drift, "monitor_drift DAG")]);
  }

  const retrain = loop.retrain;
  const gate = loop.gate;
  const retrainLine = failed(retrain) || (retrain
    ? `night ${retrain.interval_start.slice(0, 10)} asked for a retrain (v${retrain.model_version}): ${retrain.status}`
    : "no retrain requested by monitoring yet");
  const gateLine = gate
    ? [el("strong", { id: "gate-result" }, gate.action === "promote" ? `promoted v${gate.to_version}` : `rejected v${gate.to_version}`),
      ` on ${when(gate.moved_at)}: ${gate.reason}`]
    : "no gate verdict yet";
  box("loop-retrain", "Last retrain and gate", retrainLine, gateLine,
    [link(loop.links.dags.train_model, "train_model DAG"), " · ", link(loop.links.dags.deploy_model, "deploy_model DAG")]);

  renderAnswerQuality(loop.answer_quality, loop.links.dags.judge_answers);

  const history = Array.isArray(loop.history) ? loop.history : [];
  $("history").tBodies[0].replaceChildren(
    ...history.map((m) => el("tr", {}, el("td", {}, when(m.moved_at)), el("td", {}, m.action), el("td", {}, m.alias ?? ""),
      el("td", {}, `${m.from_version ?? "–"} → ${m.to_version ?? "–"}`), el("td", {}, m.reason))),
  );

  const kb = loop.knowledge_base;
  $("kb-status").textContent = failed(kb) || (kb
    ? `index version ${kb.version_id}: ${kb.documents} documents, ${kb.chunks} passages`
    : "No document is indexed yet: the index_documents DAG builds the index.");

  $("loop-links").replaceChildren(
    link(loop.links.drift_reports, "All drift reports"), link(loop.links.mlflow, "MLflow"),
    ...Object.entries(loop.links.dags).map(([dag, href]) => link(href, dag)),
  );
}

function judged(day) {
  const measures = ["faithfulness", "relevance"]
    .map((name) => `${name} ${day[name] === null ? "–" : day[name].toFixed(2)}`).join(" · ");
  const how = day.method === "llm_judge"
    ? `LLM judge${day.judge_model ? " " + day.judge_model : ""}`
    : "embedding overlap (an offline estimate, not an LLM judge)";
  return `${day.day}: ${measures} — ${day.scored} of ${day.answers} answers, ${how}`;
}

function renderAnswerQuality(days, dagHref) {
  const title = "Answers judged";
  const dag = [link(dagHref, "judge_answers DAG")];
  if (failed(days)) return box("loop-answers", title, failed(days), dag);
  if (!days.length) return box("loop-answers", title, "No day judged yet: judge_answers scores each day's answers.", dag);
  const newest = days[0];
  const below = newest.below.length
    ? ["below its floor: ", el("strong", { id: "answers-below" }, newest.below.join(", "))]
    : "every measure at or above its floor";
  box("loop-answers", title, judged(newest), below, ...days.slice(1, 4).map(judged), dag);
}

async function refreshLoop() {
  const response = await call("/console/api/loop");
  if (response.ok) renderLoop(await response.json());
}

// -- start --------------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    open().catch((error) => forget(error.message));
  });
  $("forget").addEventListener("click", () => forget());
  $("ask-form").addEventListener("submit", (event) => ask(event).catch((e) => ($("answer-mode").textContent = e.message)));
  $("score-form").addEventListener("submit", (event) => score(event).catch((e) => ($("score-error").textContent = e.message)));
  $("refresh").addEventListener("click", () => refreshLoop());
  if (sessionStorage.getItem(KEY)) open().catch((error) => forget(error.message));
});
