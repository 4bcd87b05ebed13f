import { api, el, onForm, requireUser, raw, saveBlob, say, showError, sleep, when } from "../app.js";

const EXPORT_POLL_MS = 1000;
let user = await requireUser();

function fill() {
  document.getElementById("acc-name").value = user.name;
  document.getElementById("acc-email").value = user.email;
  document.getElementById("email-hint").textContent = user.pending_email
    ? `Waiting for you to confirm ${user.pending_email}.`
    : user.email_confirmed ? "Confirmed." : "Not confirmed yet.";
}
fill();

// A stored provider this installation no longer enables shows as the default, which is what
// jobs then get.
function fillVision() {
  const select = document.getElementById("acc-vision-provider");
  select.value = user.vision_provider || "";
  if (select.value !== (user.vision_provider || "")) select.value = "";
  document.getElementById("acc-language").value = user.language || "";
}
fillVision();

function providerName(name) {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

// Email and password, then each linked provider; the last way in cannot be removed.
async function loadMethods() {
  const { identities, has_password: hasPassword } = await api("GET", "/v1/account/identities");
  const last = !hasPassword && identities.length === 1;
  const items = [el("li", {
    text: hasPassword
      ? "Email and password"
      : "No password yet: use \u201cForgot your password?\u201d on the sign-in page to set one.",
  })];
  for (const identity of identities) {
    const label = `${providerName(identity.provider)} account ${identity.subject_hint}`;
    const unlink = el("button", {
      type: "button",
      class: "danger",
      text: "Disconnect",
      "aria-label": `Disconnect ${label}`,
      disabled: last,
      title: last ? "This is the only way to sign in to your account" : null,
    });
    unlink.addEventListener("click", async () => {
      showError("methods-error", null);
      unlink.disabled = true;
      try {
        await api("DELETE", `/v1/account/identities/${identity.id}`);
        await loadMethods();
        say(`${label} disconnected.`);
      } catch (error) {
        unlink.disabled = false;
        showError("methods-error", error);
      }
    });
    items.push(el("li", { "data-identity-id": identity.id },
      `${label}, connected ${when(identity.linked_at)} `, unlink));
  }
  document.getElementById("methods").replaceChildren(...items);
}
await loadMethods();

onForm("name-form", async (data) => {
  showError("name-error", null);
  try {
    ({ user } = await api("PATCH", "/v1/account", { name: String(data.get("name")).trim() }));
    fill();
    say("Name saved.");
  } catch (error) {
    showError("name-error", error);
  }
});

onForm("vision-form", async (data) => {
  showError("vision-error", null);
  try {
    ({ user } = await api("PATCH", "/v1/account", {
      vision_provider: String(data.get("vision_provider")),
      language: String(data.get("language")).trim(),
    }));
    fillVision();
    say("AI preferences saved.");
  } catch (error) {
    showError("vision-error", error);
  }
});

onForm("email-form", async (data) => {
  showError("email-error", null);
  try {
    ({ user } = await api("PATCH", "/v1/account", {
      email: String(data.get("email")).trim(),
      current_password: data.get("current_password"),
    }));
    fill();
    say("Check the new address's inbox for a confirmation token; the change happens once you confirm it.");
  } catch (error) {
    showError("email-error", error);
  }
});

onForm("password-form", async (data, form) => {
  showError("password-error", null);
  try {
    await api("POST", "/v1/account/password", {
      current_password: data.get("current_password"),
      new_password: data.get("new_password"),
    });
    form.reset();
    say("Password changed. Every other session was signed out.");
  } catch (error) {
    showError("password-error", error);
  }
});

document.getElementById("logout-everywhere").addEventListener("click", async () => {
  const revoke = document.getElementById("logout-revoke-keys").checked;
  await api("POST", "/v1/auth/logout-everywhere", { revoke_api_keys: revoke });
  location.assign("/app/signin");
});

const exportStatus = document.getElementById("export-status");
document.getElementById("export").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const request = await api("POST", "/v1/account/export");
    exportStatus.textContent = "Gathering your data…";
    for (;;) {
      const response = await raw("GET", `/v1/account/export/${request.id}`);
      if (response.status === 200) {
        saveBlob(await response.blob(), `picopt-export-${request.id}.zip`);
        exportStatus.textContent = "Your export is downloaded. The copy on our side expires within 24 hours.";
        break;
      }
      await sleep(EXPORT_POLL_MS);
    }
  } catch (error) {
    exportStatus.textContent = `The export failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
});

const dialog = document.getElementById("delete-dialog");
document.getElementById("delete-open").addEventListener("click", () => {
  showError("delete-error", null);
  dialog.showModal();
  document.getElementById("delete-email").focus();
});
document.getElementById("delete-cancel").addEventListener("click", () => dialog.close());
document.getElementById("delete-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const typed = document.getElementById("delete-email").value.trim().toLowerCase();
  if (typed !== user.email.toLowerCase()) {
    showError("delete-error", { message: "That is not your account's email address." });
    return;
  }
  const button = document.getElementById("delete-confirm");
  button.disabled = true;
  try {
    await api("DELETE", "/v1/account");
    location.assign("/app/signin?deleted=1");
  } catch (error) {
    button.disabled = false;
    showError("delete-error", error);
  }
});
