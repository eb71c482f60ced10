/**
 * /activity: what assistants asked for, what is live right now and for how long, which apps are
 * connected, and the full history. Every button is a POST form carrying a CSRF token.
 */
import { ApiKeysSection } from "../apikeys/section";
import type { ApiKeyView } from "../apikeys/store";
import { showDuration, showText } from "../approvals/display";
import type { ProviderNames } from "../approvals/page";
import { secondsLeft } from "../grants/transitions";
import type { Grant } from "../grants/types";
import type { SignedInUser } from "../identity/user";
import type { NotifyView } from "../notify/notifier";
import { NotifySection } from "../notify/section";
import type { Activity } from "../session/activity";
import type { AuditEntry } from "../session/audit-log";
import { Layout } from "../web/layout";
import { ExtendButton, RevokeEverything, type RuleChoices, RulesSection } from "./rules-section";

const when = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));

function what(grant: Grant, names: ProviderNames): string {
  if (grant.kind === "call" && grant.call) return `${grant.call.method} ${grant.call.url}`;
  const providers = grant.status === "pending" ? grant.requestedProviders : grant.providers;
  const level = grant.level ?? grant.requestedLevel;
  return `${level} · ${providers.map(names).join(", ")}`;
}

function GrantRow(props: { grant: Grant; csrf: string; now: number; action: string; names: ProviderNames }) {
  const { grant, csrf, now, action, names } = props;
  const left =
    grant.status === "pending"
      ? `expires in ${showDuration(Math.max(0, Math.ceil((grant.pendingExpiresAt - now) / 1000)))}`
      : `${showDuration(secondsLeft(grant, now))} left`;
  return (
    <li>
      <strong class="mono">{showText(grant.clientName, 60)}</strong>:{" "}
      <span class="mono">{showText(what(grant, names), 200)}</span>
      <br />
      <span class="muted">
        {showText(grant.reason, 200)} · {left}
      </span>
      <form class="inline" method="post" action={`/activity/grants/${encodeURIComponent(grant.id)}/revoke`}>
        <input type="hidden" name="csrf" value={csrf} />
        <button type="submit">{action}</button>
      </form>
      <ExtendButton grant={grant} csrf={csrf} />
    </li>
  );
}

function HistoryItem({ entry }: { entry: AuditEntry }) {
  const detail = Object.entries(entry.detail)
    .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(", ") : String(value)}`)
    .join(" · ");
  return (
    <li>
      <span class="muted mono">{when(entry.at)}</span> <strong>{entry.event.replace("_", " ")}</strong>{" "}
      <span class="muted">by {entry.actor}</span>
      <br />
      <span class="small">
        {showText(entry.clientName ?? "", 60)} {entry.grantId ? <span class="mono">{entry.grantId}</span> : null}
      </span>
      {detail ? (
        <>
          <br />
          <span class="small mono">{showText(detail, 300)}</span>
        </>
      ) : null}
    </li>
  );
}

export function ActivityPage({
  user,
  activity,
  notify,
  csrf,
  now,
  names,
  rules,
  apiKeys,
}: {
  user: SignedInUser;
  activity: Activity;
  notify: NotifyView;
  csrf: string;
  now: number;
  names: ProviderNames;
  rules: RuleChoices;
  apiKeys: ApiKeyView[];
}) {
  const connections = activity.connections.filter((connection) => connection.revokedAt === null);
  return (
    <Layout title="Activity" script>
      <div class="card">
        <h1>Activity</h1>
        <p class="muted">
          Signed in as {user.email ?? user.subject}. <a href="/connections">Connections</a>
        </p>
        <h2>Waiting for you</h2>
        {activity.pending.length === 0 ? (
          <p class="muted">No requests are waiting.</p>
        ) : (
          <ul class="scopes">
            {activity.pending.map((grant) => (
              <GrantRow grant={grant} csrf={csrf} now={now} action="Cancel" names={names} />
            ))}
          </ul>
        )}
        <h2>Live access</h2>
        {activity.live.length === 0 ? (
          <p class="muted">No assistant holds any access right now.</p>
        ) : (
          <ul class="scopes">
            {activity.live.map((grant) => (
              <GrantRow grant={grant} csrf={csrf} now={now} action="Revoke" names={names} />
            ))}
          </ul>
        )}
        <RevokeEverything csrf={csrf} />
        <h2>Connected apps</h2>
        {connections.length === 0 ? (
          <p class="muted">No apps are connected.</p>
        ) : (
          <ul class="scopes">
            {connections.map((connection) => (
              <li>
                <strong class="mono">{showText(connection.clientName, 80)}</strong>
                <br />
                <span class="muted">
                  connected {when(connection.authorizedAt)} · last used {when(connection.lastSeenAt)}
                </span>
                <form
                  class="inline"
                  method="post"
                  action={`/activity/connections/${encodeURIComponent(connection.connectionId)}/revoke`}
                >
                  <input type="hidden" name="csrf" value={csrf} />
                  <button type="submit">Disconnect</button>
                </form>
              </li>
            ))}
          </ul>
        )}
      </div>
      <NotifySection view={notify} csrf={csrf} />
      <ApiKeysSection keys={apiKeys} csrf={csrf} now={now} />
      <RulesSection {...rules} rules={activity.rules} connections={connections} csrf={csrf} now={now} />
      <div class="card">
        <h2>History</h2>
        <p>
          <a href="/activity/export.json">Export everything as JSON</a>
        </p>
        <ul class="scopes history">
          {activity.history.map((entry) => (
            <HistoryItem entry={entry} />
          ))}
        </ul>
      </div>
      <div class="card">
        <h2>Delete my data</h2>
        <p class="muted">Disconnects every app, ends all access and erases your history here.</p>
        <form method="post" action="/activity/delete">
          <input type="hidden" name="csrf" value={csrf} />
          <label>
            <input type="checkbox" name="confirm" value="yes" />
            <span>I understand this cannot be undone.</span>
          </label>
          <div class="actions">
            <button type="submit">Delete everything</button>
          </div>
        </form>
      </div>
    </Layout>
  );
}
