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
  if (report.intact) {
    say(target, `✓ Verified: the hash chain of ${report.entries} entries is intact.`, "ok");
  } else {
    say(target, `✗ Broken at entry ${report.first_broken}: ${report.reason}`, "error");
  }
  return report;
}
