import { api, el, explain, fillTable, mayRead, notForRole, say, shortTime, signedIn } from "./common.js";

async function nodes() {
  const answer = await api("federation/nodes");
  if (!answer.ok) return;
  fillTable("nodes", answer.data.nodes.map((n) => el("tr", {}, el("td", {}, n.id), el("td", {}, n.status),
    el("td", {}, n.location ? `${n.location.lat.toFixed(3)}, ${n.location.lon.toFixed(3)}` : ""),
    el("td", {}, shortTime(n.last_seen)))));
}

async function operatorPanels() {
  if (!signedIn()) {
    for (const id of ["peers-status", "outbox-status"]) {
      say(id, "Sign in with an operator API key to see peers, the outbox, dead letters and breakers.", "warn");
    }
    return;
  }
  if (!(await mayRead("peers")) || !(await mayRead("outbox"))) {
    notForRole("peers-status", "peers", "peers");
    notForRole("outbox-status", "outbox", "the outbox, dead letters and breakers");
    return;
  }
  const [peers, outbox, dead] = await Promise.all([
    api("federation/peers"), api("federation/outbox?limit=1"), api("federation/outbox?status=dead&limit=50"),
  ]);
  if (peers.ok) {
    say("peers-status", `${peers.data.peers.length} known peer(s).`, "ok");
    fillTable("peers", peers.data.peers.map((p) => el("tr", {}, el("td", {}, p.node_id),
      el("td", {}, el("span", { class: `badge badge-${p.status}` }, p.status)), el("td", {}, p.endpoint))), "No peers.");
  } else explain("peers-status", peers);
  if (!outbox.ok) return explain("outbox-status", outbox);
  const counts = outbox.data.counts || {};
  const depth = (counts.pending || 0);
  say("outbox-status", `Outbox depth ${depth}; ${counts.dead || 0} dead letter(s).`, (counts.dead || 0) > 0 ? "warn" : "ok");
  document.getElementById("outbox-counts").replaceChildren(...Object.entries(counts).flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", {}, v)]));
  fillTable("circuits", Object.entries(outbox.data.circuits || {}).map(([peer, state]) => el("tr", {},
    el("td", {}, peer), el("td", {}, el("span", { class: `badge badge-${state}` }, state)))), "No circuits yet.");
  if (dead.ok) {
    fillTable("dead", dead.data.entries.map((d) => el("tr", {}, el("td", {}, d.id), el("td", {}, d.peer_id),
      el("td", {}, d.kind), el("td", {}, d.attempts), el("td", {}, d.last_error || ""))), "No dead letters.");
  }
  return null;
}

nodes();
operatorPanels();
