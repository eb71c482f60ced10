/**
 * The "This phone" part of /activity: turn on push notifications here, the devices that get
 * them (name, last delivery, Remove), and the webhook. Every button is a POST form with the
 * page's CSRF token; the push form is filled by /assets/app.js with the browser's subscription.
 */
import { showText } from "../approvals/display";
import { Layout } from "../web/layout";
import type { NotifyView } from "./notifier";
import { MAX_DEVICE_NAME, MAX_DEVICES } from "./targets";

/** 401/403 from a push service: the VAPID key it subscribed with is not ours any more. */
const refusesOurKey = (status: string | null) => status === "failed: status 401" || status === "failed: status 403";

const when = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));

function PushForm({ view, csrf }: { view: NotifyView; csrf: string }) {
  if (view.publicKey === null) {
    return <p class="muted">Push notifications are not set up on this server (no VAPID key).</p>;
  }
  if (view.devices.length >= MAX_DEVICES) {
    return (
      <p class="muted">{`You have ${MAX_DEVICES} devices, the most there can be. Remove one to add this phone.`}</p>
    );
  }
  return (
    <form id="notify-form" method="post" action="/activity/devices" data-public-key={view.publicKey}>
      <input type="hidden" name="csrf" value={csrf} />
      <input type="hidden" name="subscription" value="" />
      <label>
        <span>Name this device</span>
        <input type="text" name="name" value="My phone" maxlength={MAX_DEVICE_NAME} required />
      </label>
      <div class="actions">
        <button type="submit">Notify me on this phone</button>
      </div>
      <p id="notify-status" class="muted small" />
    </form>
  );
}

export function NotifySection({ view, csrf }: { view: NotifyView; csrf: string }) {
  return (
    <div class="card" id="notify">
      <h2>This phone</h2>
      <p class="muted">
        Get a notification for every new request. Tapping it opens the request; you decide on that page.
      </p>
      <PushForm view={view} csrf={csrf} />
      {view.devices.length === 0 ? (
        <p class="muted">No devices get notifications yet.</p>
      ) : (
        <ul class="scopes">
          {view.devices.map((device) => (
            <li>
              <strong>{showText(device.name, 60)}</strong>
              <br />
              <span class="muted small">
                added {when(device.addedAt)} · last delivery {when(device.lastDeliveryAt)}
                {device.lastStatus ? ` (${device.lastStatus})` : ""}
              </span>
              {refusesOurKey(device.lastStatus) ? (
                <span class="muted small">
                  <br />
                  Its push service refuses this server's key (the key changed?): remove it, then turn notifications on
                  again on that phone.
                </span>
              ) : null}
              <form class="inline" method="post" action={`/activity/devices/${encodeURIComponent(device.id)}/remove`}>
                <input type="hidden" name="csrf" value={csrf} />
                <button type="submit">Remove</button>
              </form>
            </li>
          ))}
        </ul>
      )}
      <h2>Webhook</h2>
      {view.webhook ? (
        <>
          <p>
            <span class="mono">{showText(view.webhook.url, 200)}</span>
            <br />
            <span class="muted small">
              since {when(view.webhook.addedAt)} · last delivery {when(view.webhook.lastDeliveryAt)}
              {view.webhook.lastStatus ? ` (${view.webhook.lastStatus})` : ""}
            </span>
          </p>
          <form method="post" action="/activity/webhook/remove">
            <input type="hidden" name="csrf" value={csrf} />
            <button type="submit">Remove webhook</button>
          </form>
        </>
      ) : (
        <p class="muted">No webhook. Slack, ntfy or your own tools can get each request as signed JSON.</p>
      )}
      <form method="post" action="/activity/webhook">
        <input type="hidden" name="csrf" value={csrf} />
        <label>
          <span>{view.webhook ? "Replace with" : "Webhook URL"}</span>
          <input type="url" name="url" placeholder="https://" required />
        </label>
        <div class="actions">
          <button type="submit">Set webhook</button>
        </div>
      </form>
    </div>
  );
}

/** Shown once, right after the webhook is set: the only time its signing secret appears. */
export function WebhookSetPage({ url, secret }: { url: string; secret: string }) {
  return (
    <Layout title="Webhook set">
      <div class="card">
        <h1>Webhook set</h1>
        <p>
          Each new request is posted to <span class="mono">{url}</span> as JSON.
        </p>
        <p>
          Check the <span class="mono">Countersign-Signature</span> header,{" "}
          <span class="mono">t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</span>: the hex HMAC-SHA256 of{" "}
          <span class="mono">&lt;t&gt;.&lt;body&gt;</span> under this secret, which is shown only now:
        </p>
        <p class="mono" id="webhook-secret">
          {secret}
        </p>
        <p class="muted mono">webhook_set</p>
        <p>
          <a href="/activity#notify">Back to activity</a>
        </p>
      </div>
    </Layout>
  );
}
