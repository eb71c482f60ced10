// A third-party JSON API on 127.0.0.1 for the soak (declared as custom provider "acme"), with its
// faults on fixed paths so the soak decides which call meets which fault:
//   GET  /v1/items?soak=<id>   200, a small JSON list (a read)
//   POST /v1/items?soak=<id>   201, creates an item (a write)
//   GET  /v1/fail              500 with a JSON error body
//   GET  /v1/hang              never answers (until the client goes away)
//   GET  /v1/drip              200, then a JSON body in `dripChunks` pieces `dripMs` apart (it completes)
// Every request is counted by its `soak` marker, so a test can say how often one exact call
// reached the provider (exactly once for a one-call approval). Every answer carries a Set-Cookie
// whose value is a canary: it must never reach the assistant, a page or a log. Requests without
// the expected API key header are counted, never served. Nothing is recorded beyond counts.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { freePort } from "./util.mjs";

export const SOAK_API_KEY_HEADER = "X-Acme-Key";

/**
 * @typedef {object} SoakApi
 * @property {string} origin            `http://127.0.0.1:<port>`
 * @property {string} cookieCanary      the Set-Cookie value every answer carries
 * @property {(marker: string) => number} hits   requests that carried `?soak=<marker>`
 * @property {() => { served: number, unauthenticated: number, hanging: number, failed: number, dripped: number }} stats
 * @property {() => Promise<void>} close
 */

const ITEMS = [
  { id: 1, name: "anvil", price: 120 },
  { id: 2, name: "rocket skates", price: 450 },
];

/**
 * @param {{ dripMs?: number, dripChunks?: number }} [options]
 * @returns {Promise<SoakApi>}
 */
export async function startSoakApi({ dripMs = 150, dripChunks = 8 } = {}) {
  const port = await freePort();
  const cookieCanary = `canary-${randomBytes(18).toString("base64url")}`;
  /** @type {Map<string, number>} */
  const hits = new Map();
  /** @type {Set<import("node:http").ServerResponse>} */
  const hanging = new Set();
  /** @type {Set<NodeJS.Timeout>} */
  const timers = new Set();
  const stats = { served: 0, unauthenticated: 0, hanging: 0, failed: 0, dripped: 0 };
  let nextId = 100;

  const headers = (length) => ({
    "Content-Type": "application/json; charset=utf-8",
    ...(length === undefined ? {} : { "Content-Length": length }),
    "Set-Cookie": `acme_session=${cookieCanary}; HttpOnly`,
  });
  const json = (res, status, value) => {
    const body = JSON.stringify(value);
    res.writeHead(status, headers(Buffer.byteLength(body)));
    res.end(body);
  };

  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const marker = url.searchParams.get("soak");
      stats.served++;
      if (marker) hits.set(marker, (hits.get(marker) ?? 0) + 1);
      if (!req.headers[SOAK_API_KEY_HEADER.toLowerCase()]) {
        stats.unauthenticated++;
        return json(res, 401, { error: "missing_key" });
      }
      switch (`${req.method} ${url.pathname}`) {
        case "GET /v1/items":
          return json(res, 200, { items: ITEMS, soak: marker });
        case "POST /v1/items": {
          let parsed;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            return json(res, 400, { error: "invalid_json" });
          }
          return json(res, 201, { id: nextId++, ...parsed });
        }
        case "GET /v1/fail":
          stats.failed++;
          return json(res, 500, { error: "internal", message: "the provider failed (injected)" });
        case "GET /v1/hang":
          stats.hanging++;
          hanging.add(res);
          res.on("close", () => hanging.delete(res));
          return undefined;
        case "GET /v1/drip": {
          stats.dripped++;
          const body = Buffer.from(JSON.stringify({ items: ITEMS, dripped: true }));
          const size = Math.ceil(body.length / dripChunks);
          res.writeHead(200, headers(body.length));
          let sent = 0;
          const timer = setInterval(() => {
            res.write(body.subarray(sent, sent + size));
            sent += size;
            if (sent >= body.length) {
              clearInterval(timer);
              timers.delete(timer);
              res.end();
            }
          }, dripMs);
          timers.add(timer);
          res.on("close", () => {
            clearInterval(timer);
            timers.delete(timer);
          });
          return undefined;
        }
        default:
          return json(res, 404, { error: "not_found" });
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(undefined));
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    cookieCanary,
    hits: (marker) => hits.get(marker) ?? 0,
    stats: () => ({ ...stats }),
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}

/**
 * The CUSTOM_PROVIDERS value that declares this API as provider "acme" (loopback, dev only).
 * @param {SoakApi} api
 */
export function soakApiProviders(api) {
  return JSON.stringify([
    {
      id: "acme",
      name: "Acme API",
      base_url: `${api.origin}/v1/`,
      api_key_header: SOAK_API_KEY_HEADER,
      dev_loopback: true,
    },
  ]);
}
