/**
 * Nothing judged a read may write on an API that routes leniently. Each spelling goes through
 * prepareCall (canonicalise, own, classify) and, when allowed, sendCall to a fake API at the fetch
 * boundary that routes as the loosest servers do: it decodes %XX until nothing changes, treats
 * `\` as `/`, drops `;params`, folds NFKC and case, collapses `//` and resolves `..`. The fake
 * records what it would have written; the table asserts the verdict, that no read wrote, and that
 * the path sent is the path judged.
 */
import { describe, expect, it } from "vitest";
import { sendCall } from "../../../src/calls/outbound";
import { prepareCall } from "../../../src/calls/prepare";
import { parseCustomProviders } from "../../../src/providers/custom";
import { createRegistry } from "../../../src/providers/registry";

const ACME = "https://api.acme.example";
const custom = parseCustomProviders(
  JSON.stringify([
    {
      id: "acme",
      name: "Acme",
      base_url: `${ACME}/api`,
      api_key_header: "X-Api-Key",
      reads: [
        { method: "POST", path: "/api/reports/*" },
        { method: "POST", path: "/api/search" },
      ],
    },
  ]),
  { allowLoopback: false },
);
if (!custom.ok) throw new Error(custom.error.message);
const registry = createRegistry(custom.value);

/** The path a lenient server routes: every layer of decoding, every separator it accepts. */
function lenientRoute(rawPath: string): string {
  let path = rawPath;
  for (let i = 0; i < 5; i++) {
    let next: string;
    try {
      next = decodeURIComponent(path);
    } catch {
      next = path.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    }
    if (next === path) break;
    path = next;
  }
  path = path.normalize("NFKC").replaceAll("\\", "/").toLowerCase();
  // A C string ends at NUL.
  if (path.includes("\0")) path = path.slice(0, path.indexOf("\0"));
  const out: string[] = [];
  for (const raw of path.split("/")) {
    const segment = raw.split(";")[0] ?? "";
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return `/${out.join("/")}`;
}

/** Whether the lenient Acme API would change something for this routed call. */
function acmeWrites(method: string, routed: string): boolean {
  if (method === "GET" || method === "HEAD") return false;
  if (method === "POST" && (routed.startsWith("/api/reports/") || routed === "/api/search")) return false;
  return true;
}

/** Whether lenient GitHub would change something: REST by method, GraphQL by operation. */
function githubWrites(method: string, routed: string, url: URL, body: string): boolean {
  if (routed === "/graphql") {
    const query = method === "GET" ? (url.searchParams.get("query") ?? "") : body;
    return /mutation/i.test(query);
  }
  return method !== "GET" && method !== "HEAD" && routed !== "/markdown";
}

type Expected = "read" | "write" | "ambiguous_path" | "unknown_provider";

async function run(method: string, url: string, body = "") {
  const prepared = await prepareCall({ method, url, body }, registry);
  const sent: { url: URL; body: string; writes: boolean }[] = [];
  let verdict: string;
  if (!prepared.ok) {
    verdict = prepared.error.code === "invalid_request" ? prepared.error.reason : prepared.error.code;
  } else {
    verdict = prepared.value.classified.access;
    const { canonical } = prepared.value;
    await sendCall(
      { url: canonical.url, method: canonical.method, headers: {}, body: canonical.body },
      async (request) => {
        const target = new URL(request.url);
        const text = await request.text();
        const routed = lenientRoute(target.pathname);
        const writes =
          target.origin === ACME
            ? acmeWrites(request.method, routed)
            : githubWrites(request.method, routed, target, text);
        sent.push({ url: target, body: text, writes });
        return Response.json({ ok: true });
      },
    );
    // The path sent is exactly the path the classifier judged.
    expect(sent.map((request) => request.url.href)).toEqual([canonical.url]);
  }
  return { verdict, sent };
}

const ESCAPES = [
  "..%2f",
  "..%2F",
  "%2e%2e/",
  "%2e%2e%2f",
  ".%2e/",
  "%2e./",
  "..;/",
  "..\\",
  "..%5c",
  "..%5C",
  "..%255c",
  "..%252f",
  "%252e%252e/",
  "..%c0%af",
  "..%ef%bc%8f",
  "%ef%bc%8e%ef%bc%8e/",
  "..%00/",
  "x/..%2f..%2f",
  "..%3b/",
];

describe("declared-read path rules against a lenient API", () => {
  const table: [string, string, Expected][] = [
    ...ESCAPES.map((spelling): [string, string, Expected] => [
      "POST",
      `${ACME}/api/reports/${spelling}items`,
      "ambiguous_path",
    ]),
    ["POST", `${ACME}/api/reports/../items`, "write"],
    ["POST", `${ACME}/api/reports/%2e%2e/items`, "ambiguous_path"],
    // WHATWG resolves these before anything is judged; the resolved path is judged and sent.
    ["POST", `${ACME}/api/reports/;/../items`, "read"],
    ["POST", `${ACME}/api/reports//../items`, "read"],
    ["POST", `${ACME}/api/reports/x/../../items`, "write"],
    ["POST", `${ACME}/api/reports/./../../api/items`, "write"],
    ["POST", `${ACME}/api/reports/weekly`, "read"],
    ["POST", `${ACME}/api/rep%6frts/weekly`, "read"],
    ["POST", `${ACME}/api/search`, "read"],
    ["POST", `${ACME}/api/search/`, "write"],
    ["POST", `${ACME}/api/Search`, "write"],
    ["POST", `${ACME}/api/REPORTS/x`, "write"],
    ["POST", `${ACME}/API/items`, "unknown_provider"],
    ["POST", `${ACME}/api/reports`, "write"],
    ["POST", `${ACME}/api/items`, "write"],
  ];
  it.each(table)("%s %s is %s and never writes as a read", async (method, url, expected) => {
    const { verdict, sent } = await run(method, url, "{}");
    expect(verdict).toBe(expected);
    if (expected === "read") expect(sent.map((request) => request.writes)).toEqual([false]);
    if (expected === "ambiguous_path" || expected === "unknown_provider") expect(sent).toEqual([]);
  });
});

describe("GitHub GraphQL against a lenient API", () => {
  const mutation = encodeURIComponent('mutation { addStar(input: {starrableId: "x"}) { clientMutationId } }');
  const table: [string, string, string, Expected][] = [
    ["GET", `https://api.github.com/graphql?query=${mutation}`, "", "write"],
    ["GET", `https://api.github.com/graphql/?query=${mutation}`, "", "write"],
    ["GET", `https://api.github.com/GraphQL?query=${mutation}`, "", "write"],
    ["GET", `https://api.github.com/GRAPHQL/?query=${mutation}`, "", "write"],
    ["GET", `https://api.github.com/graphq%6c?query=${mutation}`, "", "write"],
    ["GET", `https://api.github.com//graphql?query=${mutation}`, "", "ambiguous_path"],
    ["GET", `https://api.github.com/graphql;x?query=${mutation}`, "", "ambiguous_path"],
    ["GET", `https://api.github.com/x/..%2fgraphql?query=${mutation}`, "", "ambiguous_path"],
    ["GET", `https://api.github.com/graphql%2f?query=${mutation}`, "", "ambiguous_path"],
    ["GET", `https://api.github.com/graphql?query=${mutation}&Query=x`, "", "write"],
    ["GET", `https://api.github.com/graphql/?query=${encodeURIComponent("{ viewer { login } }")}`, "", "read"],
    ["POST", "https://api.github.com/graphql/", '{"query":"mutation { a }"}', "write"],
    ["POST", "https://api.github.com/graphql", '{"query":"{ a }","Query":"mutation { a }"}', "write"],
    ["POST", "https://api.github.com/graphql", '{"query":"{ a }","QUERY":"mutation { a }"}', "write"],
    ["POST", "https://api.github.com/graphql", '{"query":"{ a }","extensionS":{"persistedQuery":{}}}', "write"],
    ["POST", "https://api.github.com/graphql", '{"query":"{ a }","\\u0051uery":"mutation { a }"}', "write"],
    ["POST", "https://api.github.com/graphql", '{"query":"{ a }"}', "read"],
    ["GET", "https://api.github.com/repos/a/b", "", "read"],
  ];
  it.each(table)("%s %s (body %j) is %s and never writes as a read", async (method, url, body, expected) => {
    const { verdict, sent } = await run(method, url, body);
    expect(verdict).toBe(expected);
    if (expected === "read") expect(sent.map((request) => request.writes)).toEqual([false]);
    if (expected === "ambiguous_path") expect(sent).toEqual([]);
  });
});
