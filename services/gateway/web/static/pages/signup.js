import { api, onForm, showError } from "../app.js";

onForm("signup-form", async (data, form) => {
  showError("form-error", null);
  try {
    await api("POST", "/v1/auth/signup", {
      name: data.get("name"),
      email: data.get("email"),
      password: data.get("password"),
    });
    form.hidden = true;
    const done = document.getElementById("signup-done");
    done.hidden = false;
    done.querySelector("a").focus();
  } catch (error) {
    showError("form-error", error);
  }
});
