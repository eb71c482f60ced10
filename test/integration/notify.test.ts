/**
 * Reaching the person, through the Worker and the person's real Durable Object: the phone
 * subscribes on /activity, every new request is pushed (RFC 8291 encrypted, VAPID signed) by the
 * alarm after the request was answered, a 404/410 removes the device, other failures retry with
 * backoff, a decided request is never pushed late, the webhook is signed, and every bad input is
 * refused with its code and nothing stored. The push service and webhook receiver are fakes at
 * the fetch boundary.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { csrfToken } from "../../src/approvals/link";
import { loadConfig } from "../../src/config";
import { BACKOFF_MS } from "../../src/notify/notifier";
import { webhookSignature } from "../../src/notify/send";
import { MAX_DEVICES } from "../../src/notify/targets";
import { vapidPublicKey } from "../../src/notify/vapid";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, routeFetch, seenAt } from "../helpers/fetch-router";
import { askSession, decideOnPage, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";
import { checkVapid, decryptAes128gcm, newReceiverKeys, type ReceiverKeys } from "../helpers/web-push-receiver";

const PUSH = "https://push.example";
const HOOK = "https://hooks.example";

let idp: FakeIdp;
let pushStatus: number;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
  pushStatus = 201;
  routeFetch(PUSH, () => new Response(null, { status: pushStatus }));
  routeFetch(HOOK, () => new Response("ok", { status: 200 }));
});

async function person(label = "notify") {
  const client = await signedInClient(idp, `${label}-${crypto.randomUUID()}`, `${label}@example.com`);
  const whoami = (await tool(client.tokens.access_token, "whoami")).structured;
  const userId = whoami?.user.id as string;
  const config = loadConfig(env);
  if (!config.ok) throw new Error("config");
  const csrf = await csrfToken(config.value, userId, "activity");
  const stub = sessionFor(env.SESSION, userId);
  const rows = (query: string) =>
    runInDurableObject(stub, (_instance: UserSession, state) => state.storage.sql.exec(query).toArray());
  /** Run the alarm until nothing is due now (it may also have fired on its own already). */
  const deliver = async () => {
    for (let i = 0; i < 3; i++) await runDurableObjectAlarm(stub);
  };
  return { ...client, userId, csrf, stub, rows, deliver };
}

type Person = Awaited<ReturnType<typeof person>>;

function subscription(keys: ReceiverKeys, endpoint = `${PUSH}/send/${crypto.randomUUID()}`) {
  return JSON.stringify({ endpoint, expirationTime: null, keys: { p256dh: keys.p256dh, auth: keys.auth } });
}

async function subscribe(who: Person, name = "Ada's phone") {
  const keys = await newReceiverKeys();
  const endpoint = `${PUSH}/send/${crypto.randomUUID()}`;
  const response = await who.browser.post("/activity/devices", {
    csrf: who.csrf,
    name,
    subscription: subscription(keys, endpoint),
  });
  expect(response.status).toBe(303);
  return { keys, endpoint };
}

const pushesTo = (endpoint: string) => seenAt(PUSH).filter((request) => request.url === endpoint);

describe("push on every new request", () => {
  it("shows the subscribe form with the VAPID public key derived from the secret", async () => {
    const who = await person();
    const html = await (await who.browser.get("/activity")).text();
    expect(html).toContain('id="notify-form"');
    expect(html).toContain(`data-public-key="${await vapidPublicKey(env.VAPID_PRIVATE_KEY)}"`);
    expect(html).toContain('<script src="/assets/app.js" defer="">');
  });

  it("pushes a new request, encrypted for the device, naming the client, the ask and the link", async () => {
    const who = await person();
    const { keys, endpoint } = await subscribe(who);
    const asked = await askSession(who.tokens.access_token, {
      providers: ["github"],
      level: "read",
      duration_minutes: 15,
      reason: "triage the inbox",
    });
    await who.deliver();
    const [sent, ...more] = pushesTo(endpoint);
    expect(more).toEqual([]);
    expect(sent?.headers["content-encoding"]).toBe("aes128gcm");
    const vapid = await checkVapid(sent?.headers.authorization ?? null, PUSH, Math.floor(Date.now() / 1000));
    expect(vapid).toMatchObject({ ok: true, publicKey: await vapidPublicKey(env.VAPID_PRIVATE_KEY) });
    const message = JSON.parse(
      new TextDecoder().decode((await decryptAes128gcm(sent?.bytes as Uint8Array<ArrayBuffer>, keys)).plaintext),
    );
    expect(message).toMatchObject({
      type: "access_request",
      request_id: asked.request_id,
      client: "Test Client",
      asks: "read access to github",
      for: "15 min",
      reason: "triage the inbox",
      url: asked.approval_url,
    });
    const html = await (await who.browser.get("/activity")).text();
    expect(html).toContain("Ada&#39;s phone");
    expect(html).toMatch(/last delivery \d{4}-\d\d-\d\d [\d:]+\s*\(delivered\)/);
    expect(html).not.toContain(endpoint);
    expect(html).not.toContain(keys.auth);
    expect(await who.rows("SELECT * FROM deliveries")).toEqual([]);
  });

  it("does not push a request that coalesced into one already pending", async () => {
    const who = await person();
    const { endpoint } = await subscribe(who);
    const first = await askSession(who.tokens.access_token);
    await who.deliver();
    const again = await askSession(who.tokens.access_token, { reason: "again" });
    expect(again.request_id).toBe(first.request_id);
    await who.deliver();
    expect(pushesTo(endpoint)).toHaveLength(1);
  });

  it("pushes each capped request once: duplicates and requests over the pending cap push nothing", async () => {
    const who = await person();
    const { endpoint } = await subscribe(who);
    for (let i = 0; i < 20; i++) await askSession(who.tokens.access_token, { duration_minutes: i + 1 });
    // The same twenty again coalesce, and one more is over the cap: neither is announced.
    for (let i = 0; i < 20; i++) await askSession(who.tokens.access_token, { duration_minutes: i + 1 });
    const over = await tool(who.tokens.access_token, "request_elevated_access", {
      kind: "broad",
      providers: ["github"],
      duration_minutes: 30,
      reason: "one more",
    });
    expect(over.error?.code).toBe("rate_limited");
    await who.deliver();
    expect(pushesTo(endpoint)).toHaveLength(20);
    expect(await who.rows("SELECT * FROM deliveries")).toEqual([]);
  });

  it("answers the request although the push service fails, and retries it with backoff", async () => {
    const who = await person();
    const { endpoint } = await subscribe(who);
    pushStatus = 503;
    const asked = await askSession(who.tokens.access_token);
    expect(asked.request_id).toMatch(/^req_/);
    await who.deliver();
    expect(pushesTo(endpoint)).toHaveLength(1);
    const [owed] = (await who.rows("SELECT attempts, next_at FROM deliveries")) as {
      attempts: number;
      next_at: number;
    }[];
    expect(owed?.attempts).toBe(1);
    expect((owed?.next_at ?? 0) - Date.now()).toBeGreaterThan(BACKOFF_MS[0] - 5_000);
    const alarm = await runInDurableObject(who.stub, (_instance: UserSession, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    // The retry comes due: this time the push service takes it.
    pushStatus = 201;
    await who.rows("UPDATE deliveries SET next_at = 1");
    await who.deliver();
    expect(pushesTo(endpoint)).toHaveLength(2);
    expect(await who.rows("SELECT * FROM deliveries")).toEqual([]);
    expect(await who.rows("SELECT last_status FROM push_devices")).toEqual([{ last_status: "delivered" }]);
  });

  it("never pushes a request that was decided before its retry came due", async () => {
    const who = await person();
    const { endpoint } = await subscribe(who);
    pushStatus = 500;
    const asked = await askSession(who.tokens.access_token);
    await who.deliver();
    await decideOnPage(who.browser, asked.approval_url, "deny");
    pushStatus = 201;
    await who.rows("UPDATE deliveries SET next_at = 1");
    await who.deliver();
    expect(pushesTo(endpoint)).toHaveLength(1);
    expect(await who.rows("SELECT * FROM deliveries")).toEqual([]);
  });

  for (const status of [404, 410]) {
    it(`removes the device when the push service answers ${status}`, async () => {
      const who = await person();
      const { endpoint } = await subscribe(who);
      pushStatus = status;
      await askSession(who.tokens.access_token);
      await who.deliver();
      expect(pushesTo(endpoint)).toHaveLength(1);
      expect(await who.rows("SELECT * FROM push_devices")).toEqual([]);
      expect(await who.rows("SELECT * FROM deliveries")).toEqual([]);
      const audit = await who.rows("SELECT event, actor FROM audit WHERE event LIKE 'device_%' ORDER BY seq");
      expect(audit).toEqual([
        { event: "device_added", actor: "human" },
        { event: "device_removed", actor: "system" },
      ]);
      // The next request finds no device and sends nothing.
      await askSession(who.tokens.access_token, { providers: ["linear"] });
      await who.deliver();
      expect(pushesTo(endpoint)).toHaveLength(1);
    });
  }

  it("gives up at once on a 403 (a VAPID refusal will not pass by retrying)", async () => {
    const who = await person();
    await subscribe(who);
    pushStatus = 403;
    await askSession(who.tokens.access_token);
    await who.deliver();
    expect(await who.rows("SELECT * FROM deliveries")).toEqual([]);
    expect(await who.rows("SELECT last_status FROM push_devices")).toEqual([{ last_status: "failed: status 403" }]);
    const html = await (await who.browser.get("/activity")).text();
    expect(html).toContain("refuses this server&#39;s key");
  });

  it("refreshes a known endpoint instead of adding it twice, and caps devices at ten", async () => {
    const who = await person();
    const keys = await newReceiverKeys();
    const endpoint = `${PUSH}/send/same`;
    for (const name of ["Phone", "Phone (renamed)"]) {
      await who.browser.post("/activity/devices", { csrf: who.csrf, name, subscription: subscription(keys, endpoint) });
    }
    expect(await who.rows("SELECT name FROM push_devices")).toEqual([{ name: "Phone (renamed)" }]);
    for (let i = 1; i < MAX_DEVICES; i++) await subscribe(who, `Device ${i}`);
    const over = await who.browser.post("/activity/devices", {
      csrf: who.csrf,
      name: "One too many",
      subscription: subscription(await newReceiverKeys()),
    });
    expect(over.status).toBe(409);
    expect(await over.text()).toContain("too_many_devices");
    expect(await who.rows("SELECT COUNT(*) AS n FROM push_devices")).toEqual([{ n: MAX_DEVICES }]);
  });

  it("removes a device on the person's Remove, and not on another person's", async () => {
    const ada = await person("ada");
    const bob = await person("bob");
    await subscribe(ada);
    const [{ id }] = (await ada.rows("SELECT id FROM push_devices")) as { id: string }[] as [{ id: string }];
    const foreign = await bob.browser.post(`/activity/devices/${id}/remove`, { csrf: bob.csrf });
    expect(foreign.status).toBe(404);
    expect(await foreign.text()).toContain("not_found");
    expect(await ada.rows("SELECT COUNT(*) AS n FROM push_devices")).toEqual([{ n: 1 }]);
    expect((await ada.browser.post(`/activity/devices/${id}/remove`, { csrf: ada.csrf })).status).toBe(303);
    expect(await ada.rows("SELECT COUNT(*) AS n FROM push_devices")).toEqual([{ n: 0 }]);
  });

  it("forgets every device and webhook when the person deletes their data", async () => {
    const who = await person();
    await subscribe(who);
    await who.browser.post("/activity/webhook", { csrf: who.csrf, url: `${HOOK}/in` });
    await askSession(who.tokens.access_token);
    await who.browser.post("/activity/delete", { csrf: who.csrf, confirm: "yes" });
    for (const table of ["push_devices", "webhook", "deliveries"]) {
      expect(await who.rows(`SELECT * FROM ${table}`)).toEqual([]);
    }
  });
});

describe("refused settings store nothing", () => {
  const good = async () => ({ keys: await newReceiverKeys() });
  const cases: [string, (keys: ReceiverKeys) => Record<string, string>, string][] = [
    ["an http endpoint", (k) => ({ subscription: subscription(k, "http://push.example/x") }), "endpoint_not_allowed"],
    ["a private endpoint", (k) => ({ subscription: subscription(k, "https://10.0.0.7/x") }), "endpoint_not_allowed"],
    [
      "a metadata endpoint",
      (k) => ({ subscription: subscription(k, "https://169.254.169.254/x") }),
      "endpoint_not_allowed",
    ],
    ["a loopback endpoint", (k) => ({ subscription: subscription(k, "https://127.0.0.1/x") }), "endpoint_not_allowed"],
    [
      "userinfo in the endpoint",
      (k) => ({ subscription: subscription(k, "https://a:b@push.example/x") }),
      "endpoint_not_allowed",
    ],
    ["a fragment", (k) => ({ subscription: subscription(k, "https://push.example/x#y") }), "endpoint_not_allowed"],
    [
      "a bidi mark in the endpoint",
      (k) => ({ subscription: subscription(k, "https://push.example/\u202ex") }),
      "endpoint_not_allowed",
    ],
    [
      "an endpoint over 1024 characters",
      (k) => ({ subscription: subscription(k, `${PUSH}/${"a".repeat(1100)}`) }),
      "endpoint_not_allowed",
    ],
    [
      "a compressed p256dh",
      (k) => ({
        subscription: JSON.stringify({
          endpoint: `${PUSH}/x`,
          keys: { p256dh: `A${k.p256dh.slice(1)}`, auth: k.auth },
        }),
      }),
      "subscription_invalid",
    ],
    [
      "a short p256dh",
      (k) => ({
        subscription: JSON.stringify({ endpoint: `${PUSH}/x`, keys: { p256dh: k.p256dh.slice(0, 80), auth: k.auth } }),
      }),
      "subscription_invalid",
    ],
    [
      "a 15-byte auth secret",
      (k) => ({
        subscription: JSON.stringify({
          endpoint: `${PUSH}/x`,
          keys: { p256dh: k.p256dh, auth: "AAAAAAAAAAAAAAAAAAAA" },
        }),
      }),
      "subscription_invalid",
    ],
    ["no keys", () => ({ subscription: JSON.stringify({ endpoint: `${PUSH}/x` }) }), "subscription_invalid"],
    ["not JSON", () => ({ subscription: "{endpoint:" }), "subscription_invalid"],
    ["an empty subscription", () => ({ subscription: "" }), "subscription_invalid"],
    ["an empty name", (k) => ({ subscription: subscription(k), name: "  " }), "device_name_invalid"],
    ["a 61-character name", (k) => ({ subscription: subscription(k), name: "n".repeat(61) }), "device_name_invalid"],
    [
      "a control character in the name",
      (k) => ({ subscription: subscription(k), name: "Phone\u0007" }),
      "device_name_invalid",
    ],
    ["a bidi mark in the name", (k) => ({ subscription: subscription(k), name: "enohp\u202e" }), "device_name_invalid"],
  ];
  for (const [label, form, code] of cases) {
    it(`refuses ${label} with ${code}`, async () => {
      const who = await person();
      const { keys } = await good();
      const response = await who.browser.post("/activity/devices", { csrf: who.csrf, name: "Phone", ...form(keys) });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain(code);
      expect(await who.rows("SELECT * FROM push_devices")).toEqual([]);
      expect(await who.rows("SELECT * FROM audit WHERE event LIKE 'device_%'")).toEqual([]);
    });
  }

  for (const url of [
    "http://hooks.example/in",
    "https://192.168.1.1/in",
    "https://hooks.example/in#x",
    "ftp://hooks.example/",
    "",
  ]) {
    it(`refuses the webhook URL ${JSON.stringify(url)} with webhook_url_invalid`, async () => {
      const who = await person();
      const response = await who.browser.post("/activity/webhook", { csrf: who.csrf, url });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain("webhook_url_invalid");
      expect(await who.rows("SELECT * FROM webhook")).toEqual([]);
    });
  }

  it("refuses every settings form without the page's CSRF token, or from another site", async () => {
    const who = await person();
    const keys = await newReceiverKeys();
    const forms: [string, Record<string, string>][] = [
      ["/activity/devices", { name: "Phone", subscription: subscription(keys) }],
      ["/activity/webhook", { url: `${HOOK}/in` }],
    ];
    for (const [path, form] of forms) {
      const missing = await who.browser.post(path, form);
      expect(missing.status).toBe(403);
      expect(await missing.text()).toContain("csrf_invalid");
      const other = await person("other");
      const foreignToken = await who.browser.post(path, { ...form, csrf: other.csrf });
      expect(foreignToken.status).toBe(403);
      const crossSite = await who.browser.post(path, { ...form, csrf: who.csrf }, { Origin: "https://evil.example" });
      expect(crossSite.status).toBe(403);
    }
    const signedOut = await new TestBrowser().post("/activity/devices", {
      csrf: who.csrf,
      name: "x",
      subscription: subscription(keys),
    });
    expect(signedOut.status).toBe(403);
    expect(await who.rows("SELECT * FROM push_devices")).toEqual([]);
    expect(await who.rows("SELECT * FROM webhook")).toEqual([]);
  });
});

describe("the webhook", () => {
  it("posts each new request as JSON signed with the secret shown once", async () => {
    const who = await person();
    const set = await who.browser.post("/activity/webhook", { csrf: who.csrf, url: `${HOOK}/in` });
    expect(set.status).toBe(200);
    const page = await set.text();
    const secret = /id="webhook-secret">\s*(whsec_[A-Za-z0-9_-]{43})\s*</.exec(page)?.[1] as string;
    expect(secret).toBeDefined();
    // Shown once: the activity page names the webhook but never its secret.
    const activity = await (await who.browser.get("/activity")).text();
    expect(activity).toContain(`${HOOK}/in`);
    expect(activity).not.toContain(secret);
    const asked = await askSession(who.tokens.access_token, { reason: "weekly report" });
    await who.deliver();
    const [sent, ...more] = seenAt(HOOK);
    expect(more).toEqual([]);
    expect(sent?.headers["content-type"]).toBe("application/json");
    const signature = sent?.headers["countersign-signature"] as string;
    const t = Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(signature)?.[1]);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
    expect(signature).toBe(await webhookSignature(secret, t, sent?.body as string));
    expect(JSON.parse(sent?.body as string)).toMatchObject({
      request_id: asked.request_id,
      url: asked.approval_url,
      reason: "weekly report",
    });
    const audit = await who.rows("SELECT event FROM audit WHERE event = 'webhook_set'");
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(await who.rows("SELECT * FROM audit"))).not.toContain(secret);
  });

  it("keeps a webhook URL (itself a secret for Slack or ntfy) out of the audit log and the export", async () => {
    const who = await person();
    const url = `${HOOK}/services/T0001/B0002/pathSecret0123456789`;
    expect((await who.browser.post("/activity/webhook", { csrf: who.csrf, url })).status).toBe(200);
    const audit = await who.rows("SELECT detail FROM audit WHERE event = 'webhook_set'");
    expect(audit).toEqual([{ detail: JSON.stringify({ origin: HOOK }) }]);
    await subscribe(who, "Export phone");
    const exported = await (await who.browser.get("/activity/export.json")).text();
    expect(exported).not.toContain("pathSecret0123456789");
    const notifications = JSON.parse(exported).notifications;
    expect(notifications.webhook).toMatchObject({ origin: HOOK });
    expect(notifications.devices).toEqual([expect.objectContaining({ name: "Export phone", lastStatus: null })]);
    expect(exported).not.toContain("/send/");
    expect(JSON.stringify(await who.rows("SELECT * FROM audit"))).not.toContain("pathSecret0123456789");
  });

  it("refuses the remove forms without the page's CSRF token, and keeps the device and webhook", async () => {
    const who = await person();
    await subscribe(who);
    await who.browser.post("/activity/webhook", { csrf: who.csrf, url: `${HOOK}/in` });
    const [{ id }] = (await who.rows("SELECT id FROM push_devices")) as [{ id: string }];
    for (const path of [`/activity/devices/${id}/remove`, "/activity/webhook/remove"]) {
      const missing = await who.browser.post(path, {});
      expect(missing.status).toBe(403);
      const crossSite = await who.browser.post(path, { csrf: who.csrf }, { Origin: "https://evil.example" });
      expect(crossSite.status).toBe(403);
    }
    expect(await who.rows("SELECT COUNT(*) AS n FROM push_devices")).toEqual([{ n: 1 }]);
    expect(await who.rows("SELECT COUNT(*) AS n FROM webhook")).toEqual([{ n: 1 }]);
  });

  it("a replaced webhook gets a new secret and the old one is owed nothing", async () => {
    const who = await person();
    const first = await (await who.browser.post("/activity/webhook", { csrf: who.csrf, url: `${HOOK}/one` })).text();
    pushStatus = 201;
    const second = await (await who.browser.post("/activity/webhook", { csrf: who.csrf, url: `${HOOK}/two` })).text();
    const secretOf = (html: string) => /(whsec_[A-Za-z0-9_-]{43})/.exec(html)?.[1];
    expect(secretOf(first)).not.toBe(secretOf(second));
    await askSession(who.tokens.access_token);
    await who.deliver();
    expect(seenAt(HOOK).map((request) => request.url)).toEqual([`${HOOK}/two`]);
    expect((await who.browser.post("/activity/webhook/remove", { csrf: who.csrf })).status).toBe(303);
    expect(await who.rows("SELECT * FROM webhook")).toEqual([]);
  });
});
