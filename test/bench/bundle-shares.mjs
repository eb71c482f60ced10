// Benchmark part (a script, not a test; no thresholds): each package's share of the production
// bundle. Builds exactly what `npm run size` builds (wrangler deploy --dry-run --env="" --minify)
// into a temporary dir with wrangler's own --metafile and source map, then attributes the
// minified output to packages two ways: raw bytes from esbuild's metafile (`bytesInOutput`),
// and gzip bytes by cutting index.js into runs of characters per package with the source map
// and gzipping each package's runs alone. Gzipped alone, a package loses the back-references it
// would share with its neighbours, so the per-package gzip figures add up to a little more than
// the bundle's gzip; the share column divides by that sum so the shares add up to 100%. A package
// that another package's prebuilt dist inlines, more than once (the MCP SDK's core-internal is in
// both the client's and the server's dist), gets one row per copy, named after the dist it is in.
// Usage: node test/bench/bundle-shares.mjs [--files=N] [--markdown]
//   N: also list the N largest input files; --markdown: the tables as docs/performance.md has them
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { REPO_ROOT, WRANGLER_BIN, WRANGLER_ENV } from "../e2e/lib/fixture.mjs";
import { table } from "./stats.mjs";

const BUILD_TIMEOUT_MS = 120_000;
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * The package a path (relative to `base`) belongs to: `zod`, `@scope/name` (the innermost
 * node_modules, so code a package inlined from a dependency is charged to that dependency), or
 * `src/<folder>` for our own code.
 */
export function packageOf(path, base = REPO_ROOT) {
  const parts = path.split(/node_modules\//);
  if (parts.length > 1) {
    const tail = parts[parts.length - 1].split("/");
    return tail[0].startsWith("@") ? `${tail[0]}/${tail[1]}` : tail[0];
  }
  const local = relative(REPO_ROOT, resolve(base, path));
  if (local.startsWith("src/")) return `src/${local.split("/")[1].replace(/\.tsx?$/, "")}`;
  return `(other) ${local}`;
}

/** Decode one source-map "mappings" string into, per generated line, [column, sourceIndex] pairs. */
export function decodeMappings(mappings) {
  const lines = [];
  let source = 0;
  for (const line of mappings.split(";")) {
    const segments = [];
    let column = 0;
    for (const segment of line.split(",")) {
      if (segment === "") continue;
      const values = [];
      let value = 0;
      let shift = 0;
      for (const ch of segment) {
        const digit = BASE64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += values[0];
      if (values.length > 1) source += values[1];
      // A 1-value segment maps to no source (generated code): charge it to the previous source.
      segments.push([column, values.length > 1 ? source : -1]);
    }
    lines.push(segments);
  }
  return lines;
}

/** Split the generated code into per-package strings using the source map. */
function slicesByPackage(code, map, base, keyOf = packageOf) {
  const packages = map.sources.map((source, index) => keyOf(source, base, index));
  const byPackage = new Map();
  const add = (name, text) => byPackage.set(name, (byPackage.get(name) ?? "") + text);
  const lines = code.split("\n");
  const decoded = decodeMappings(map.mappings);
  let current = "(unmapped)";
  lines.forEach((line, index) => {
    const segments = decoded[index] ?? [];
    let start = 0;
    for (const [column, source] of segments) {
      if (column > start) add(current, line.slice(start, column));
      if (source >= 0) current = packages[source];
      start = Math.max(start, column);
    }
    add(current, `${line.slice(start)}\n`);
  });
  return byPackage;
}

/** Build the bundle as `npm run size` does and return its code, source map and metafile. */
export async function buildWithMetafile() {
  const outdir = await mkdtemp(join(tmpdir(), "countersign-shares-"));
  try {
    const metafile = join(outdir, "meta.json");
    await promisify(execFile)(
      process.execPath,
      [WRANGLER_BIN, "deploy", "--dry-run", "--env=", "--minify", "--outdir", outdir, "--metafile", metafile],
      { cwd: REPO_ROOT, env: { ...process.env, ...WRANGLER_ENV }, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 << 20 },
    );
    const [code, map, meta] = await Promise.all([
      readFile(join(outdir, "index.js"), "utf8"),
      readFile(join(outdir, "index.js.map"), "utf8").then(JSON.parse),
      readFile(metafile, "utf8").then(JSON.parse),
    ]);
    return { code, map, meta, outdir };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

const HOSTS = /^@modelcontextprotocol\/(client|server)$/;

/**
 * A key function for slicesByPackage: packageOf, except that a package esbuild never read (it is
 * inlined in another package's dist) and found in more than one dist is named per copy,
 * `<package> (in <dist's package>)`. The dist a source came from is the last MCP SDK package seen
 * before it in the map's sources: esbuild lists each input's own sources together, after it.
 */
function copyKeys(sources, base, read) {
  const names = sources.map((source) => packageOf(source, base));
  let host = "";
  const hosts = names.map((name) => {
    if (HOSTS.test(name)) host = name;
    return host;
  });
  const hostsOf = new Map();
  names.forEach((name, index) => {
    if (read.has(name) || !hosts[index]) return;
    hostsOf.set(name, (hostsOf.get(name) ?? new Set()).add(hosts[index]));
  });
  return (_source, _base, index) =>
    (hostsOf.get(names[index])?.size ?? 0) > 1 ? `${names[index]} (in ${hosts[index]})` : names[index];
}

/**
 * Per package of the original sources (source map): raw and gzip-alone bytes, biggest gzip first.
 * Per package as esbuild read it (metafile `bytesInOutput`): raw bytes, which differ where a
 * package ships a prebuilt dist with its dependencies inlined. And each input file's raw bytes.
 */
export async function measureShares() {
  const { code, map, meta, outdir } = await buildWithMetafile();
  const output = Object.values(meta.outputs).find((o) => Object.keys(o.inputs).length > 0);
  const read = new Map();
  const files = [];
  for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = packageOf(path);
    read.set(name, (read.get(name) ?? 0) + bytesInOutput);
    files.push({
      path: relative(REPO_ROOT, resolve(REPO_ROOT, path)).replace(/^.*node_modules\//, ""),
      bytes: bytesInOutput,
    });
  }
  const slices = slicesByPackage(code, map, outdir, copyKeys(map.sources, outdir, read));
  const rows = [...new Set([...read.keys(), ...slices.keys()])].map((name) => ({
    name,
    raw: slices.has(name) ? Buffer.byteLength(slices.get(name)) : 0,
    gzip: slices.has(name) ? gzipSync(slices.get(name)).length : 0,
    read: read.get(name) ?? 0,
  }));
  rows.sort((a, b) => b.gzip - a.gzip || b.read - a.read);
  const total = { raw: Buffer.byteLength(code), gzip: gzipSync(code).length };
  // All of src/ gzipped together, as it compresses in the bundle (the per-folder rows are apart).
  const ourText = [...slices]
    .filter(([name]) => name.startsWith("src/"))
    .map(([, text]) => text)
    .join("");
  const ours = { raw: Buffer.byteLength(ourText), gzip: gzipSync(ourText).length };
  // Per original source file, for the parts worth naming (a package's locales, its OAuth client).
  const bySource = slicesByPackage(code, map, outdir, (source) =>
    relative(REPO_ROOT, resolve(outdir, source)).replace(/^.*node_modules\//, ""),
  );
  const sources = [...bySource].map(([path, text]) => ({
    path,
    raw: Buffer.byteLength(text),
    gzip: gzipSync(text).length,
  }));
  sources.sort((a, b) => b.raw - a.raw);
  files.sort((a, b) => b.bytes - a.bytes);
  return { rows, total, files, ours, sources };
}

/** Render rows (the first is the header) as a Markdown table, numbers right-aligned. */
function markdown(rows) {
  const numeric = rows[0].map((_, col) => rows.slice(1).every((row) => row[col] === "" || /^[\d.]/.test(row[col])));
  const widths = rows[0].map((_, col) => Math.max(3, ...rows.map((row) => String(row[col]).length)));
  const line = (row) =>
    `| ${row.map((cell, col) => (numeric[col] ? String(cell).padStart(widths[col]) : String(cell).padEnd(widths[col]))).join(" | ")} |`;
  const rule = widths.map((w, col) => (numeric[col] ? `${"-".repeat(w - 1)}:` : "-".repeat(w)));
  return [line(rows[0]), `| ${rule.join(" | ")} |`, ...rows.slice(1).map(line)].join("\n");
}

async function main() {
  const filesArg = process.argv.find((a) => a.startsWith("--files="));
  const topFiles = filesArg ? Number(filesArg.split("=")[1]) : 0;
  const render = process.argv.includes("--markdown") ? markdown : table;
  const code = (text) => (render === markdown ? `\`${text}\`` : text);
  const { rows, total, files, ours, sources } = await measureShares();
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
  const gzipSum = rows.reduce((sum, row) => sum + row.gzip, 0);
  console.log(
    render([
      ["package (original source)", "raw", "gzip alone", "share of gzip", "raw as read (metafile)"],
      ...rows.map((row) => [
        code(row.name),
        kib(row.raw),
        kib(row.gzip),
        `${((row.gzip / gzipSum) * 100).toFixed(1)}%`,
        kib(row.read),
      ]),
      ["(sum of the rows)", kib(rows.reduce((s, r) => s + r.raw, 0)), kib(gzipSum), "100%", ""],
      ["index.js as built", kib(total.raw), kib(total.gzip), "", ""],
      ["src/ (all folders, gzipped together)", kib(ours.raw), kib(ours.gzip), "", ""],
    ]),
  );
  const group = (label, test) => {
    const picked = sources.filter((s) => test(s.path));
    return [
      label,
      String(picked.length),
      kib(picked.reduce((sum, s) => sum + s.raw, 0)),
      kib(picked.reduce((sum, s) => sum + s.gzip, 0)),
    ];
  };
  console.log();
  console.log(
    render([
      ["part (original sources, every copy)", "files", "raw", "gzip alone (sum of files)"],
      group("zod/v4/locales/* (every locale)", (p) => p.startsWith("zod/v4/locales/")),
      group("zod JSON Schema (to-json-schema, json-schema-*, from-json-schema)", (p) =>
        /^zod\/.*(json-schema)/.test(p),
      ),
      group("@modelcontextprotocol/client src/client/auth*", (p) =>
        /^@modelcontextprotocol\/client\/src\/client\/auth/.test(p),
      ),
      group("@modelcontextprotocol/client src/client/sse*", (p) =>
        /^@modelcontextprotocol\/client\/src\/client\/sse/.test(p),
      ),
      group("@cfworker/json-schema (inlined by the MCP SDK)", (p) => p.includes("@cfworker/json-schema/")),
      group("graphql/language/*", (p) => p.startsWith("graphql/")),
      group("src/web/icons.ts", (p) => p.endsWith("src/web/icons.ts")),
    ]),
  );
  if (topFiles > 0) {
    console.log();
    console.log(
      render([["input file (metafile)", "raw"], ...files.slice(0, topFiles).map((f) => [code(f.path), kib(f.bytes)])]),
    );
    console.log();
    console.log(
      render([
        ["original source (source map, copies together)", "raw", "gzip alone"],
        ...sources.slice(0, topFiles).map((s) => [code(s.path), kib(s.raw), kib(s.gzip)]),
      ]),
    );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await main();
}
