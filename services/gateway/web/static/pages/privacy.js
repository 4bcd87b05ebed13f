import { api, el, optionalUser } from "../app.js";

optionalUser();

function show(policy, note) {
  document.getElementById("policy-meta").textContent =
    `Version ${policy.version}, effective ${policy.effective_date}${note}.`;
  const text = document.getElementById("policy-text");
  text.replaceChildren(...policy.text.split(/\n{2,}/).map((paragraph) => el("p", { text: paragraph })));
}

function versionLink(v, current) {
  const state = v.in_effect ? "in force" : v.effective_date > current.effective_date ? "upcoming" : "earlier";
  return el(
    "li",
    {},
    el("a", { href: `/app/privacy?version=${encodeURIComponent(v.version)}`, text: `Version ${v.version}` }),
    ` (effective ${v.effective_date}, ${state}${v.material ? ", material change" : ""})`,
  );
}

try {
  const policy = await api("GET", "/v1/privacy");
  const wanted = new URLSearchParams(location.search).get("version");
  if (wanted && wanted !== policy.version) {
    const chosen = await api("GET", `/v1/privacy/policies/${encodeURIComponent(wanted)}`);
    show(chosen, chosen.in_effect ? ", in force" : `; the version in force is ${policy.version}`);
  } else {
    show(policy, ", in force");
  }
  const notice = document.getElementById("policy-upcoming");
  for (const next of policy.upcoming) {
    notice.append(
      el(
        "p",
        {},
        `Version ${next.version} takes effect on ${next.effective_date}; until then version ${policy.version} applies. `,
        el("a", { href: `/app/privacy?version=${encodeURIComponent(next.version)}`, text: "Read it now" }),
      ),
    );
  }
  document.getElementById("policy-versions").replaceChildren(...policy.versions.map((v) => versionLink(v, policy)));
} catch (error) {
  document.getElementById("policy-meta").textContent = `The policy text is unavailable right now (${error.message}).`;
}
