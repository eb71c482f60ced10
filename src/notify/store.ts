/**
 * The notification channels of one person and the deliveries owed to them, in the person's
 * Durable Object SQL (`push_devices`, `webhook`, `deliveries`; docs/storage-schema.md). Only
 * src/notify/ reads or writes these tables. A delivery names a grant and a target, never the
 * message: the message and its approval link are made again at send time from the grant, so no
 * link secret rests here. Removing a target removes what is still owed to it.
 */

export type Channel = "push" | "webhook";

export interface PushDevice {
  id: string;
  name: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  addedAt: number;
  lastDeliveryAt: number | null;
  /** `delivered`, or `failed: <code or status>`; null before the first try. */
  lastStatus: string | null;
}

export interface Webhook {
  id: string;
  url: string;
  addedAt: number;
  lastDeliveryAt: number | null;
  lastStatus: string | null;
}

export interface Delivery {
  id: number;
  grantId: string;
  channel: Channel;
  targetId: string;
  attempts: number;
  nextAt: number;
}

type DeviceRow = {
  id: string;
  name: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  added_at: number;
  last_delivery_at: number | null;
  last_status: string | null;
};
type WebhookRow = {
  id: string;
  url: string;
  added_at: number;
  last_delivery_at: number | null;
  last_status: string | null;
};
type DeliveryRow = {
  id: number;
  grant_id: string;
  channel: Channel;
  target_id: string;
  attempts: number;
  next_at: number;
};

const device = (row: DeviceRow): PushDevice => ({
  id: row.id,
  name: row.name,
  endpoint: row.endpoint,
  p256dh: row.p256dh,
  auth: row.auth,
  addedAt: row.added_at,
  lastDeliveryAt: row.last_delivery_at,
  lastStatus: row.last_status,
});

export class NotifyStore {
  constructor(private readonly sql: SqlStorage) {}

  devices(): PushDevice[] {
    return this.sql.exec<DeviceRow>("SELECT * FROM push_devices ORDER BY added_at, id").toArray().map(device);
  }
  device(id: string): PushDevice | null {
    const row = this.sql.exec<DeviceRow>("SELECT * FROM push_devices WHERE id = ?", id).toArray()[0];
    return row ? device(row) : null;
  }
  deviceByEndpoint(endpoint: string): PushDevice | null {
    const row = this.sql.exec<DeviceRow>("SELECT * FROM push_devices WHERE endpoint = ?", endpoint).toArray()[0];
    return row ? device(row) : null;
  }
  countDevices(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM push_devices").one().n;
  }
  insertDevice(value: Omit<PushDevice, "lastDeliveryAt" | "lastStatus">): void {
    this.sql.exec(
      "INSERT INTO push_devices (id, name, endpoint, p256dh, auth, added_at) VALUES (?, ?, ?, ?, ?, ?)",
      value.id,
      value.name,
      value.endpoint,
      value.p256dh,
      value.auth,
      value.addedAt,
    );
  }
  /** Refresh a known endpoint's keys and name (the browser re-subscribed); the id stays. */
  updateDevice(id: string, name: string, p256dh: string, auth: string): void {
    this.sql.exec("UPDATE push_devices SET name = ?, p256dh = ?, auth = ? WHERE id = ?", name, p256dh, auth, id);
  }
  deleteDevice(id: string): void {
    this.sql.exec("DELETE FROM deliveries WHERE channel = 'push' AND target_id = ?", id);
    this.sql.exec("DELETE FROM push_devices WHERE id = ?", id);
  }

  webhook(): Webhook | null {
    const row = this.sql.exec<WebhookRow>("SELECT * FROM webhook").toArray()[0];
    return row
      ? {
          id: row.id,
          url: row.url,
          addedAt: row.added_at,
          lastDeliveryAt: row.last_delivery_at,
          lastStatus: row.last_status,
        }
      : null;
  }
  /** The one webhook: replacing it drops what was owed to the old one. */
  replaceWebhook(value: Pick<Webhook, "id" | "url" | "addedAt">): void {
    this.deleteWebhook();
    this.sql.exec("INSERT INTO webhook (id, url, added_at) VALUES (?, ?, ?)", value.id, value.url, value.addedAt);
  }
  deleteWebhook(): void {
    this.sql.exec("DELETE FROM deliveries WHERE channel = 'webhook'");
    this.sql.exec("DELETE FROM webhook");
  }

  /** Record a try on a target: its time and outcome, for the person's page. */
  recordOutcome(channel: Channel, targetId: string, at: number, status: string): void {
    const table = channel === "push" ? "push_devices" : "webhook";
    this.sql.exec(`UPDATE ${table} SET last_delivery_at = ?, last_status = ? WHERE id = ?`, at, status, targetId);
  }

  enqueue(grantId: string, channel: Channel, targetId: string, now: number): void {
    this.sql.exec(
      "INSERT INTO deliveries (grant_id, channel, target_id, next_at, created_at) VALUES (?, ?, ?, ?, ?)",
      grantId,
      channel,
      targetId,
      now,
      now,
    );
  }
  due(now: number, limit: number): Delivery[] {
    return this.sql
      .exec<DeliveryRow>("SELECT * FROM deliveries WHERE next_at <= ? ORDER BY next_at, id LIMIT ?", now, limit)
      .toArray()
      .map((row) => ({
        id: row.id,
        grantId: row.grant_id,
        channel: row.channel,
        targetId: row.target_id,
        attempts: row.attempts,
        nextAt: row.next_at,
      }));
  }
  retryAt(id: number, attempts: number, nextAt: number): void {
    this.sql.exec("UPDATE deliveries SET attempts = ?, next_at = ? WHERE id = ?", attempts, nextAt, id);
  }
  done(id: number): void {
    this.sql.exec("DELETE FROM deliveries WHERE id = ?", id);
  }
  nextDeadline(): number | null {
    return this.sql.exec<{ next: number | null }>("SELECT MIN(next_at) AS next FROM deliveries").one().next;
  }
  owed(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM deliveries").one().n;
  }
}
