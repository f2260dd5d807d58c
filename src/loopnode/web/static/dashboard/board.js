// The lifecycle board: offers, matches and transfers, newest first, refreshed on live events.
import { el, listAll, passportHref, quantity, say } from "./common.js";

const SHOWN = 30;
const KINDS = ["offer", "match", "transfer"];

export async function refreshBoard() {
  const lists = await Promise.all(KINDS.map((kind) => listAll(`/api/v1/${kind}?limit=100`, 10)));
  KINDS.forEach((kind, index) => {
    const answer = lists[index];
    const list = document.getElementById(`board-${kind}`);
    if (!list) return;
    if (!answer.ok) {
      list.replaceChildren(el("li", { class: "muted" }, `Could not load (${answer.status}).`));
      return;
    }
    const newest = answer.results.slice(-SHOWN).reverse();
    list.replaceChildren(...newest.map((item) => card(kind, item)));
    if (newest.length === 0) list.append(el("li", { class: "muted" }, "None yet."));
    say(`count-${kind}`, `(${answer.results.length})`);
  });
}

function card(kind, item) {
  const subject = item.material_id || item.product_id;
  const route = item.from_city || item.to_city ? `${item.from_city || "?"} → ${item.to_city || "?"}` : "";
  return el("li", { class: "card", "data-id": item.id },
    el("span", { class: `badge badge-${item.status}` }, item.status),
    el("strong", {}, item.id),
    subject ? el("a", { href: passportHref(subject) }, subject) : null,
    route ? el("span", {}, route) : null,
    item.quantity ? el("span", {}, quantity(item.quantity)) : null,
    kind === "transfer" && item.match_id ? el("span", { class: "muted" }, `match ${item.match_id}`) : null);
}

export const LIFECYCLE = /^(offer|match|transfer|material|product|transaction)\./;
