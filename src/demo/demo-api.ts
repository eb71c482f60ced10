/**
 * The demo notes API itself, served at /demo-api/* in dev mode only. Notes live in this isolate's
 * memory (a demo, not storage) and the API checks the X-Demo-Key header like a real API would.
 */
import { Hono } from "hono/tiny";
import { timingSafeEqual } from "../lib/crypto";
import type { WebEnv } from "../web/context";
import { demoApiKey } from "./demo-provider";

interface Note {
  id: string;
  title: string;
  text: string;
  created_at: string;
}

const notes = new Map<string, Note>([
  [
    "n1",
    { id: "n1", title: "Welcome", text: "This note lives in the demo API.", created_at: "2026-01-01T00:00:00.000Z" },
  ],
  ["n2", { id: "n2", title: "Groceries", text: "Milk, bread, coffee.", created_at: "2026-01-02T00:00:00.000Z" }],
]);
let nextId = 3;

export const demoApi = new Hono<WebEnv>();

demoApi.use("/demo-api/*", async (c, next) => {
  const config = c.get("config");
  if (config.signIn.kind !== "dev") return c.notFound();
  const key = c.req.header("X-Demo-Key") ?? "";
  if (!key || !timingSafeEqual(key, await demoApiKey(config))) return c.json({ error: "unauthorized" }, 401);
  await next();
  return undefined;
});

demoApi.get("/demo-api/notes", (c) => c.json({ notes: [...notes.values()] }));

demoApi.get("/demo-api/notes/:id", (c) => {
  const note = notes.get(c.req.param("id"));
  return note ? c.json(note) : c.json({ error: "not_found" }, 404);
});

demoApi.post("/demo-api/notes", async (c) => {
  const body = (await c.req.json().catch(() => null)) as { title?: unknown; text?: unknown } | null;
  if (!body || typeof body.title !== "string" || typeof body.text !== "string") {
    return c.json({ error: "invalid_request", message: 'expected {"title": string, "text": string}' }, 400);
  }
  const note: Note = { id: `n${nextId++}`, title: body.title, text: body.text, created_at: new Date().toISOString() };
  notes.set(note.id, note);
  return c.json(note, 201);
});

demoApi.delete("/demo-api/notes/:id", (c) =>
  notes.delete(c.req.param("id")) ? c.body(null, 204) : c.json({ error: "not_found" }, 404),
);

demoApi.post("/demo-api/search", async (c) => {
  const body = (await c.req.json().catch(() => null)) as { query?: unknown } | null;
  const query = typeof body?.query === "string" ? body.query.toLowerCase() : "";
  const found = [...notes.values()].filter((note) => `${note.title} ${note.text}`.toLowerCase().includes(query));
  return c.json({ notes: found });
});
