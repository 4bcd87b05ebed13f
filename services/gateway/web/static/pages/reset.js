import { api, onForm, say, showError } from "../app.js";

const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromLink) document.getElementById("reset-token").value = fromLink;

onForm("reset-request-form", async (data) => {
  showError("request-error", null);
  try {
    await api("POST", "/v1/auth/password-reset", { email: data.get("email") });
    say("If the address has an account, a reset token is on its way.");
    document.getElementById("reset-token").focus();
  } catch (error) {
    showError("request-error", error);
  }
});

onForm("reset-form", async (data) => {
  showError("reset-error", null);
  try {
    await api("POST", "/v1/auth/password-reset/confirm", {
      token: String(data.get("token")).trim(),
      password: data.get("password"),
      revoke_api_keys: data.get("revoke_api_keys") === "on",
    });
    location.assign("/app/signin");
  } catch (error) {
    showError("reset-error", error);
  }
});
