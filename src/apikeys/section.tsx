/**
 * The "API keys" part of /activity: the person's keys for headless clients (name, created,
 * expiry, last use, Revoke) and the form that makes one; and the page that shows a new key,
 * the only time its value is ever shown. Every button is a POST form with the page's CSRF token.
 */
import { showText } from "../approvals/display";
import { Layout } from "../web/layout";
import { DEFAULT_KEY_DAYS, MAX_API_KEYS, MAX_KEY_DAYS, MAX_KEY_NAME } from "./key";
import type { ApiKeyView } from "./store";

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const when = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));

function KeyRow({ apiKey, csrf, now }: { apiKey: ApiKeyView; csrf: string; now: number }) {
  const expired = apiKey.expiresAt <= now;
  return (
    <li>
      <strong class="mono">{showText(apiKey.name, MAX_KEY_NAME)}</strong>{" "}
      <span class="muted mono">cs_key_{apiKey.id}_…</span>
      <br />
      <span class="muted small">
        created {day(apiKey.createdAt)} · {expired ? "expired" : "expires"} {day(apiKey.expiresAt)} · last used{" "}
        {when(apiKey.lastUsedAt)}
      </span>
      <form class="inline" method="post" action={`/activity/api-keys/${encodeURIComponent(apiKey.id)}/revoke`}>
        <input type="hidden" name="csrf" value={csrf} />
        <button type="submit">{expired ? "Remove" : "Revoke"}</button>
      </form>
    </li>
  );
}

export function ApiKeysSection({ keys, csrf, now }: { keys: ApiKeyView[]; csrf: string; now: number }) {
  const live = keys.filter((key) => key.expiresAt > now).length;
  return (
    <div class="card" id="api-keys">
      <h2>API keys</h2>
      <p class="muted">
        For a CI job, a script or a server-side agent that cannot sign in with a browser. A key connects like an app:
        every real access still waits for your approval.
      </p>
      {keys.length === 0 ? (
        <p class="muted">No API keys.</p>
      ) : (
        <ul class="scopes">
          {keys.map((apiKey) => (
            <KeyRow apiKey={apiKey} csrf={csrf} now={now} />
          ))}
        </ul>
      )}
      {live >= MAX_API_KEYS ? (
        <p class="muted">{`You have ${MAX_API_KEYS} keys, the most there can be. Revoke one to make another.`}</p>
      ) : (
        <form method="post" action="/activity/api-keys">
          <input type="hidden" name="csrf" value={csrf} />
          <label>
            <span>Client name</span>
            <input type="text" name="name" placeholder="nightly CI" maxlength={MAX_KEY_NAME} required />
          </label>
          <label>
            <span>Expires after (days)</span>
            <input type="number" name="days" value={String(DEFAULT_KEY_DAYS)} min="1" max={String(MAX_KEY_DAYS)} />
          </label>
          <div class="actions">
            <button type="submit">Create key</button>
          </div>
        </form>
      )}
    </div>
  );
}

/** Shown once, right after the key is made: the only time its value appears anywhere. */
export function ApiKeyCreatedPage({ apiKey, value }: { apiKey: ApiKeyView; value: string }) {
  return (
    <Layout title="API key created">
      <div class="card">
        <h1>API key created</h1>
        <p>
          For <strong>{showText(apiKey.name, MAX_KEY_NAME)}</strong>, until {day(apiKey.expiresAt)}. Copy it now: it is
          shown only this once, and Countersign keeps only its hash.
        </p>
        <p class="mono" id="api-key-value">
          {value}
        </p>
        <p class="muted">
          Send it to <span class="mono">/mcp</span> as <span class="mono">Authorization: Bearer &lt;key&gt;</span> or{" "}
          <span class="mono">x-api-key: &lt;key&gt;</span>.
        </p>
        <p class="muted mono">api_key_created</p>
        <p>
          <a href="/activity#api-keys">Back to activity</a>
        </p>
      </div>
    </Layout>
  );
}
