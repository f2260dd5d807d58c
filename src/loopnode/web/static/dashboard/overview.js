import { api, debounce, el, explain, onLive, say } from "./common.js";
import { createMap } from "./map.js";
import { LIFECYCLE, refreshBoard } from "./board.js";
import { refreshEvidenceStatus } from "./evidence_status.js";

const map = createMap("map");

async function federationSummary() {
  const target = document.getElementById("federation-nodes");
  const answer = await api("federation/nodes");
  if (!answer.ok) return explain(target, answer);
  const peers = answer.data.nodes.length - 1;
  say(target, peers === 0 ? "No approved peers yet." : `${peers} approved peer${peers === 1 ? "" : "s"}: ` +
    answer.data.nodes.slice(1).map((n) => n.id).join(", "), "info");
  target.after(el("p", {}, el("a", { href: "/ui/federation" }, "Federation health")));
  return null;
}

const lifecycle = debounce(() => { refreshBoard(); map.refresh(); }, 300);
const evidence = debounce(refreshEvidenceStatus, 1000);
onLive((entry, type) => {
  if (LIFECYCLE.test(type)) lifecycle();
  evidence();
});

map.refresh();
refreshBoard();
refreshEvidenceStatus();
federationSummary();
