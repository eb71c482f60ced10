/**
 * The approval page a person opens on their phone, and the outcome page. Server-rendered, no
 * script, mobile first. Everything the agent wrote is shown as escaped text with hidden
 * characters made visible (see display.ts): the reason, the path, the headers, the body and the
 * tool arguments, each exactly as it will be sent. No link is ever built from agent input.
 * It opens with who asks (client-label.tsx) and, for one call, a plain summary (summary.tsx);
 * on a wide screen it offers the same link as a QR code (qr.tsx); a broad request naming an
 * account that is not connected warns above the decision and offers to connect it below
 * (connect-notice.tsx).
 */
import type { BodyDigest } from "../grants/digest";
import { secondsLeft } from "../grants/transitions";
import type { CanonicalCall, Grant, GrantPolicy } from "../grants/types";
import { toolCallOf } from "../upstream/tools";
import { ChoiceSelect, DecisionButtons } from "../web/forms";
import { Layout } from "../web/layout";
import { type ClientLabel, ClientLabelList } from "./client-label";
import { ConnectCard, type ConnectNoticeProps, ConnectWarning } from "./connect-notice";
import { showBody, showDuration, showText, showUrl } from "./display";
import { PhoneHandoff } from "./qr";
import { type CallSummary, SummaryList } from "./summary";

const STATUS_TITLE: Record<Grant["status"], string> = {
  pending: "Waiting for you",
  approved: "Approved",
  denied: "Denied",
  expired: "Expired",
  consumed: "Used",
  revoked: "Revoked",
};

/** The body's digest, as check_access_request reports it to the assistant. */
function DigestLine({ digest }: { digest: BodyDigest | null }) {
  if (!digest) return null;
  return (
    <p class="muted small">
      {digest.bytes} bytes, SHA-256 <span class="mono">{digest.sha256}</span>…
    </p>
  );
}

function ToolCallDetails({
  call,
  server,
  tool,
  names,
  digest,
}: {
  call: CanonicalCall;
  server: string;
  tool: string;
  names: ProviderNames;
  digest: BodyDigest | null;
}) {
  return (
    <div>
      <p>
        <strong>One tool call, once</strong>
      </p>
      <p>
        MCP server: <strong class="mono">{showText(names(server), 200)}</strong>
      </p>
      <p>
        Tool: <strong class="mono">{showText(tool, 200)}</strong>
      </p>
      <p>Arguments:</p>
      <pre class="body">{showBody(call.body)}</pre>
      <DigestLine digest={digest} />
    </div>
  );
}

function CallDetails({ grant, names, digest }: { grant: Grant; names: ProviderNames; digest: BodyDigest | null }) {
  if (!grant.call) return null;
  const tool = toolCallOf(grant.call);
  if (tool) {
    return <ToolCallDetails call={grant.call} server={tool.server} tool={tool.tool} names={names} digest={digest} />;
  }
  const url = showUrl(grant.call.url);
  return (
    <div>
      <p>
        <strong>One call, once:</strong> <span class="mono">{grant.call.method}</span>
      </p>
      {url.long ? (
        <p>
          Host: <strong>{showText(names(grant.requestedProviders[0] ?? ""), 80)}</strong> at{" "}
          <strong class="mono">{url.domain}</strong>
          <br />
          <span class="mono small">{url.host}</span>
        </p>
      ) : (
        <p>
          Host: <strong class="mono">{url.host}</strong>
        </p>
      )}
      {url.idn ? <p class="warn">This host uses international characters; check it is the site you expect.</p> : null}
      <p>
        Path: <span class="mono">{url.path}</span>
      </p>
      {url.decoded !== null ? (
        <p>
          Path decoded: <span class="mono">{url.decoded}</span>
        </p>
      ) : null}
      {url.query.length > 0 ? (
        <ul class="plain">
          {url.query.map(([key, value]) => (
            <li class="mono">
              {key} = {value}
            </li>
          ))}
        </ul>
      ) : null}
      {grant.call.headers.length > 0 ? (
        <ul class="plain">
          {grant.call.headers.map((header) => (
            <li class="mono">
              {showText(header.name, 200)}: {showText(header.value, 4096)}
            </li>
          ))}
        </ul>
      ) : null}
      {grant.call.body ? <pre class="body">{showBody(grant.call.body)}</pre> : null}
      <DigestLine digest={digest} />
    </div>
  );
}

/** Display name of a provider id (custom and demo providers included). */
export type ProviderNames = (id: string) => string;

function BroadChoices({ grant, policy, names }: { grant: Grant; policy: GrantPolicy; names: ProviderNames }) {
  const durations = [...new Set([...policy.durationChoices, grant.requestedDurationSeconds])].sort((a, b) => a - b);
  return (
    <div>
      <p>
        <strong>Which accounts</strong> <span class="muted">(untick any you don't want to share)</span>
      </p>
      <ul class="scopes">
        {grant.requestedProviders.map((id) => (
          <li>
            <label>
              <input type="checkbox" name="providers" value={id} checked />
              <span>{names(id)}</span>
            </label>
          </li>
        ))}
      </ul>
      <p>
        <strong>What it may do</strong>
      </p>
      <label>
        <input type="radio" name="level" value="read" checked={grant.requestedLevel === "read"} />
        <span>Read only</span>
      </label>
      {grant.requestedLevel === "write" ? (
        <label>
          <input type="radio" name="level" value="write" checked />
          <span>Read and change (write)</span>
        </label>
      ) : null}
      <ChoiceSelect
        id="duration"
        name="duration"
        label="For how long"
        choices={durations}
        selected={grant.requestedDurationSeconds}
        show={showDuration}
      />
    </div>
  );
}

/** The hours a standing rule may be made for from this page (RULE_MAX_HOURS caps them). */
export interface RuleHours {
  choices: number[];
  preselected: number;
}

const hoursLabel = (hours: number) => (hours === 1 ? "1 hour" : `${hours} hours`);

/**
 * "Also allow this without asking": unticked by default. The rule it makes is cut from what is
 * approved (the ticked accounts at the chosen level), so it is never wider than the approval.
 */
function StandingRuleChoice({ grant, hours, names }: { grant: Grant; hours: RuleHours; names: ProviderNames }) {
  const scope =
    grant.kind === "call"
      ? `${grant.requestedLevel === "write" ? "Any read or write" : "Any read"} on ${grant.requestedProviders.map(names).join(", ")}, not only this call.`
      : "It covers the accounts and the level you approve above.";
  return (
    <div>
      <p>
        <strong>Don't ask again</strong> <span class="muted">(optional)</span>
      </p>
      <label>
        <input type="checkbox" name="standing" value="yes" />
        <span>
          Also allow this for
          <select name="standing_hours" aria-label="How many hours">
            {hours.choices.map((choice) => (
              <option value={String(choice)} selected={choice === hours.preselected}>
                {hoursLabel(choice)}
              </option>
            ))}
          </select>
          without asking
        </span>
      </label>
      <p class="muted small">
        For <span class="mono">{showText(grant.clientName, 80)}</span> only. {scope} You can remove it on Activity.
      </p>
    </div>
  );
}

export interface ApprovalPageProps {
  grant: Grant;
  token: string;
  csrf: string;
  policy: GrantPolicy;
  now: number;
  names: ProviderNames;
  ruleHours: RuleHours;
  /** Who asks: the client's own name beside where its tokens go. */
  client: ClientLabel;
  /** The plain summary of a one-call approval (null for a broad request). */
  summary: CallSummary | null;
  /** The digest of a one-call approval's body or arguments (null without one). */
  digest: BodyDigest | null;
  /** This request's approval link, offered as a QR code on wide screens. */
  link: string;
  /** The accounts the request names that are not connected, with their connect forms. */
  connect: ConnectNoticeProps;
  /** Why the last submission was refused, shown above the form. */
  error?: string;
}

/** The decision form for a pending request. */
export function ApprovalPage(props: ApprovalPageProps) {
  const { grant, token, csrf, policy, now, names, ruleHours, error } = props;
  const left = Math.max(0, Math.ceil((grant.pendingExpiresAt - now) / 1000));
  return (
    <Layout title="Approve access">
      <PhoneHandoff link={props.link} />
      <div class="card">
        <h1>
          <span class="mono">{showText(grant.clientName, 80)}</span> asks for access
        </h1>
        <ClientLabelList label={props.client} />
        {error ? <p class="warn">{error}</p> : null}
        {props.summary ? <SummaryList summary={props.summary} /> : null}
        <p class="muted">Why, in the assistant's words:</p>
        <pre class="reason">{showText(grant.reason, 2000)}</pre>
        <ConnectWarning offers={props.connect.offers} />
        <form method="post" action={`/approve/${encodeURIComponent(grant.id)}`}>
          <input type="hidden" name="t" value={token} />
          <input type="hidden" name="csrf" value={csrf} />
          {grant.kind === "call" ? (
            <CallDetails grant={grant} names={names} digest={props.digest} />
          ) : (
            <BroadChoices grant={grant} policy={policy} names={names} />
          )}
          <p>
            <label for="note">
              <strong>Notes for the assistant</strong> <span class="muted">(optional)</span>
            </label>
          </p>
          <textarea id="note" name="note" maxlength={1000} rows={3} />
          <StandingRuleChoice grant={grant} hours={ruleHours} names={names} />
          <p class="muted">This request expires in {showDuration(left)} if you do nothing.</p>
          <DecisionButtons deny="Deny" approve="Approve" />
        </form>
      </div>
      <ConnectCard {...props.connect} />
    </Layout>
  );
}

/** The states a person's own decision leads to (an expiry or a revocation is not one). */
const DECIDED: readonly Grant["status"][] = ["approved", "denied", "consumed"];

/** What became of a request: shown after deciding, or when the link is opened again. */
function describeCall(call: CanonicalCall): string {
  const tool = toolCallOf(call);
  if (tool) return `one call of ${showText(tool.tool, 200)} on ${tool.server}`;
  return `one ${call.method} call to ${showUrl(call.url).host}`;
}

export function OutcomePage({
  grant,
  now,
  names,
  message,
  ruleNote,
}: {
  grant: Grant;
  now: number;
  names: ProviderNames;
  message?: string;
  /** What the "also allow" box added: the rules made, or why none was. */
  ruleNote?: string;
}) {
  const what =
    grant.kind === "call" && grant.call
      ? describeCall(grant.call)
      : `${grant.level ?? grant.requestedLevel} access to ${(grant.providers.length
          ? grant.providers
          : grant.requestedProviders
        )
          .map(names)
          .join(", ")}`;
  return (
    <Layout title={STATUS_TITLE[grant.status]}>
      <div class="card">
        <h1>{STATUS_TITLE[grant.status]}</h1>
        {message ? <p class="warn">{message}</p> : null}
        <p>
          <span class="mono">{showText(grant.clientName, 80)}</span>: {what}.
        </p>
        {grant.status === "approved" ? <p>Access ends in {showDuration(secondsLeft(grant, now))}.</p> : null}
        {grant.note ? <p class="muted">Your note: {showText(grant.note, 1000)}</p> : null}
        {ruleNote ? <p class="muted">{ruleNote}</p> : null}
        {DECIDED.includes(grant.status) ? (
          <p class="done">
            You can return to your assistant now. It learns your decision on its own: there is nothing to copy back.
          </p>
        ) : null}
        <p>
          <a href="/activity">See all activity</a>
        </p>
      </div>
    </Layout>
  );
}
