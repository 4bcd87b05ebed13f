// Shared helpers for every page: API calls with the CSRF header, DOM building, sign-in state.
// Only textContent is ever used for data, so nothing from the server becomes markup.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || "";
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export function authHeaders(method) {
  const headers = {};
  if (!["GET", "HEAD"].includes(method)) {
    const token = cookie("__Host-csrf") || cookie("csrf_token");
    if (token) headers["X-CSRF-Token"] = token;
  }
  return headers;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { title: response.statusText, detail: `HTTP ${response.status}` };
  }
}

export async function raw(method, path, options = {}) {
  const headers = { ...authHeaders(method), ...(options.headers || {}) };
  let body = options.body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, { title: "Network error", detail: "The server could not be reached. Check your connection and try again.", code: "network" });
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response;
}

export async function api(method, path, json) {
  const response = await raw(method, path, json === undefined ? {} : { json });
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function say(message) {
  const status = document.getElementById("status");
  if (status) status.textContent = message;
}

export function showError(id, error) {
  const node = document.getElementById(id);
  if (node) node.textContent = error ? (error.message || String(error)) : "";
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

export function when(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function money(amount, currency) {
  return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(amount / 100);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename, class: "visually-hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", { class: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const label = button.textContent;
  button.textContent = "Copied";
  say("Copied to the clipboard.");
  setTimeout(() => { button.textContent = label; }, 1500);
}

function goSignIn() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`/app/signin?next=${next}`);
}

// The signed-in user, or a redirect to the sign-in page.
export async function requireUser() {
  try {
    const { user } = await api("GET", "/v1/account");
    showUser(user);
    return user;
  } catch (error) {
    if (error.status !== 401) throw error;
    goSignIn();
    return new Promise(() => {}); // the page is being replaced; nothing below should run
  }
}

// Shows the header's name and sign-out button when someone is signed in.
export async function optionalUser() {
  try {
    const { user } = await api("GET", "/v1/account");
    showUser(user);
    return user;
  } catch {
    return null;
  }
}

function showUser(user) {
  const who = document.getElementById("who");
  document.getElementById("who-name").textContent = user.name || user.email;
  who.hidden = false;
}

export async function signOut() {
  try {
    await api("POST", "/v1/auth/logout");
  } finally {
    location.assign("/app/signin");
  }
}

export function onForm(id, handler) {
  const form = document.getElementById(id);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      await handler(new FormData(form), form);
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}

document.addEventListener("DOMContentLoaded", () => {
  const out = document.getElementById("signout");
  if (out) out.addEventListener("click", signOut);
});
