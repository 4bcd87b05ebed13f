import { api, bytes, el, requireUser, when } from "../app.js";

const SVG = "http://www.w3.org/2000/svg";
const PAGE_SIZE = 10;
const DAYS = 30;

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

// Bars for the last days with usage, oldest on the left; a table carries the same numbers.
function chart(items) {
  const days = [...items].reverse();
  const width = 640, height = 220, left = 36, bottom = 28, top = 10;
  const max = Math.max(1, ...days.map((d) => d.credits));
  const step = Math.min((width - left) / Math.max(days.length, 1), 64);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `Credits per day for the last ${days.length} days with usage, up to ${max} a day` });
  for (const fraction of [0, 0.5, 1]) {
    const y = top + (1 - fraction) * (height - top - bottom);
    root.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "gridline" }));
    root.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, String(Math.round(max * fraction))));
  }
  days.forEach((day, index) => {
    const h = (day.credits / max) * (height - top - bottom);
    const x = left + index * step + step * 0.15;
    const bar = svg("rect", { x, y: height - bottom - h, width: step * 0.7, height: Math.max(h, 1), class: "bar" });
    bar.append(svg("title", {}, `${day.day}: ${day.credits} credits, ${day.jobs} jobs`));
    root.append(bar);
    if (days.length <= 10 || index % Math.ceil(days.length / 8) === 0) {
      root.append(svg("text", { x: x + step * 0.35, y: height - 8, "text-anchor": "middle", class: "axis" }, day.day.slice(5)));
    }
  });
  const table = el("table", { class: "visually-hidden" },
    el("caption", { text: "Credits per day" }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Day" }), el("th", { scope: "col", text: "Credits" }), el("th", { scope: "col", text: "Jobs" }))),
    el("tbody", {}, ...days.map((d) => el("tr", {}, el("td", { text: d.day }), el("td", { text: String(d.credits) }), el("td", { text: String(d.jobs) })))));
  return [root, table];
}

async function loadChart() {
  const usage = await api("GET", `/v1/usage?group=day&limit=${DAYS}`);
  const figure = document.getElementById("chart");
  figure.replaceChildren(...(usage.items.length ? chart(usage.items) : []));
  document.getElementById("chart-empty").hidden = usage.items.length > 0;
}

// Cursor paging: the cursors of the pages already seen make "Newer" possible.
const cursors = [null];
let pageIndex = 0;

async function loadJobs() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursors[pageIndex]) params.set("cursor", cursors[pageIndex]);
  const page = await api("GET", `/v1/jobs?${params}`);
  const body = document.querySelector("#jobs-table tbody");
  body.replaceChildren(...page.jobs.map((job) => el("tr", { "data-job-id": job.id },
    el("td", { "data-label": "Created", text: when(job.created_at) }),
    el("td", { "data-label": "File", text: job.input.name || job.id }),
    el("td", { "data-label": "Status", text: job.status }),
    el("td", { "data-label": "Format", text: job.output ? `${job.input.format} → ${job.output.format}` : job.input.format }),
    el("td", { "data-label": "Size", text: job.output ? `${bytes(job.input.bytes)} → ${bytes(job.output.bytes)}` : bytes(job.input.bytes) }),
    el("td", { "data-label": "Saved", text: job.output && job.output.saving_percent !== null ? `${job.output.saving_percent}%` : "–" }))));
  cursors[pageIndex + 1] = page.next_cursor;
  document.getElementById("jobs-empty").hidden = page.jobs.length > 0 || pageIndex > 0;
  document.getElementById("jobs-prev").disabled = pageIndex === 0;
  document.getElementById("jobs-next").disabled = !page.next_cursor;
  document.getElementById("jobs-page").textContent = `Page ${pageIndex + 1}`;
}

document.getElementById("jobs-next").addEventListener("click", async () => {
  pageIndex += 1;
  await loadJobs();
});
document.getElementById("jobs-prev").addEventListener("click", async () => {
  pageIndex = Math.max(0, pageIndex - 1);
  await loadJobs();
});

await requireUser();
await Promise.all([loadChart(), loadJobs()]);
