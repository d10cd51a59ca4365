// The lab page's own behaviour: external, so the strict CSP allows it.
const $ = (id) => document.getElementById(id);
$("works").addEventListener("click", () => {
  $("out").textContent = "Done at " + Date.now();
});
$("fetches").addEventListener("click", () => {
  fetch("/lab/api", { method: "POST", body: "{}" });
});
$("boom").addEventListener("click", () => {
  throw new Error("checkout exploded");
});
$("spin").addEventListener("click", () => {
  const ms = Number(document.body.dataset.spinMs || 700);
  // When it really showed and hid: a loaded machine runs these timers late.
  setTimeout(() => (($("spinner").hidden = false), (document.body.dataset.shownAt = performance.now())), 50);
  setTimeout(() => (($("spinner").hidden = true), (document.body.dataset.hiddenAt = performance.now())), 50 + ms);
});
$("go").addEventListener("click", () => {
  history.pushState({}, "", "/app/next?secret=1");
  $("out").textContent = "next view";
});
$("hashgo").addEventListener("click", () => {
  location.hash = "#/cart";
});
$("signup").addEventListener("submit", (e) => {
  e.preventDefault();
  $("out").textContent = "signed up";
});
$("slow").addEventListener("click", () => {
  const end = performance.now() + 150;
  while (performance.now() < end);
  $("out").textContent = "slow done";
});
