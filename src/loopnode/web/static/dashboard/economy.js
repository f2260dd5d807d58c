// Economic panels over the LoopCoin (issue 10) and LoopSignal (issue 11) APIs. Each panel says
// "not available on this node" when the node does not serve its API, before or after it lands.
import { api, config, el, errorText, explain, fillTable, mayRead, NOT_AVAILABLE, notForRole, say, shortTime, signedIn } from "./common.js";
import { barChart, lineChart } from "./charts.js";

const F = config.features;

function absent(statusId, feature) {
  if (F[feature]) return false;
  say(statusId, NOT_AVAILABLE, "warn");
  return true;
}

function listOf(data, ...names) {
  if (Array.isArray(data)) return data;
  for (const name of names) if (data && Array.isArray(data[name])) return data[name];
  return [];
}

async function signals() {
  if (absent("signals-status", "signals")) return;
  const answer = await api("signals");
  if (!answer.ok) return explain("signals-status", answer);
  const entries = Object.entries(answer.data.signals || {}).filter(([, v]) => typeof v === "number");
  say("signals-status", `In force from ${shortTime(answer.data.valid_from)} until ${shortTime(answer.data.valid_until)}.`, "ok");
  barChart(document.getElementById("signals-chart"), entries.map(([label, value]) => ({ label, value })),
    "Signal strength by category (0 to 1)");
}

async function proposals() {
  if (absent("proposals-status", "proposals")) return;
  const answer = await api("signals/proposals");
  if (!answer.ok) return explain("proposals-status", answer);
  const items = listOf(answer.data, "proposals", "results");
  say("proposals-status", `${items.length} proposal(s).`, "ok");
  const list = document.getElementById("proposals");
  list.replaceChildren(...items.map(proposalCard));
}

function proposalCard(p) {
  const doc = p.proposal || p; // the API answers {id, state, proposal: SignalProposal, vote}
  const changes = (doc.changes || []).map((c) => `${c.category}: ${c.current} → ${c.proposed}`).join("; ");
  const results = p.results || (p.vote && p.vote.results) || null;
  const state = (results && results.status) || p.state || p.status || "open";
  const card = el("li", { class: "card", "data-id": p.id },
    el("span", { class: `badge badge-${state}` }, state), el("strong", {}, p.id || ""), el("span", {}, changes),
    el("span", { class: "muted" }, `voting ${shortTime(doc.voting_opens)} – ${shortTime(doc.voting_closes)}`));
  if (results) {
    const chart = el("div", { class: "chart" });
    card.append(chart);
    barChart(chart, [{ label: "for", value: results.votes_for || 0 }, { label: "against", value: results.votes_against || 0 }],
      `Result of ${p.id}: ${results.votes_for} for, ${results.votes_against} against (${state})`);
    card.append(el("span", { class: "result" }, `Result: ${state}, ${results.votes_for} for, ${results.votes_against} against`));
  } else if (signedIn() && p.id) card.append(ballotForm(p.id));
  return card;
}

function ballotForm(id) {
  const safe = String(id).replace(/[^A-Za-z0-9_-]/g, "_");
  const form = el("form", { class: "ballot" },
    el("label", { for: `voter-${safe}` }, "Voter (LoopCoin account)"), el("input", { id: `voter-${safe}`, required: true }),
    el("button", { type: "submit", value: "for" }, "Vote for"), el("button", { type: "submit", value: "against" }, "Vote against"),
    el("span", { role: "status" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const choice = event.submitter ? event.submitter.value : "for";
    const voter = form.querySelector("input").value.trim();
    const answer = await api(`signals/proposals/${encodeURIComponent(id)}/ballots`, { method: "POST", body: { voter, choice } });
    say(form.querySelector("[role=status]"), answer.ok ? "Ballot recorded." : `Refused: ${errorText(answer)}`, answer.ok ? "ok" : "error");
  });
  return form;
}

async function supply() {
  if (absent("supply-status", "loopcoin")) return;
  const [cfg, sup] = await Promise.all([api("loopcoin/config"), F.supply ? api("loopcoin/supply") : null]);
  if (!cfg.ok) return explain("supply-status", cfg);
  const c = cfg.data;
  document.getElementById("loopcoin-config").replaceChildren(...[
    ["currency", c.currency_code], ["backed by", c.backed_by], ["exchange rate", c.exchange_rate],
    ["expiry", `${c.expiry_months} months`], ["decay", c.decay_rate], ["max issuance", c.max_issuance],
    ["current supply", c.current_supply],
  ].filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
  say("supply-status", `${c.currency_code} issued by ${c.issuer}.`, "ok");
  if (!sup) return;
  if (!sup.ok) return explain("supply-status", sup);
  const parts = ["issued", "redeemed", "circulating", "community_fund", "reserve"]
    .filter((k) => sup.data[k] !== undefined)
    .map((k) => ({ label: k.replace("_", " "), value: Number(sup.data[k]), text: String(sup.data[k]) }));
  barChart(document.getElementById("supply-chart"), parts, "LoopCoin supply and funds");
}

function monthsAhead(n) {
  const at = new Date();
  at.setUTCMonth(at.getUTCMonth() + n);
  return at.toISOString().replace(/\.\d+Z$/, "Z");
}

async function account(event) {
  event.preventDefault();
  const id = document.getElementById("account-id").value.trim();
  if (!id) return;
  const path = `loopcoin/accounts/${encodeURIComponent(id)}`;
  const answer = await api(path);
  if (!answer.ok) {
    say("account-balance", "");
    return answer.status === 404 ? say("account-status", `No account ${id} on this node.`, "warn") : explain("account-status", answer);
  }
  say("account-status", "");
  say("account-balance", `Balance of ${answer.data.id}: ${answer.data.balance}`, "ok");
  // "now" is the balance just read: the API refuses an `at` in the past, and a timestamp taken
  // here is already past when it arrives. Only later months are projections.
  const months = [3, 6, 9, 12, 18, 24];
  const projected = await Promise.all(months.map((m) => api(`${path}?at=${encodeURIComponent(monthsAhead(m))}`)));
  const points = [{ label: "now", value: Number(answer.data.balance) }]
    .concat(projected.map((p, i) => ({ label: `+${months[i]} mo`, value: p.ok ? Number(p.data.balance) : NaN })))
    .filter((p) => !Number.isNaN(p.value));
  if (points.length) lineChart(document.getElementById("decay-chart"), points, `Projected balance of ${id} if nothing else happens (decay)`);
  const statement = await api(`${path}/statement`);
  const lines = statement.ok ? listOf(statement.data, "entries", "lines", "postings", "results") : [];
  fillTable("statement", lines.map((l) => el("tr", {}, el("td", {}, shortTime(l.at || l.timestamp || l.posted_at || "")),
    el("td", {}, l.memo || l.kind || l.description || l.type || ""), el("td", {}, String(l.amount ?? "")))), "No statement lines.");
}

async function clearing() {
  if (absent("clearing-status", "clearing")) return;
  if (!signedIn()) return say("clearing-status", "Sign in with an operator or auditor API key to see the clearing rounds.", "warn");
  if (!(await mayRead("clearing"))) return notForRole("clearing-status", "clearing", "clearing rounds");
  const answer = await api("clearing/rounds");
  if (!answer.ok) return explain("clearing-status", answer);
  const rounds = listOf(answer.data, "rounds", "results");
  say("clearing-status", `${rounds.length} clearing round(s).`, "ok");
  // Newest first from the API: chart the last ten oldest to newest.
  barChart(document.getElementById("clearing-chart"), rounds.slice(0, 10).reverse().map((r) => ({
    label: String(r.id || shortTime(r.applied_at || "")).slice(0, 16), value: Number(r.cleared || 0), text: String(r.cleared ?? ""),
  })), "Amount cleared per round");
}

if (F.accounts) document.getElementById("account-form").addEventListener("submit", account);
else {
  say("account-status", NOT_AVAILABLE, "warn");
  document.querySelector("#account-form button").disabled = true;
}
signals();
proposals();
supply();
clearing();
