import { api, config, el, errorText, fillTable, passportHref, quantity, say } from "./common.js";

const form = document.getElementById("search");
const maxCost = document.getElementById("max-cost");
if (!config.features.loopcost) {
  maxCost.disabled = true;
  say("max-cost-help", "LoopCost filter: not available on this node (no routing API yet).", "warn");
} else say("max-cost-help", "The most the material may cost delivered here, LoopCost included.");

function number(id) {
  const text = document.getElementById(id).value.trim();
  return text === "" ? undefined : Number(text);
}

async function search(event) {
  if (event) event.preventDefault();
  const kind = document.getElementById("kind").value;
  const body = {};
  const category = document.getElementById("category").value.trim();
  if (category) body.category = category;
  if (number("radius") !== undefined) body.radius_km = number("radius");
  if (number("min-quantity") !== undefined) body.min_quantity = number("min-quantity");
  if (!maxCost.disabled && number("max-cost") !== undefined) body.max_loop_cost = number("max-cost");
  say("search-status", "Searching…");
  const answer = await api(`${kind}/search`, { method: "POST", body });
  if (!answer.ok) {
    say("search-status", `The search was refused: ${errorText(answer)}`, "error");
    fillTable("results", []);
    return;
  }
  const results = answer.data.results || [];
  const total = answer.data.total ?? results.length;
  say("search-status", `${total} found${total > results.length ? `, showing ${results.length}` : ""}.`, "ok");
  fillTable("results", results.map((r) => el("tr", {},
    el("td", {}, el("a", { href: passportHref(r.id) }, r.id)),
    el("td", {}, r.category || r.product_category || ""), el("td", {}, quantity(r.quantity)),
    el("td", {}, r.current_city || ""), el("td", {}, r.availability || r.status || ""))), "No match.");
}

form.addEventListener("submit", search);
search();
