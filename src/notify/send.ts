/**
 * One delivery on the wire: a Web Push message to one device, or the webhook. Both go through the
 * guarded fetch (the vetted URL only, no redirect, one deadline, a capped answer that is never
 * read), and both end in an outcome the notifier acts on; nothing here touches storage.
 *
 * Push: RFC 8291 `aes128gcm` encryption and an RFC 8292 VAPID `Authorization` (ES256 JWT with
 * `aud` the push service's origin and `exp` 12 h ahead) by @block65/webcrypto-web-push, which
 * pads every message to 4096 octets so its length says nothing. `TTL` is the time the request
 * stays pending (a push after that is useless), `Topic` the request id (an undelivered push for
 * the same request is replaced), `Urgency: high` (a person is waiting).
 *
 * Webhook: the JSON message with `Countersign-Signature: t=<unix seconds>,v1=<hex>`, the hex
 * HMAC-SHA256 of `<t>.<body>` under the webhook's secret, so a receiver can check both the sender
 * and the freshness.
 */
import { buildPushPayload } from "@block65/webcrypto-web-push";
import { guardedFetch } from "../http/guarded-fetch";
import { toHex, utf8 } from "../lib/encoding";
import { parseEndpoint } from "../upstream/client/endpoint";
import type { RequestMessage } from "./message";
import type { PushDevice } from "./store";
import type { VapidKeys } from "./vapid";

/** The whole exchange with a push service or a webhook receiver. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Answers are not used; this much is read at most, then dropped. */
const ANSWER_BYTES = 4096;

export type Outcome =
  /** Accepted (2xx). */
  | { kind: "delivered"; status: number }
  /** RFC 8030 §7.3: 404 or 410, the subscription is gone for good. */
  | { kind: "gone"; status: number }
  /** Worth another try later: 429, 5xx, a timeout or an unreachable host. */
  | { kind: "retry"; reason: string }
  /** Will not work by trying again (another 4xx, a refused URL, a redirect). */
  | { kind: "failed"; reason: string };

export interface SendContext {
  allowLoopback: boolean;
  fetcher?: (request: Request) => Promise<Response>;
}

function outcomeOf(status: number, push: boolean): Outcome {
  if (status >= 200 && status < 300) return { kind: "delivered", status };
  if (push && (status === 404 || status === 410)) return { kind: "gone", status };
  if (status === 429 || status >= 500) return { kind: "retry", reason: `status ${status}` };
  return { kind: "failed", reason: `status ${status}` };
}

async function send(
  url: string,
  init: { headers: Record<string, string>; body: BodyInit },
  push: boolean,
  context: SendContext,
) {
  const fetched = await guardedFetch(
    url,
    { method: "POST", ...init },
    {
      vet: (raw) => parseEndpoint(raw, { allowLoopback: context.allowLoopback }),
      fetcher: context.fetcher,
      timeoutMs: DELIVERY_TIMEOUT_MS,
      maxBytes: ANSWER_BYTES,
      body: "discard",
    },
  );
  if (fetched.ok) return outcomeOf(fetched.value.status, push);
  const code = fetched.error.code;
  return code === "timeout" || code === "unreachable"
    ? ({ kind: "retry", reason: code } as const)
    : ({ kind: "failed", reason: code } as const);
}

/**
 * RFC 8292 `aud` is the push resource's origin, and the library signs only https origins (RFC
 * 8030 push resources are https). A dev-mode loopback endpoint, for tests, is signed for its
 * https twin (same host and port); the fake push service of the tests checks exactly that.
 */
function signedEndpoint(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.protocol === "https:") return endpoint;
  url.protocol = "https:";
  return url.href;
}

/** Encrypt `message` for `device` and post it to the device's push service. */
export async function sendPush(
  device: PushDevice,
  message: RequestMessage,
  vapid: VapidKeys,
  ttlSeconds: number,
  context: SendContext,
): Promise<Outcome> {
  let built: Awaited<ReturnType<typeof buildPushPayload>>;
  try {
    built = await buildPushPayload(
      {
        data: { ...message },
        options: { ttl: Math.max(1, Math.ceil(ttlSeconds)), topic: message.request_id.slice(0, 32), urgency: "high" },
      },
      {
        endpoint: signedEndpoint(device.endpoint),
        expirationTime: null,
        keys: { p256dh: device.p256dh, auth: device.auth },
      },
      vapid,
    );
  } catch {
    // A key the library cannot use (not on the curve): no try will ever work.
    return { kind: "failed", reason: "subscription_keys_invalid" };
  }
  return send(device.endpoint, { headers: built.headers, body: built.body }, true, context);
}

/** Slack's message escaping: `&`, `<` and `>` are the only control characters of its markup. */
export const slackEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The webhook's signature header value for `body` sent at `unixSeconds`. */
export async function webhookSignature(secret: string, unixSeconds: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, utf8(`${unixSeconds}.${body}`));
  return `t=${unixSeconds},v1=${toHex(new Uint8Array(mac))}`;
}

/** Post `message` to the webhook, signed with its secret. */
export async function sendWebhook(
  url: string,
  secret: string,
  message: RequestMessage,
  now: number,
  context: SendContext,
): Promise<Outcome> {
  // `text` too, so a Slack or Mattermost incoming webhook shows the message as it is; escaped
  // as Slack asks, so assistant text cannot become a link (`<https://…|Approve>`) or a ping.
  const text = slackEscape(`${message.title}: ${message.body}`);
  const body = JSON.stringify({ ...message, text: `${text} ${message.url}` });
  const t = Math.floor(now / 1000);
  const headers = {
    "content-type": "application/json",
    "countersign-event": message.type,
    "countersign-signature": await webhookSignature(secret, t, body),
  };
  return send(url, { headers, body }, false, context);
}
