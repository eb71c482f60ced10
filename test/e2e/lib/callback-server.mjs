// A stand-in for an MCP client's loopback redirect_uri: a tiny HTTP server on 127.0.0.1 that
// records every /callback query and lets a test wait (bounded) for the one carrying its state.
import { createServer } from "node:http";
import { freePort, withTimeout } from "./util.mjs";

/**
 * @typedef {object} CallbackServer
 * @property {string} redirectUri                      `http://localhost:<port>/callback`
 * @property {(state: string, ms?: number) => Promise<URLSearchParams>} waitFor
 * @property {URLSearchParams[]} received
 * @property {() => Promise<void>} close
 */

/** @returns {Promise<CallbackServer>} */
export async function startCallbackServer() {
  const port = await freePort();
  /** @type {URLSearchParams[]} */
  const received = [];
  /** @type {Map<string, (params: URLSearchParams) => void>} */
  const waiters = new Map();

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://localhost:${port}`);
    if (url.pathname !== "/callback") {
      res.writeHead(404).end();
      return;
    }
    received.push(url.searchParams);
    waiters.get(url.searchParams.get("state") ?? "")?.(url.searchParams);
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Client callback</title><h1>Back in the client</h1>");
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(undefined));
  });

  return {
    redirectUri: `http://localhost:${port}/callback`,
    received,
    waitFor(state, ms = 20_000) {
      const already = received.find((params) => params.get("state") === state);
      if (already) return Promise.resolve(already);
      const arrived = new Promise((resolve) => waiters.set(state, resolve));
      return withTimeout(arrived, ms, `callback with state ${state}`).finally(() => waiters.delete(state));
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
