// Upload forms send their CSRF token as the x-csrftoken header (the CSRF middleware cannot
// read it from a multipart body), then show the page the server answers with.
for (const form of document.querySelectorAll("form[enctype='multipart/form-data']")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData(form);
    const token = String(body.get("csrftoken") || "");
    body.delete("csrftoken");
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { "x-csrftoken": token },
        credentials: "same-origin",
      });
      if (response.ok) {
        window.location.assign(response.url);
        return;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const alert = page.querySelector("[role=alert]");
      let shown = form.querySelector("[role=alert]");
      if (!shown) {
        shown = document.createElement("p");
        shown.className = "error";
        shown.setAttribute("role", "alert");
        form.prepend(shown);
      }
      shown.textContent = alert ? alert.textContent : `${response.status} ${response.statusText}`;
    } finally {
      if (button) button.disabled = false;
    }
  });
}
