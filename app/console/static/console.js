// Opening an exchange on the requests page loads its request and response (the same part the
// exchange's own page shows), once. Without script the summary's link opens that page.
document.addEventListener("toggle", async (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open) return;
  const id = details.dataset.exchange;
  if (!id || details.dataset.loaded) return;
  details.dataset.loaded = "1";
  const part = details.querySelector(".part");
  try {
    const answer = await fetch(`/console/requests/${encodeURIComponent(id)}?part=1`,
                               { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    part.innerHTML = await answer.text();  // server-rendered, every value escaped
  } catch (error) {
    part.textContent = `Could not load the exchange: ${error.message}`;
    delete details.dataset.loaded;
  }
}, true);
