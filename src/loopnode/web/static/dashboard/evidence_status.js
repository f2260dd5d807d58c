// The evidence chain's verification status (GET /api/v1/evidence/verify).
import { api, explain, say } from "./common.js";

export async function refreshEvidenceStatus() {
  const answer = await api("evidence/verify");
  const target = document.getElementById("evidence-status");
  if (!answer.ok) {
    explain(target, answer);
    return null;
  }
  const report = answer.data;
  const records = report.records || [];
  if (report.intact) {
    say(target, `✓ Verified: the hash chain of ${report.entries} entries is intact.`, "ok");
  } else if (report.first_broken !== null) {
    say(target, `✗ Broken at entry ${report.first_broken}: ${report.reason}`, "error");
  } else {
    // The chain holds, but records were changed without an entry (record binding, issue 15).
    const first = records[0];
    const more = records.length > 1 ? ` (and ${records.length - 1} more)` : "";
    say(target, `✗ Record ${first.type} ${first.id}: ${first.problem}${more}`, "error");
  }
  return report;
}
