import { api, onForm, showError } from "../app.js";

// A link may carry the token in the fragment (#token=...), which never reaches any server log.
const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromLink) document.getElementById("token").value = fromLink;

onForm("confirm-form", async (data, form) => {
  showError("form-error", null);
  try {
    await api("POST", "/v1/auth/confirm", { token: String(data.get("token")).trim() });
    form.hidden = true;
    const done = document.getElementById("confirm-done");
    done.hidden = false;
    done.querySelector("a").focus();
  } catch (error) {
    showError("form-error", error.status === 400 || error.status === 404
      ? { message: "That token is not valid any more. Sign up again or ask for a new one." }
      : error);
  }
});
