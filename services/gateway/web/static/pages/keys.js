import { api, copyText, el, onForm, requireUser, say, showError, when } from "../app.js";

const tbody = document.querySelector("#keys-table tbody");

async function load() {
  const { api_keys: keys } = await api("GET", "/v1/api-keys");
  tbody.replaceChildren(...keys.map(row));
  document.getElementById("keys-empty").hidden = keys.length > 0;
  document.getElementById("keys-table").hidden = keys.length === 0;
}

function row(key) {
  const revoke = el("button", { type: "button", class: "danger", text: "Revoke", "aria-label": `Revoke key ${key.name}` });
  revoke.addEventListener("click", async () => {
    if (!confirm(`Revoke the key "${key.name}"? Programs using it stop working at once.`)) return;
    revoke.disabled = true;
    try {
      await api("DELETE", `/v1/api-keys/${key.id}`);
      await load();
      say(`Key ${key.name} revoked.`);
      document.getElementById("key-name").focus();
    } catch (error) {
      revoke.disabled = false;
      showError("form-error", error);
    }
  });
  return el("tr", { "data-key-id": key.id },
    el("td", { "data-label": "Name", text: key.name }),
    el("td", { "data-label": "Prefix" }, el("code", { text: key.prefix })),
    el("td", { "data-label": "Created", text: when(key.created_at) }),
    el("td", { "data-label": "Last used", text: key.last_used_at ? when(key.last_used_at) : "never" }),
    el("td", {}, revoke));
}

await requireUser();
await load();

onForm("key-form", async (data, form) => {
  showError("form-error", null);
  try {
    const created = await api("POST", "/v1/api-keys", { name: String(data.get("name")).trim() || "key" });
    const box = document.getElementById("new-key");
    const value = document.getElementById("new-key-value");
    value.value = created.key;
    box.hidden = false;
    value.focus();
    value.select();
    form.reset();
    await load();
    say(`Key ${created.api_key.name} created. Copy it now; it is shown once.`);
  } catch (error) {
    showError("form-error", error);
  }
});

document.getElementById("copy-key").addEventListener("click", (event) => {
  copyText(document.getElementById("new-key-value").value, event.currentTarget);
});
