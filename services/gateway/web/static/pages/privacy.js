import { api, el, optionalUser } from "../app.js";

optionalUser();
try {
  const policy = await api("GET", "/v1/privacy");
  document.getElementById("policy-meta").textContent =
    `Version ${policy.version}, effective ${policy.effective_date}.`;
  const text = document.getElementById("policy-text");
  for (const paragraph of policy.text.split(/\n{2,}/)) text.append(el("p", { text: paragraph }));
} catch (error) {
  document.getElementById("policy-meta").textContent = `The policy text is unavailable right now (${error.message}).`;
}
