/**
 * Reaching the person when an assistant asks: every new pending request is owed to each of the
 * person's push devices and to their webhook, and the alarm delivers what is owed. A request is
 * never delayed or failed by this: `announce` only writes rows (synchronous SQL) and the caller
 * aims the alarm; the sending happens in the alarm, after the request has been answered.
 *
 * Invariants:
 * - The message is made at send time from the grant, and only while the grant is still pending:
 *   a request already decided, expired or withdrawn is never announced late.
 * - A 404 or 410 from a push service removes that device (RFC 8030 §7.3). 429, 5xx, timeouts
 *   and unreachable hosts are retried with backoff; anything else is given up at once. Every try
 *   is recorded on the target (last delivery, last status), never in the answer of a request.
 * - The webhook's signing secret is not stored: it is an HMAC, under COOKIE_SECRET, of the person
 *   and the webhook's id, shown once when the webhook is set. A new webhook is a new secret.
 */
import { approvalUrl } from "../approvals/link";
import type { Config } from "../config";
import type { Grant } from "../grants/types";
import { mac, randomToken } from "../lib/crypto";
import { log } from "../lib/log";
import { err, ok, type Result } from "../lib/result";
import type { AuditLog } from "../session/audit-log";
import { requestMessage } from "./message";
import { type Outcome, type SendContext, sendPush, sendWebhook } from "./send";
import type { Channel, Delivery, NotifyStore, PushDevice, Webhook } from "./store";
import { MAX_DEVICES, type NotifyError, type SubscriptionKeys } from "./targets";
import { vapidKeys, vapidPublicKey } from "./vapid";

/** Waits after the 1st, 2nd, 3rd and 4th failed try; the 5th failure gives up. */
export const BACKOFF_MS = [30_000, 120_000, 600_000, 1_800_000] as const;
/** Deliveries sent per alarm run; the rest wait for the next run, right after. */
const BATCH = 20;
/** How long a delivery being sent is withheld from other runs; far more than one send takes. */
const LEASE_MS = 60_000;
/** Sent at once: a Worker invocation has at most 6 connections open. */
const PARALLEL = 6;

export interface NotifierDeps {
  store: NotifyStore;
  audit: AuditLog;
  /** The grant a delivery is for, as stored now. */
  grant: (id: string) => Grant | null;
  config: () => Config;
  /** The person, read when first needed (the object's name). */
  userId: () => string;
  /** Tests route the wire here; production uses the global fetch. */
  fetcher?: SendContext["fetcher"];
}

/** A device as the person's page shows it: never its endpoint or keys. */
export type DeviceView = Pick<PushDevice, "id" | "name" | "addedAt" | "lastDeliveryAt" | "lastStatus">;
export type WebhookView = Webhook;

export interface NotifyView {
  /** The VAPID public key a page subscribes with; null when VAPID_PRIVATE_KEY is not set. */
  publicKey: string | null;
  devices: DeviceView[];
  webhook: WebhookView | null;
}

const statusOf = (outcome: Outcome) =>
  outcome.kind === "delivered"
    ? "delivered"
    : `failed: ${"status" in outcome ? `status ${outcome.status}` : outcome.reason}`;

export class Notifier {
  constructor(private readonly deps: NotifierDeps) {}

  /** Owe one delivery per device and webhook for a new pending request. */
  announce(grant: Grant, now: number): void {
    const { store } = this.deps;
    try {
      if (this.deps.config().push)
        for (const device of store.devices()) store.enqueue(grant.id, "push", device.id, now);
      const webhook = store.webhook();
      if (webhook) store.enqueue(grant.id, "webhook", webhook.id, now);
    } catch (error) {
      // The request stands whatever happens here: a push never fails it.
      log.error("notify.announce_failed", { error });
    }
  }

  nextDeadline(): number | null {
    return this.deps.store.nextDeadline();
  }

  /** Send what is due, at most one batch; the caller aims the alarm again afterwards. */
  async deliverDue(now: number): Promise<void> {
    const due = this.deps.store.due(now, BATCH);
    // Leased before the first await: an overlapping run (the alarm retried while this one still
    // waits on the network) finds them not due and cannot send them twice. A crash mid-send
    // leaves the lease to run out, and the delivery is tried again.
    for (const delivery of due) this.deps.store.retryAt(delivery.id, delivery.attempts, now + LEASE_MS);
    // A Worker has 6 connections at once; more would only queue and time out unsent.
    for (let at = 0; at < due.length; at += PARALLEL) {
      await Promise.all(due.slice(at, at + PARALLEL).map((delivery) => this.#deliver(delivery, now)));
    }
  }

  async #deliver(delivery: Delivery, now: number): Promise<void> {
    const { store } = this.deps;
    const outcome = await this.#attempt(delivery.grantId, delivery.channel, delivery.targetId, now).catch(
      (error): Outcome => {
        // A thrown error (a bug, a bad key) is retried with backoff, never left due in the past.
        log.error("notify.attempt_failed", { channel: delivery.channel, error });
        return { kind: "retry", reason: "internal_error" };
      },
    );
    if (outcome === null) return store.done(delivery.id);
    store.recordOutcome(delivery.channel, delivery.targetId, now, statusOf(outcome));
    if (outcome.kind === "gone") {
      store.deleteDevice(delivery.targetId);
      this.#event("device_removed", "system", { device: delivery.targetId, reason: `status ${outcome.status}` }, now);
      return;
    }
    const wait = BACKOFF_MS[delivery.attempts];
    if (outcome.kind === "retry" && wait !== undefined) {
      return store.retryAt(delivery.id, delivery.attempts + 1, now + wait);
    }
    store.done(delivery.id);
  }

  /** One try, or null when there is nothing to send any more (target or request gone). */
  async #attempt(grantId: string, channel: Channel, targetId: string, now: number): Promise<Outcome | null> {
    const { store } = this.deps;
    const grant = this.deps.grant(grantId);
    if (grant?.status !== "pending" || grant.pendingExpiresAt <= now) return null;
    const config = this.deps.config();
    const message = requestMessage(grant, await approvalUrl(config, grant.id));
    const context: SendContext = { allowLoopback: config.devMode, fetcher: this.deps.fetcher };
    if (channel === "push") {
      const device = store.device(targetId);
      if (!device || !config.push) return null;
      const keys = await vapidKeys(config.push.privateKey, config.push.subject);
      return sendPush(device, message, keys, (grant.pendingExpiresAt - now) / 1000, context);
    }
    const webhook = store.webhook();
    if (!webhook || webhook.id !== targetId) return null;
    return sendWebhook(webhook.url, await this.#secret(webhook.id), message, now, context);
  }

  async view(): Promise<NotifyView> {
    const push = this.deps.config().push;
    return {
      publicKey: push ? await vapidPublicKey(push.privateKey) : null,
      devices: this.deps.store.devices().map(({ id, name, addedAt, lastDeliveryAt, lastStatus }) => ({
        id,
        name,
        addedAt,
        lastDeliveryAt,
        lastStatus,
      })),
      webhook: this.deps.store.webhook(),
    };
  }

  /** Add this browser's subscription, or refresh it when its endpoint is already known. */
  addDevice(name: string, subscription: SubscriptionKeys, now: number): Result<DeviceView, NotifyError> {
    const { store } = this.deps;
    if (!this.deps.config().push) {
      return err({ code: "push_not_configured", message: "Push notifications are not set up on this server." });
    }
    const known = store.deviceByEndpoint(subscription.endpoint);
    if (known) {
      store.updateDevice(known.id, name, subscription.p256dh, subscription.auth);
      return ok({ ...known, name });
    }
    if (store.countDevices() >= MAX_DEVICES) {
      return err({ code: "too_many_devices", message: `At most ${MAX_DEVICES} devices; remove one first.` });
    }
    const id = `dev_${randomToken(12)}`;
    store.insertDevice({ id, name, ...subscription, addedAt: now });
    this.#event("device_added", "human", { device: id, name }, now);
    return ok({ id, name, addedAt: now, lastDeliveryAt: null, lastStatus: null });
  }

  removeDevice(id: string, now: number): boolean {
    if (!this.deps.store.device(id)) return false;
    this.deps.store.deleteDevice(id);
    this.#event("device_removed", "human", { device: id }, now);
    return true;
  }

  /** Set (or replace) the webhook; the answer carries its secret, shown this once. */
  async setWebhook(url: string, now: number): Promise<{ webhook: WebhookView; secret: string }> {
    const id = `whk_${randomToken(12)}`;
    this.deps.store.replaceWebhook({ id, url, addedAt: now });
    // Only the origin: a Slack, Discord or ntfy URL is itself a secret (anyone holding it can post).
    this.#event("webhook_set", "human", { origin: new URL(url).origin }, now);
    return {
      webhook: { id, url, addedAt: now, lastDeliveryAt: null, lastStatus: null },
      secret: await this.#secret(id),
    };
  }

  removeWebhook(now: number): boolean {
    if (!this.deps.store.webhook()) return false;
    this.deps.store.deleteWebhook();
    this.#event("webhook_removed", "human", {}, now);
    return true;
  }

  async #secret(webhookId: string): Promise<string> {
    return `whsec_${await mac(this.deps.config().cookieSecret, "webhook-signing", `${this.deps.userId()}:${webhookId}`)}`;
  }

  #event(
    event: "device_added" | "device_removed" | "webhook_set" | "webhook_removed",
    actor: "human" | "system",
    detail: Record<string, string>,
    at: number,
  ) {
    this.deps.audit.append({ at, event, actor, grantId: null, connectionId: null, clientName: null, detail });
  }
}
