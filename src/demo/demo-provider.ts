/**
 * The built-in demo provider, only in dev mode (`npm run dev`): a tiny notes API served by this
 * Worker under PUBLIC_URL/demo-api/, behind an API key the /connections page shows. It lets a
 * newcomer try the whole loop with no accounts: connect → request → approve → call → /activity.
 * It is an ordinary loopback dev provider: calls to it go through the same pipeline as any other.
 */
import { mac } from "../lib/crypto";
import { restClassify } from "../providers/classify";
import type { ProviderDefinition } from "../providers/types";

export const DEMO_PROVIDER_ID = "demo";
export const DEMO_KEY_HEADER = "x-demo-key";

/** The demo API key: derived from COOKIE_SECRET, stable for a dev setup, never a real credential. */
export const demoApiKey = (config: { cookieSecret: string }) => mac(config.cookieSecret, "demo-api-key", "demo");

/** What the demo API's calls do, in words for the approval page. */
const DEMO_OPERATIONS = [
  { method: "GET", path: "/demo-api/notes", words: "list the notes in Demo notes" },
  { method: "GET", path: "/demo-api/notes/{id}", words: "read the note {id} in Demo notes" },
  { method: "POST", path: "/demo-api/notes", words: "create a note in Demo notes" },
  { method: "DELETE", path: "/demo-api/notes/{id}", words: "delete the note {id} in Demo notes" },
  { method: "POST", path: "/demo-api/search", words: "search the notes in Demo notes" },
];

/** The demo provider for this configuration (dev mode only; callers check). */
export function demoProvider(config: { publicHost: string; publicOrigin: string }): ProviderDefinition {
  return {
    id: DEMO_PROVIDER_ID,
    name: "Demo notes (built in)",
    hosts: [config.publicHost],
    pathPrefixes: ["/demo-api/"],
    origin: config.publicOrigin,
    auth: { kind: "api_key", header: "X-Demo-Key", prefix: "", hint: "The key is shown on the connections page." },
    credentialHeaders: (token) => ({ [DEMO_KEY_HEADER]: token }),
    reservedHeaders: [DEMO_KEY_HEADER],
    hints:
      `Demo notes API at ${config.publicOrigin}/demo-api/: GET /demo-api/notes lists notes, GET /demo-api/notes/<id> reads one, ` +
      "POST /demo-api/notes with JSON {title, text} creates one (write), DELETE /demo-api/notes/<id> deletes (write), " +
      "POST /demo-api/search with JSON {query} searches (read).",
    classify: (request) => restClassify(request, [{ path: "/demo-api/search" }]),
    operations: DEMO_OPERATIONS,
    allowLoopback: true,
  };
}
