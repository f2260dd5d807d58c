import { api, debounce, el, explain, fillTable, onLive, shortTime } from "./common.js";
import { refreshEvidenceStatus } from "./evidence_status.js";

const SHOWN = 50;

async function refresh() {
  const report = await refreshEvidenceStatus();
  if (!report) return;
  const after = Math.max(0, report.entries - SHOWN);
  const answer = await api(`evidence?after=${after}&limit=${SHOWN}`);
  if (!answer.ok) return explain("evidence-status", answer);
  const rows = answer.data.entries.slice().reverse().map((e) => el("tr", {},
    el("td", {}, e.sequence), el("td", {}, e.event_type), el("td", {}, `${e.subject.type} ${e.subject.id}`),
    el("td", {}, e.actor), el("td", {}, shortTime(e.recorded_at)),
    el("td", {}, el("code", { title: e.entry_hash_sha256 }, e.entry_hash_sha256.slice(0, 16) + "…"))));
  fillTable("evidence-entries", rows, "The log is empty.");
  return null;
}

onLive(debounce(refresh, 500));
refresh();
