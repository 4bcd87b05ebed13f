import { api, ApiError, authHeaders, bytes, copyText, el, raw, requireUser, saveBlob, say, sleep } from "../app.js";
import { uniqueNames, zip } from "../zip.js";

const PARALLEL_UPLOADS = 3;
const POLL_MS = 700;
const STATE_TEXT = {
  queued: "Waiting for a worker…",
  processing: "Optimizing…",
  optimized: "Writing AI metadata…",
  analyzing: "Writing AI metadata…",
};

const list = document.getElementById("results");
const downloadAll = document.getElementById("download-all");
const finished = []; // {name, blob}
const waiting = [];
let running = 0;

await requireUser();
// Formats and their extensions come from the service's own table, never from this file.
const FORMATS = await api("GET", "/v1/formats");
const EXTENSION = Object.fromEntries(FORMATS.formats.map((f) => [f.name, f.extensions[0]]));

function options() {
  const form = document.getElementById("options");
  const data = new FormData(form);
  const chosen = {
    format: data.get("format"),
    quality: data.get("quality"),
    effort: data.get("effort"),
    keep_metadata: data.get("keep_metadata"),
    metadata: form.elements.metadata.checked ? "true" : "false",
  };
  for (const field of ["width", "height"]) {
    const value = String(data.get(field) || "").trim();
    if (value) chosen[field] = value;
  }
  // Results come back to this browser: ask only for formats it can show.
  if (chosen.format === "auto") chosen.accept = FORMATS.browser_outputs.join(",");
  return chosen;
}

function addFiles(files) {
  const picked = [...files].filter((file) => file.size > 0);
  if (!picked.length) return;
  const chosen = options();
  for (const file of picked) {
    const item = card(file);
    list.append(item.node);
    waiting.push(() => run(item, file, chosen));
  }
  say(`${picked.length} image${picked.length === 1 ? "" : "s"} added.`);
  pump();
}

function pump() {
  while (running < PARALLEL_UPLOADS && waiting.length) {
    const task = waiting.shift();
    running += 1;
    task().finally(() => {
      running -= 1;
      pump();
    });
  }
}

function card(file) {
  const progress = el("progress", { max: "100", value: "0", "aria-label": `Progress of ${file.name}` });
  const state = el("p", { class: "state", text: "Waiting to upload…" });
  const body = el("div", { class: "result-body" });
  const node = el("li", { class: "result", "aria-busy": "true" }, el("h3", { text: file.name }), progress, state, body);
  return { node, progress, state, body, file };
}

function uploadOnce(file, chosen, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    for (const [key, value] of Object.entries(chosen)) form.append(key, value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/jobs");
    for (const [key, value] of Object.entries(authHeaders("POST"))) xhr.setRequestHeader(key, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { body = { detail: xhr.statusText }; }
      if (xhr.status === 202) resolve(body);
      else {
        const error = new ApiError(xhr.status, body);
        error.retryAfter = Number(xhr.getResponseHeader("Retry-After") || "0");
        reject(error);
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { detail: "The upload failed: the server could not be reached." })));
    xhr.send(form);
  });
}

async function upload(item, chosen) {
  for (;;) {
    try {
      return await uploadOnce(item.file, chosen, (share) => {
        item.progress.value = Math.round(share * 100);
        item.state.textContent = `Uploading… ${Math.round(share * 100)}%`;
      });
    } catch (error) {
      if (error.status !== 429) throw error;
      const wait = Math.max(1, error.retryAfter || 1);
      item.state.textContent = `Busy; retrying in ${wait} s…`;
      await sleep(wait * 1000);
    }
  }
}

async function poll(jobId, item) {
  for (;;) {
    const job = await api("GET", `/v1/jobs/${jobId}`);
    if (job.status === "done" || job.status === "failed") return job;
    item.state.textContent = STATE_TEXT[job.status] || `${job.status}…`;
    await sleep(POLL_MS);
  }
}

function failure(item, error) {
  item.node.classList.add("failed");
  item.node.removeAttribute("aria-busy");
  item.progress.remove();
  const messages = {
    402: "Out of credits.",
    413: "This file is too large.",
    415: "This is not an image we can read.",
  };
  item.state.textContent = `${messages[error.status] || "Failed:"} ${error.message}`;
  if (error.status === 402) item.body.append(el("a", { href: "/app/billing", text: "Buy credits" }));
}

async function run(item, file, chosen) {
  try {
    const submitted = await upload(item, chosen);
    item.progress.removeAttribute("value");
    item.state.textContent = STATE_TEXT.queued;
    const job = await poll(submitted.id, item);
    if (job.status === "failed") {
      throw new ApiError(422, { detail: job.error ? job.error.message : "processing failed" });
    }
    const response = await raw("GET", job.links.result);
    const blob = await response.blob();
    show(item, job, blob);
  } catch (error) {
    failure(item, error);
  }
}

function resultName(job) {
  const name = job.input.name || job.id;
  const stem = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : name;
  return `${stem}.${EXTENSION[job.output.format] || job.output.format}`;
}

function compare(before, after, name) {
  const beforeImg = el("img", { src: before, alt: `${name}, original` });
  const afterImg = el("img", { src: after, alt: `${name}, optimized`, class: "after" });
  const range = el("input", { type: "range", min: "0", max: "100", value: "50", class: "compare-range" });
  const label = el("label", { class: "visually-hidden", text: `Compare original and optimized ${name}` });
  const id = `cmp-${crypto.randomUUID()}`;
  range.id = id;
  label.htmlFor = id;
  const apply = () => {
    afterImg.style.clipPath = `inset(0 0 0 ${range.value}%)`;
    range.setAttribute("aria-valuetext", `${range.value}% original, ${100 - range.value}% optimized`);
  };
  range.addEventListener("input", apply);
  apply();
  return el("div", { class: "comparison" },
    el("div", { class: "compare" }, beforeImg, afterImg),
    el("div", { class: "compare-labels" }, el("span", { text: "Original" }), el("span", { text: "Optimized" })),
    label, range);
}

function stat(term, value) {
  return el("div", {}, el("dt", { text: term }), el("dd", { text: value }));
}

function show(item, job, blob) {
  const name = resultName(job);
  const out = job.output;
  item.node.removeAttribute("aria-busy");
  item.node.classList.add("done");
  item.progress.remove();
  const saved = job.input.bytes - out.bytes;
  item.state.textContent = out.no_gain
    ? "Done: the original was already as small as it gets."
    : `Done: ${out.saving_percent}% smaller.`;
  const before = URL.createObjectURL(item.file);
  const after = URL.createObjectURL(blob);
  item.body.append(compare(before, after, item.file.name));
  item.body.append(el("dl", { class: "stats" },
    stat("Before", bytes(job.input.bytes)),
    stat("After", bytes(out.bytes)),
    stat("Saved", saved > 0 ? `${bytes(saved)} (${out.saving_percent}%)` : "nothing"),
    stat("Format", `${job.input.format} → ${out.format}`),
    stat("Size", `${out.width} × ${out.height}`),
    stat("SSIMULACRA2", out.ssimulacra2 === null ? "–" : String(out.ssimulacra2)),
  ));
  const alt = job.metadata && job.metadata.alt_text;
  if (alt) {
    const copy = el("button", { type: "button", text: "Copy alt text" });
    copy.addEventListener("click", () => copyText(alt, copy));
    item.body.append(el("div", { class: "alt" }, el("p", {}, el("strong", { text: "Alt text: " }), alt), copy));
  }
  const download = el("a", { class: "button", href: after, download: name, text: `Download ${name}` });
  item.body.append(el("div", { class: "actions" }, download));
  finished.push({ name, blob });
  downloadAll.disabled = false;
  say(`${item.file.name} is done.`);
}

downloadAll.addEventListener("click", async () => {
  const names = uniqueNames(finished.map((entry) => entry.name));
  const entries = await Promise.all(finished.map(async (entry, index) => ({
    name: names[index],
    data: new Uint8Array(await entry.blob.arrayBuffer()),
  })));
  saveBlob(zip(entries), "optimized-images.zip");
  say(`Saved ${entries.length} images as optimized-images.zip.`);
});

const input = document.getElementById("files");
input.addEventListener("change", () => {
  addFiles(input.files);
  input.value = "";
});
const zone = document.getElementById("dropzone");
for (const event of ["dragenter", "dragover"]) {
  zone.addEventListener(event, (e) => { e.preventDefault(); zone.classList.add("over"); });
}
for (const event of ["dragleave", "drop"]) {
  zone.addEventListener(event, () => zone.classList.remove("over"));
}
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  addFiles(event.dataTransfer.files);
});
