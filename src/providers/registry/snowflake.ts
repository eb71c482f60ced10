/**
 * Snowflake: the SQL API on each account's own host (`<account>.snowflakecomputing.com`), so
 * hosts match by suffix. POST /api/v2/statements is classified from its SQL text (see sql.ts);
 * other endpoints by method. Programmatic access tokens, pasted by the person. Data only, no I/O.
 */
import { hasMethodOverride, outsidePrefixes, read, restClassify, routedPath, write } from "../classify";
import { classifySql } from "../sql";
import { hasCaseVariantKey, isJsonObject, parseJsonStrict } from "../strict-json";
import type { Classification, ProviderDefinition, ProviderRequest } from "../types";

const PATH_PREFIXES = ["/api/v2/"];
const STATEMENTS = "/api/v2/statements";

function classifyStatement(request: ProviderRequest): Classification {
  if (hasMethodOverride(request)) return write("Snowflake SQL statement (method override)");
  const parsed = parseJsonStrict(request.body);
  if (!parsed.ok || !isJsonObject(parsed.value)) return write("Snowflake SQL statement (body is not a JSON object)");
  if (hasCaseVariantKey(Object.keys(parsed.value), ["statement"])) {
    return write('Snowflake SQL statement (a case variant of "statement")');
  }
  const statement = parsed.value.statement;
  if (typeof statement !== "string") return write("Snowflake SQL statement (missing statement)");
  const verdict = classifySql(statement);
  return verdict.read
    ? read(`Snowflake SQL ${[...new Set(verdict.verbs)].join(", ")}`)
    : write(`Snowflake SQL (${verdict.reason})`);
}

export const SNOWFLAKE: ProviderDefinition = {
  id: "snowflake",
  name: "Snowflake",
  hosts: [],
  hostSuffixes: [".snowflakecomputing.com"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "api_key",
    header: "Authorization",
    prefix: "Bearer ",
    hint: "Create a programmatic access token in Snowsight under your user menu → Settings → Authentication → Programmatic access tokens (or ALTER USER … ADD PROGRAMMATIC ACCESS TOKEN), restricted to a read-only role where you can.",
  },
  credentialHeaders: (token) => ({
    authorization: `Bearer ${token}`,
    "x-snowflake-authorization-token-type": "PROGRAMMATIC_ACCESS_TOKEN",
  }),
  reservedHeaders: ["authorization", "x-snowflake-authorization-token-type"],
  hints: [
    "Snowflake SQL API on the account's host, e.g. https://myorg-myaccount.snowflakecomputing.com.",
    'POST /api/v2/statements with {"statement": "SELECT ...", "timeout": 60, "warehouse": "...", "database": "...",',
    '"schema": "...", "role": "..."} and Content-Type: application/json, Accept: application/json.',
    "Only SELECT, SHOW, DESCRIBE, EXPLAIN and WITH … SELECT statements count as reads; anything else",
    "(DML, DDL, CALL, USE, SET, SYSTEM$ functions, several statements with a write) is a write.",
    "A 202 answer means still running: poll GET /api/v2/statements/{statementHandle};",
    "large results come in partitions: GET /api/v2/statements/{statementHandle}?partition=1.",
  ].join(" "),
  classify(request) {
    const outside = outsidePrefixes(request, PATH_PREFIXES);
    if (outside) return outside;
    if (request.method === "POST" && routedPath(request) === STATEMENTS) return classifyStatement(request);
    return restClassify(request);
  },
  allowLoopback: false,
};
