// Benchmark part: how fast a waiting `check_access_request` (wait_seconds 50, raw JSON-RPC POST to
// /mcp, started before the decision) wakes after the person's Approve POST (fetch-based, same
// user's cookie), and, as the same-run baseline, a `check_access_request` with wait_seconds 0 on
// an already-decided request. Connections are rotated so the per-connection request limit
// (30 per 10 min) is never reached. Then, for the same number of rounds, a URL-elicited call:
// Approve POST -> the client's retried callTool returns the provider's answer (elicitation-retry.mjs).
import { decisionBody, openApproval } from "../e2e/lib/approval.mjs";
import { mcpHeaders, readJsonRpc, toolCallBody } from "../e2e/lib/mcp-raw.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { fetchWithTimeout, sleep, withTimeout } from "../e2e/lib/util.mjs";
import { measureElicitedRetry } from "./elicitation-retry.mjs";
import { sample, summarize } from "./stats.mjs";

/** New requests per connection before the next one is signed in (the server allows 30 / 10 min). */
const REQUESTS_PER_CONNECTION = 25;
/** Pause between starting the waiting check and approving, so the check is parked in the Durable Object. */
const SETTLE_MS = 250;
const WAIT_CALL_TIMEOUT_MS = 60_000;

/**
 * One raw `tools/call`; the structuredContent, or a thrown error.
 * @param {string} origin
 * @param {string} accessToken
 * @param {string} tool
 * @param {object} args
 * @param {number} [timeoutMs]
 */
export async function callTool(origin, accessToken, tool, args, timeoutMs = 15_000) {
  const res = await fetchWithTimeout(
    `${origin}/mcp`,
    { method: "POST", headers: mcpHeaders(accessToken), body: toolCallBody(tool, args) },
    timeoutMs,
  );
  const message = await readJsonRpc(res);
  if (res.status !== 200 || message.error || message.result?.isError) {
    throw new Error(`${tool}: HTTP ${res.status} ${JSON.stringify(message).slice(0, 300)}`);
  }
  return message.result.structuredContent;
}

/**
 * @param {string} origin
 * @param {{ iterations: number, warmup: number, baselineCount: number, baselineWarmup: number, email: string }} options
 */
export async function measureApprovalWake(origin, { iterations, warmup, baselineCount, baselineWarmup, email }) {
  /** @type {Awaited<ReturnType<typeof signInRawClient>> | undefined} */
  let connection;
  let used = REQUESTS_PER_CONNECTION;
  const nextConnection = async () => {
    if (used >= REQUESTS_PER_CONNECTION) {
      connection = await signInRawClient(origin, { email, clientName: `Benchmark approval client ${Date.now()}` });
      used = 0;
    }
    used++;
    return /** @type {NonNullable<typeof connection>} */ (connection);
  };

  /** @type {number[]} */ const wake = [];
  /** @type {number[]} */ const post = [];
  /** @type {Array<{ token: string, id: string }>} */ const decided = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const { tokens, browser } = await nextConnection();
    const token = tokens.access_token;
    const asked = await callTool(origin, token, "request_elevated_access", {
      kind: "broad",
      level: "read",
      providers: ["github"],
      reason: `Benchmark request ${i}`,
    });
    if (asked.coalesced) throw new Error("a benchmark request coalesced with an earlier one");
    const { form } = await openApproval(browser, asked.approval_url);
    const body = decisionBody(form, { decision: "approve" });

    const started = performance.now();
    const waiting = callTool(
      origin,
      token,
      "check_access_request",
      { request_id: asked.request_id, wait_seconds: 50 },
      WAIT_CALL_TIMEOUT_MS,
    ).then((view) => ({ view, at: performance.now() }));
    waiting.catch(() => {});
    await sleep(SETTLE_MS);

    const t0 = performance.now();
    const res = await browser.post(form.action, body);
    await res.arrayBuffer();
    const posted = performance.now();
    if (res.status !== 200) throw new Error(`approve POST: HTTP ${res.status}`);
    const { view, at } = await withTimeout(waiting, WAIT_CALL_TIMEOUT_MS + 5_000, "waiting check_access_request");
    if (view.status !== "approved") throw new Error(`the waiting check returned ${view.status}`);
    if (at - started < SETTLE_MS) throw new Error("the check returned before the approval: it never waited");
    if (i >= warmup) {
      wake.push(at - t0);
      post.push(posted - t0);
    }
    decided.push({ token, id: asked.request_id });
  }

  let next = 0;
  const checkDecided = async () => {
    const { token, id } = decided[next++ % decided.length];
    const view = await callTool(origin, token, "check_access_request", { request_id: id, wait_seconds: 0 });
    if (view.status !== "approved") throw new Error(`decided request reads ${view.status}`);
  };
  const baseline = await sample(checkDecided, { count: baselineCount, warmup: baselineWarmup });
  const { retried } = await measureElicitedRetry(origin, { iterations, warmup, email });
  return { wake: summarize(wake), post: summarize(post), baseline: summarize(baseline), retried, settleMs: SETTLE_MS };
}
