import { api, onForm, optionalUser, say, showError } from "../app.js";

// Only paths inside the app are followed after sign-in (no open redirect).
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/app";
  return /^\/app(\/[a-z]*)?(\?[\w=&%-]*)?$/.test(next) ? next : "/app";
}

// A provider sign-in that failed comes back here with #error=<problem code>.
const PROVIDER_ERRORS = {
  "oauth-email-unverified": "The provider did not confirm an email address, so we cannot sign you in with it.",
  "account-disabled": "This account is disabled.",
  "invalid-state": "That sign-in attempt expired or came from another browser. Please try again.",
};

const params = new URLSearchParams(location.search);
if (params.get("deleted")) say("Your account is deleted. We will erase its data everywhere.");
const providerError = new URLSearchParams(location.hash.slice(1)).get("error");
if (providerError) {
  showError("form-error", {
    message: PROVIDER_ERRORS[providerError] || "Signing in with the provider did not work. Please try again.",
  });
  history.replaceState(null, "", location.pathname + location.search);
}
optionalUser();

onForm("signin-form", async (data) => {
  showError("form-error", null);
  try {
    await api("POST", "/v1/auth/login", { email: data.get("email"), password: data.get("password") });
    location.assign(nextPage());
  } catch (error) {
    if (error.status === 401) showError("form-error", { message: "Wrong email or password." });
    else if (error.status === 429) showError("form-error", { message: `Too many attempts. ${error.message}` });
    else showError("form-error", error);
    document.getElementById("password").focus();
  }
});
