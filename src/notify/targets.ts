/**
 * Vetting what a person's browser hands us for notifications: a Push API subscription
 * (`PushSubscription.toJSON()`) and a webhook URL. Pure: no I/O, no clock. Both URLs pass the
 * same gate as every outside URL we fetch (`parseEndpoint`: https to a public host, no userinfo,
 * no fragment, no disguising characters; http to a loopback host only in dev mode, for tests),
 * and everything has a length cap, so nothing unbounded or unfetchable is ever stored.
 */

import { fromBase64Url } from "../lib/encoding";
import type { ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { hasControlCharacters } from "../lib/text";
import { hasHidden } from "../lib/visible-text";
import { parseEndpoint } from "../upstream/client/endpoint";

/** Devices one person may have. */
export const MAX_DEVICES = 10;
/** Push endpoints seen in the wild are under 600 characters (FCM, Mozilla, Apple, WNS). */
export const MAX_PUSH_ENDPOINT = 1024;
export const MAX_WEBHOOK_URL = 2048;
export const MAX_DEVICE_NAME = 60;
/** A subscription's JSON, endpoint and keys together, is far smaller. */
export const MAX_SUBSCRIPTION_JSON = 4096;

export type NotifyErrorCode = ErrorCode<"notify">;
export interface NotifyError {
  code: NotifyErrorCode;
  message: string;
}

const fail = (code: NotifyErrorCode, message: string) => err<NotifyError>({ code, message });

export interface SubscriptionKeys {
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** A subscription as `JSON.stringify(subscription)` sent it, vetted. */
export function parseSubscription(raw: unknown, allowLoopback: boolean): Result<SubscriptionKeys, NotifyError> {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > MAX_SUBSCRIPTION_JSON) {
    return fail("subscription_invalid", "The browser's push subscription is missing or too large.");
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return fail("subscription_invalid", "The browser's push subscription is not JSON.");
  }
  const subscription = value as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } } | null;
  const endpoint = subscription?.endpoint;
  const p256dh = subscription?.keys?.p256dh;
  const auth = subscription?.keys?.auth;
  if (typeof endpoint !== "string" || typeof p256dh !== "string" || typeof auth !== "string") {
    return fail("subscription_invalid", "The push subscription needs an endpoint and its p256dh and auth keys.");
  }
  if (endpoint.length > MAX_PUSH_ENDPOINT) return fail("endpoint_not_allowed", "The push endpoint is too long.");
  const url = parseEndpoint(endpoint, { allowLoopback });
  if (!url.ok) return fail("endpoint_not_allowed", `The push endpoint cannot be used: ${url.error.code}.`);
  const point = fromBase64Url(p256dh);
  // RFC 8291 §3.1: an uncompressed P-256 point; §3.2: a 16-octet authentication secret.
  if (point?.length !== 65 || point[0] !== 0x04) {
    return fail("subscription_invalid", "The push subscription's p256dh key is not a P-256 public key.");
  }
  if (fromBase64Url(auth)?.length !== 16) {
    return fail("subscription_invalid", "The push subscription's auth secret is not 16 bytes.");
  }
  return ok({ endpoint: url.value.href, p256dh, auth });
}

/** A device's name as the person typed it: 1 to 60 visible characters. */
export function parseDeviceName(raw: unknown): Result<string, NotifyError> {
  const name = typeof raw === "string" ? raw.trim() : "";
  if (name.length === 0 || name.length > MAX_DEVICE_NAME || hasControlCharacters(name) || hasHidden(name)) {
    return fail("device_name_invalid", `Name the device in 1 to ${MAX_DEVICE_NAME} visible characters.`);
  }
  return ok(name);
}

/** The webhook URL the person set. */
export function parseWebhookUrl(raw: unknown, allowLoopback: boolean): Result<string, NotifyError> {
  if (typeof raw !== "string" || raw.trim() === "" || raw.length > MAX_WEBHOOK_URL) {
    return fail("webhook_url_invalid", "Enter the https URL that should receive the webhook.");
  }
  const url = parseEndpoint(raw.trim(), { allowLoopback });
  if (!url.ok) return fail("webhook_url_invalid", `The webhook URL cannot be used: ${url.error.code}.`);
  return ok(url.value.href);
}
