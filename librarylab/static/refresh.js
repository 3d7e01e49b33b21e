// Parts of a staff page marked data-refresh="<seconds>" are fetched again at that pace and
// replaced in place, so live state (printers, jobs) stays current without a reload. Skipped
// while a form on the page is being filled in or a history is open.
for (const part of document.querySelectorAll("[data-refresh][id]")) {
  const seconds = Number(part.dataset.refresh) || 5;
  setInterval(async () => {
    const busy = document.activeElement && document.activeElement.closest("form");
    if (busy || part.querySelector("details[open]")) return;
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(part.id);
      if (fresh && fresh.innerHTML !== part.innerHTML) part.innerHTML = fresh.innerHTML;
    } catch (error) {
      // offline for a moment: the next round tries again
    }
  }, seconds * 1000);
}
