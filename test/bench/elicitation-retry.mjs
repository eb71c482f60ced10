// Benchmark part: how fast a URL-elicited call finishes after the person's Approve POST. A real
// v2 SDK client pinned to 2026-07-28 declares URL elicitation and calls call_integration_api to
// write a demo note with nothing approved; its elicitation handler hands the link over and
// answers "accept" at once (as a real client does once it has opened the link), so the SDK
// retries with the request state and Countersign holds that retry. The approval page is read
// (the person has it open), and SETTLE_MS later the Approve POST is sent (fetch-based, same user's cookie); the figure is from just before that POST to
// the moment the same callTool resolves with the demo provider's answer. Each round writes a
// new note, so each is a new one-call request; connections are rotated before the per-connection
// request limit (30 per 10 min).
import * as v2 from "@modelcontextprotocol/client";
import { decisionBody, openApproval } from "../e2e/lib/approval.mjs";
import { connectionsForm, saveApiKey } from "../e2e/lib/connections.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { sleep, withTimeout } from "../e2e/lib/util.mjs";
import { summarize } from "./stats.mjs";

const REQUESTS_PER_CONNECTION = 25;
/** Pause between the client's "accept" and the Approve POST, so the retry is parked in the Durable Object. */
const SETTLE_MS = 250;
const CALL_TIMEOUT_MS = 60_000;

/**
 * A v2 client on `token` whose URL prompt hands the link to `onLink` and accepts.
 * @param {string} origin @param {string} token @param {(url: string) => Promise<void>} onLink
 */
async function elicitingClient(origin, token, onLink) {
  const transport = new v2.StreamableHTTPClientTransport(new URL(`${origin}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new v2.Client(
    { name: "bench-elicitation", version: "1.0.0" },
    { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: { pin: "2026-07-28" } } },
  );
  client.setRequestHandler("elicitation/create", async (request) => {
    await onLink(request.params.url);
    return { action: "accept" };
  });
  await client.connect(transport);
  return client;
}

/**
 * @param {string} origin
 * @param {{ iterations: number, warmup: number, email: string }} options
 */
export async function measureElicitedRetry(origin, { iterations, warmup, email }) {
  /** @type {{ client: any, browser: any } | undefined} */
  let connection;
  let used = REQUESTS_PER_CONNECTION;
  /** @type {(link: { url: string, browser: any }) => void} */
  let linked = () => {};
  /** @type {number[]} */ const retried = [];
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      if (used >= REQUESTS_PER_CONNECTION) {
        await connection?.client.close().catch(() => {});
        const signedIn = await signInRawClient(origin, { email, clientName: `Benchmark elicitation ${Date.now()}` });
        const { browser } = signedIn;
        if (!connection) {
          const { prefilled } = await connectionsForm(browser, "demo", "api-key");
          const saved = await saveApiKey(browser, "demo", prefilled);
          if (saved.status !== 303) throw new Error(`connecting the demo provider: HTTP ${saved.status}`);
        }
        const client = await elicitingClient(origin, signedIn.tokens.access_token, async (url) =>
          linked({ url, browser }),
        );
        connection = { client, browser };
        used = 0;
      }
      used++;
      const prompted = new Promise((resolve) => {
        linked = resolve;
      });
      const call = connection.client
        .callTool(
          {
            name: "call_integration_api",
            arguments: {
              method: "POST",
              url: `${origin}/demo-api/notes`,
              body: JSON.stringify({ title: `Benchmark note ${i}` }),
            },
          },
          { timeout: CALL_TIMEOUT_MS },
        )
        .then((result) => ({ result, at: performance.now() }));
      call.catch(() => {});
      const { url, browser } = /** @type {{ url: string, browser: any }} */ (
        await withTimeout(prompted, CALL_TIMEOUT_MS, "the URL elicitation")
      );
      const { form } = await openApproval(browser, url);
      const body = decisionBody(form, { decision: "approve" });
      await sleep(SETTLE_MS);

      const t0 = performance.now();
      const res = await browser.post(form.action, body);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`approve POST: HTTP ${res.status}`);
      const { result, at } = await withTimeout(call, CALL_TIMEOUT_MS + 5_000, "the retried callTool");
      if (result.isError || result.structuredContent?.provider !== "demo") {
        throw new Error(
          `the retried call did not return the provider's answer: ${JSON.stringify(result).slice(0, 300)}`,
        );
      }
      if (i >= warmup) retried.push(at - t0);
    }
  } finally {
    await connection?.client.close().catch(() => {});
  }
  return { retried: summarize(retried), settleMs: SETTLE_MS };
}
