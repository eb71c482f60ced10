// A tiny third-party JSON API on 127.0.0.1 for the custom-provider tests and the call benchmark:
// it records every request (method, path, headers, body) so a test can say exactly what reached
// the provider, and serves a few endpoints:
//   GET  /v1/items   a small JSON list (read)
//   POST /v1/items   creates an item from the JSON body (write), 201
//   POST /v1/search  JSON search (declared a read in CUSTOM_PROVIDERS)
//   GET  /v1/slow    200, then one byte every `dripMs` forever (until the client goes away)
//   GET  /v1/big     3 MiB of JSON
//   GET  /v1/moved   302 to /v1/items (a redirect must come back, not be followed)
import { createServer } from "node:http";
import { freePort } from "./util.mjs";

export const BIG_BYTES = 3 * 1024 * 1024;

/**
 * @typedef {object} RecordedRequest
 * @property {string} method
 * @property {string} path      path and query as received
 * @property {Record<string, string | string[] | undefined>} headers  lower-case names
 * @property {string} body
 * @property {number} at
 */

/**
 * @typedef {object} FakeApi
 * @property {number} port
 * @property {string} origin    `http://127.0.0.1:<port>`
 * @property {RecordedRequest[]} requests   empty when started with record: false
 * @property {() => number} served          requests answered so far (recorded or not)
 * @property {() => number} openDrips   /v1/slow responses still being written
 * @property {() => Promise<void>} close
 */

const ITEMS = [
  { id: 1, name: "anvil", price: 120 },
  { id: 2, name: "rocket skates", price: 450 },
];

/**
 * @param {{ dripMs?: number, record?: boolean }} [options]  record: false keeps nothing (benchmark)
 * @returns {Promise<FakeApi>}
 */
export async function startFakeApi({ dripMs = 200, record = true } = {}) {
  const port = await freePort();
  /** @type {RecordedRequest[]} */
  const requests = [];
  /** @type {Set<NodeJS.Timeout>} */
  const drips = new Set();
  let nextId = 100;
  let served = 0;
  const big = Buffer.from(JSON.stringify({ blob: "x".repeat(BIG_BYTES - 12) }));

  const json = (res, status, value) => {
    const body = JSON.stringify(value);
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(body),
      "Set-Cookie": "acme_session=should-never-reach-the-assistant; HttpOnly",
      "X-Request-Id": `acme-${requests.length}`,
    });
    res.end(body);
  };

  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const path = req.url ?? "/";
      served++;
      if (record) requests.push({ method: req.method ?? "", path, headers: { ...req.headers }, body, at: Date.now() });
      const route = `${req.method} ${new URL(path, "http://x").pathname}`;
      switch (route) {
        case "GET /v1/items":
          return json(res, 200, { items: ITEMS });
        case "POST /v1/items": {
          let parsed;
          try {
            parsed = JSON.parse(body);
          } catch {
            return json(res, 400, { error: "invalid_json" });
          }
          return json(res, 201, { id: nextId++, ...parsed });
        }
        case "POST /v1/search": {
          const query = (() => {
            try {
              return String(JSON.parse(body).query ?? "");
            } catch {
              return "";
            }
          })();
          return json(res, 200, { query, results: ITEMS.filter((item) => item.name.includes(query)) });
        }
        case "GET /v1/slow": {
          res.writeHead(200, { "Content-Type": "text/plain" });
          res.write(".");
          const timer = setInterval(() => res.write("."), dripMs);
          drips.add(timer);
          const stop = () => {
            clearInterval(timer);
            drips.delete(timer);
          };
          res.on("close", stop);
          res.on("error", stop);
          return undefined;
        }
        case "GET /v1/moved":
          res.writeHead(302, { Location: "/v1/items", "Content-Length": 0 });
          return res.end();
        case "GET /v1/big":
          res.writeHead(200, { "Content-Type": "application/json", "Content-Length": big.length });
          return res.end(big);
        default:
          return json(res, 404, { error: "not_found", route });
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(undefined));
  });
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    requests,
    served: () => served,
    openDrips: () => drips.size,
    close: async () => {
      for (const timer of drips) clearInterval(timer);
      drips.clear();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}

/**
 * The CUSTOM_PROVIDERS value that declares this API as provider "acme" (loopback, dev only).
 * @param {FakeApi} api
 */
export function acmeProviders(api) {
  return JSON.stringify([
    {
      id: "acme",
      name: "Acme API",
      base_url: `${api.origin}/v1/`,
      api_key_header: "X-Acme-Key",
      reads: [{ method: "POST", path: "/v1/search" }],
      dev_loopback: true,
    },
  ]);
}
