// The collector's API token for writes: asked for in a small dialog when the collector answers
// 401 (or 403 with error="invalid_token"), kept in sessionStorage for this tab only, so it is
// gone when the tab closes and is never written to disk by the page.

const STORAGE_KEY = "fabricscope.apiToken";

/** The token this tab holds, or null. */
export function storedToken() {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the dialog asks every time
  }
}

function storeToken(token) {
  try {
    if (token) window.sessionStorage.setItem(STORAGE_KEY, token);
    else window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage disabled: nothing kept
  }
}

/** Forget the token (the collector refused it). */
export function forgetToken() {
  storeToken(null);
}

/**
 * Ask for the token; resolves to it (and keeps it), or to null when the user cancels.
 * `reason` is the collector's one-line message, shown above the field.
 */
export function askForToken(reason) {
  const dialog = document.getElementById("token-dialog");
  const form = dialog.querySelector("form");
  const input = dialog.querySelector("#token-input");
  dialog.querySelector("#token-reason").textContent = reason;
  input.value = "";
  return new Promise((resolve) => {
    const done = (token) => {
      form.removeEventListener("submit", submit);
      dialog.removeEventListener("close", cancel);
      if (dialog.open) dialog.close();
      if (token) storeToken(token);
      resolve(token || null);
    };
    const submit = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (token) done(token);
    };
    const cancel = () => done(null);
    dialog.querySelector("#token-cancel").onclick = () => dialog.close();
    form.addEventListener("submit", submit);
    dialog.addEventListener("close", cancel); // Escape, or the Cancel button
    dialog.showModal();
    input.focus();
  });
}
