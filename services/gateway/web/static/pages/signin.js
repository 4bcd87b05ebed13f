import { api, onForm, optionalUser, say, showError } from "../app.js";

// Only paths inside the app are followed after sign-in (no open redirect).
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/app";
  return /^\/app(\/[a-z]*)?(\?[\w=&%-]*)?$/.test(next) ? next : "/app";
}

const params = new URLSearchParams(location.search);
if (params.get("deleted")) say("Your account is deleted. We will erase its data everywhere.");
optionalUser();

onForm("signin-form", async (data) => {
  showError("form-error", null);
  try {
    await api("POST", "/v1/auth/login", { email: data.get("email"), password: data.get("password") });
    location.assign(nextPage());
  } catch (error) {
    if (error.status === 401) showError("form-error", { message: "Wrong email or password, or the email is not confirmed yet." });
    else if (error.status === 429) showError("form-error", { message: `Too many attempts. ${error.message}` });
    else showError("form-error", error);
    document.getElementById("password").focus();
  }
});
