/**
 * Web Push in workerd. RFC 8291 Appendix A first checks the test decryptor against the RFC's own
 * message, then shows that the library we send with (@block65/webcrypto-web-push) produces that
 * message byte for byte when given the RFC's salt and sender key. Then one real send through
 * `sendPush`: standard `aes128gcm` (never the legacy `aesgcm`), padded to 4096 octets, a VAPID JWT
 * for the push service's origin that expires within 24 h, and the outcome of each status.
 */
import { encryptNotification } from "@block65/webcrypto-web-push";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RequestMessage } from "../../../src/notify/message";
import { sendPush, sendWebhook, webhookSignature } from "../../../src/notify/send";
import type { PushDevice } from "../../../src/notify/store";
import { vapidKeys } from "../../../src/notify/vapid";
import {
  b64url,
  checkVapid,
  decryptAes128gcm,
  newReceiverKeys,
  receiverKeysFrom,
  unb64url,
} from "../../helpers/web-push-receiver";

// RFC 8291 Appendix A, with its line breaks removed.
const RFC = {
  plaintext: "When I grow up, I want to be a watermelon",
  asPublic: "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
  asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
  uaPublic: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
  uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
  salt: "DGv6ra1nlYgDCS1FRnbzlw",
  auth: "BTBZMqHH6r4Tts7J_aSIgg",
  body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
};

afterEach(() => vi.restoreAllMocks());

describe("RFC 8291 Appendix A", () => {
  it("the test decryptor opens the RFC's message to its plaintext", async () => {
    const keys = await receiverKeysFrom(RFC.uaPrivate, RFC.uaPublic, RFC.auth);
    const opened = await decryptAes128gcm(unb64url(RFC.body), keys);
    expect(new TextDecoder().decode(opened.plaintext)).toBe(RFC.plaintext);
    expect(opened.recordSize).toBe(4096);
    expect(opened.senderKey).toBe(RFC.asPublic);
  });

  it("the library reproduces the RFC's message byte for byte from its salt and sender key", async () => {
    const point = unb64url(RFC.asPublic);
    const jwk = {
      kty: "EC",
      crv: "P-256",
      d: RFC.asPrivate,
      x: b64url(point.slice(1, 33)),
      y: b64url(point.slice(33)),
    };
    const sender = {
      privateKey: await crypto.subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, true, [
        "deriveBits",
      ]),
      publicKey: await crypto.subtle.importKey("raw", point, { name: "ECDH", namedCurve: "P-256" }, true, []),
    };
    // The library draws its salt and its ephemeral key at random: hand it the RFC's.
    const salt = unb64url(RFC.salt);
    vi.spyOn(crypto, "getRandomValues").mockImplementation((array) => {
      (array as Uint8Array).set(salt);
      return array;
    });
    vi.spyOn(crypto.subtle, "generateKey").mockResolvedValue(sender as CryptoKeyPair);
    const body = await encryptNotification(
      { endpoint: "https://push.example/x", expirationTime: null, keys: { p256dh: RFC.uaPublic, auth: RFC.auth } },
      new TextEncoder().encode(RFC.plaintext),
      { pad: false },
    );
    expect(b64url(body)).toBe(RFC.body);
  });
});

const message: RequestMessage = {
  type: "access_request",
  request_id: "req_0123456789abcdefghijkl",
  client: "Claude",
  asks: "read access to github",
  for: "15 min",
  reason: "triage",
  title: "Claude asks for access",
  body: "read access to github, for 15 min. “triage” Tap to review.",
  url: "https://countersign.test/approve/req_0123456789abcdefghijkl?t=secret",
  expires_at: "2026-12-03T00:10:00.000Z",
};

async function vapid() {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ])) as CryptoKeyPair;
  const d = ((await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey).d as string;
  return vapidKeys(d, "mailto:ops@countersign.test");
}

async function device(
  endpoint = "https://push.example/send/abc",
): Promise<{ device: PushDevice; keys: Awaited<ReturnType<typeof newReceiverKeys>> }> {
  const keys = await newReceiverKeys();
  return {
    keys,
    device: {
      id: "dev_1",
      name: "Phone",
      endpoint,
      p256dh: keys.p256dh,
      auth: keys.auth,
      addedAt: 0,
      lastDeliveryAt: null,
      lastStatus: null,
    },
  };
}

describe("sendPush", () => {
  it("posts aes128gcm, padded to 4096 octets, with a VAPID JWT for the push service's origin", async () => {
    const { device: target, keys } = await device();
    const sent: Request[] = [];
    const bodies: Uint8Array<ArrayBuffer>[] = [];
    const fetcher = async (request: Request) => {
      sent.push(request);
      bodies.push(new Uint8Array(await request.arrayBuffer()));
      return new Response(null, { status: 201 });
    };
    const outcome = await sendPush(target, message, await vapid(), 540.7, { allowLoopback: false, fetcher });
    expect(outcome).toEqual({ kind: "delivered", status: 201 });
    const [request] = sent as [Request];
    expect(request.url).toBe("https://push.example/send/abc");
    expect(request.method).toBe("POST");
    expect(request.headers.get("content-encoding")).toBe("aes128gcm");
    expect(request.headers.get("encryption")).toBeNull();
    expect(request.headers.get("crypto-key")).toBeNull();
    expect(request.headers.get("ttl")).toBe("541");
    expect(request.headers.get("urgency")).toBe("high");
    expect(request.headers.get("topic")).toBe(message.request_id);
    const body = bodies[0] as Uint8Array<ArrayBuffer>;
    expect(body.length).toBe(4096);
    const opened = await decryptAes128gcm(body, keys);
    expect(JSON.parse(new TextDecoder().decode(opened.plaintext))).toEqual(message);
    const now = Math.floor(Date.now() / 1000);
    const check = await checkVapid(request.headers.get("authorization"), "https://push.example", now);
    expect(check).toMatchObject({
      ok: true,
      claims: { aud: "https://push.example", sub: "mailto:ops@countersign.test" },
    });
    if (check.ok) expect(check.claims.exp - now).toBeLessThanOrEqual(24 * 3600);
  });

  const outcomes: [number, string][] = [
    [200, "delivered"],
    [202, "delivered"],
    [404, "gone"],
    [410, "gone"],
    [429, "retry"],
    [500, "retry"],
    [503, "retry"],
    [400, "failed"],
    [403, "failed"],
    [413, "failed"],
  ];
  for (const [status, kind] of outcomes) {
    it(`reads a ${status} from the push service as ${kind}`, async () => {
      const { device: target } = await device();
      const outcome = await sendPush(target, message, await vapid(), 60, {
        allowLoopback: false,
        fetcher: async () => new Response(null, { status }),
      });
      expect(outcome.kind).toBe(kind);
    });
  }

  it("never follows a redirect, and fails rather than retries it", async () => {
    const { device: target } = await device();
    const seen: string[] = [];
    const outcome = await sendPush(target, message, await vapid(), 60, {
      allowLoopback: false,
      fetcher: async (request) => {
        seen.push(request.url);
        return new Response(null, { status: 307, headers: { location: "https://evil.example/" } });
      },
    });
    expect(outcome).toEqual({ kind: "failed", reason: "redirect_refused" });
    expect(seen).toEqual(["https://push.example/send/abc"]);
  });

  it("retries an unreachable push service and sends nothing to a private address", async () => {
    const { device: target } = await device();
    const unreachable = await sendPush(target, message, await vapid(), 60, {
      allowLoopback: false,
      fetcher: async () => {
        throw new TypeError("connection refused");
      },
    });
    expect(unreachable).toEqual({ kind: "retry", reason: "unreachable" });
    const { device: internal } = await device("https://169.254.169.254/latest");
    const seen: string[] = [];
    const refused = await sendPush(internal, message, await vapid(), 60, {
      allowLoopback: false,
      fetcher: async (request) => {
        seen.push(request.url);
        return new Response(null, { status: 201 });
      },
    });
    expect(refused).toEqual({ kind: "failed", reason: "address_not_allowed" });
    expect(seen).toEqual([]);
  });

  it("signs a dev-mode loopback endpoint for its https twin", async () => {
    const { device: target, keys } = await device("http://127.0.0.1:9/push/1");
    let body = new Uint8Array();
    let authorization: string | null = null;
    const outcome = await sendPush(target, message, await vapid(), 60, {
      allowLoopback: true,
      fetcher: async (request) => {
        authorization = request.headers.get("authorization");
        body = new Uint8Array(await request.arrayBuffer());
        return new Response(null, { status: 201 });
      },
    });
    expect(outcome.kind).toBe("delivered");
    expect((await checkVapid(authorization, "https://127.0.0.1:9", Math.floor(Date.now() / 1000))).ok).toBe(true);
    expect((await decryptAes128gcm(body, keys)).plaintext.length).toBeGreaterThan(0);
  });
});

describe("sendWebhook", () => {
  it("posts the message signed over the timestamp and the exact body", async () => {
    let request: Request | null = null;
    let body = "";
    const now = Date.UTC(2026, 11, 3, 8, 0, 0);
    const outcome = await sendWebhook("https://hooks.example/in", "whsec_test", message, now, {
      allowLoopback: false,
      fetcher: async (sent) => {
        request = sent;
        body = await sent.text();
        return new Response("ok", { status: 200 });
      },
    });
    expect(outcome).toEqual({ kind: "delivered", status: 200 });
    const got = request as unknown as Request;
    expect(got.headers.get("content-type")).toBe("application/json");
    expect(got.headers.get("countersign-event")).toBe("access_request");
    const signature = got.headers.get("countersign-signature") as string;
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(signature).toBe(await webhookSignature("whsec_test", now / 1000, body));
    expect(signature).not.toBe(await webhookSignature("whsec_other", now / 1000, body));
    expect(JSON.parse(body)).toMatchObject({ ...message, text: expect.stringContaining(message.url) });
  });

  it("escapes assistant text in the Slack-style text, so it cannot make a link or a ping", async () => {
    let body = "";
    const hostile = { ...message, title: "<!channel> Claude asks", body: "<https://evil.example|Approve here> & more" };
    await sendWebhook("https://hooks.example/in", "s", hostile, Date.now(), {
      allowLoopback: false,
      fetcher: async (sent) => {
        body = await sent.text();
        return new Response(null, { status: 200 });
      },
    });
    const sent = JSON.parse(body);
    expect(sent.text).toBe(
      `&lt;!channel&gt; Claude asks: &lt;https://evil.example|Approve here&gt; &amp; more ${message.url}`,
    );
    expect(sent.text).not.toContain("<");
    // The structured fields keep the text as it is, for receivers that read them.
    expect(sent.body).toBe(hostile.body);
  });

  it("does not treat a 410 from a webhook as a removed device, and retries a 502", async () => {
    const send = (status: number) =>
      sendWebhook("https://hooks.example/in", "s", message, Date.now(), {
        allowLoopback: false,
        fetcher: async () => new Response(null, { status }),
      });
    expect((await send(410)).kind).toBe("failed");
    expect((await send(502)).kind).toBe("retry");
  });
});
