/**
 * The /activity pieces for standing rules and quick grant actions: the "Standing rules" card
 * (live rules with Remove, and a form to add one), the "+15 min" button of a live broad grant,
 * and "Revoke everything". Every button is a POST form with the page's CSRF token; the routes
 * are in rules-routes.tsx. Only the person sees or submits these: no tool reaches them.
 *
 * The add form offers a write level only for a never rule: an allow rule that writes can only
 * come from a write approval (the approval page's "also allow" box), and the route refuses one.
 */
import { showText } from "../approvals/display";
import type { RuleHours } from "../approvals/page";
import type { StandingRule } from "../grants/standing-rules";
import type { Grant } from "../grants/types";
import type { Connection } from "../session/connection-store";
import { ChoiceSelect } from "../web/forms";

/** A provider or upstream server a rule can name, with the name the person knows it by. */
export interface RuleTarget {
  id: string;
  name: string;
}

/** What the add form offers, gathered by the route. */
export interface RuleChoices {
  targets: RuleTarget[];
  hours: RuleHours;
}

export interface RulesSectionProps extends RuleChoices {
  rules: StandingRule[];
  /** The person's live client connections. */
  connections: Connection[];
  csrf: string;
  now: number;
}

/** Time left until `endsAt`, in hours and minutes (rounded up to the minute). */
function endsIn(endsAt: number, now: number): string {
  const minutes = Math.max(1, Math.ceil((endsAt - now) / 60_000));
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return `${rest} min`;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

/** How a rule reads: "allow read and write", "never write", "never read or write". */
export function ruleWords(rule: Pick<StandingRule, "effect" | "level">): string {
  if (rule.effect === "allow") return rule.level === "write" ? "allow read and write" : "allow read";
  return rule.level === "write" ? "never write" : "never read or write";
}

function RuleRow({ rule, props }: { rule: StandingRule; props: RulesSectionProps }) {
  const client =
    rule.connectionId === null
      ? "all clients"
      : (props.connections.find((connection) => connection.connectionId === rule.connectionId)?.clientName ??
        "a disconnected app");
  const target = props.targets.find((candidate) => candidate.id === rule.target)?.name ?? rule.target;
  return (
    <li>
      <strong class={rule.effect === "never" ? "warn" : ""}>{ruleWords(rule)}</strong> ·{" "}
      <span class="mono">{showText(target, 80)}</span>
      <br />
      <span class="muted">
        {showText(client, 60)} · ends in {endsIn(rule.endsAt, props.now)}
      </span>
      <form class="inline" method="post" action={`/activity/rules/${encodeURIComponent(rule.id)}/remove`}>
        <input type="hidden" name="csrf" value={props.csrf} />
        <button type="submit">Remove</button>
      </form>
    </li>
  );
}

function AddRuleForm(props: RulesSectionProps) {
  return (
    <form method="post" action="/activity/rules">
      <input type="hidden" name="csrf" value={props.csrf} />
      <p>
        <label for="rule-connection">
          <strong>Which app</strong>
        </label>
      </p>
      <select id="rule-connection" name="connection">
        <option value="all">All my clients</option>
        {props.connections.map((connection) => (
          <option value={connection.connectionId}>{showText(connection.clientName, 60)}</option>
        ))}
      </select>
      <p>
        <label for="rule-target">
          <strong>Where</strong>
        </label>
      </p>
      <select id="rule-target" name="target">
        {props.targets.map((target) => (
          <option value={target.id}>{showText(target.name, 80)}</option>
        ))}
      </select>
      <p>
        <strong>What</strong>
      </p>
      <label>
        <input type="radio" name="rule" value="allow-read" checked />
        <span>Allow reading without asking</span>
      </label>
      <label>
        <input type="radio" name="rule" value="never-write" />
        <span>Never allow writing</span>
      </label>
      <label>
        <input type="radio" name="rule" value="never-read" />
        <span>Never allow anything (read or write)</span>
      </label>
      <ChoiceSelect
        id="rule-hours"
        name="hours"
        label="For how long"
        choices={props.hours.choices}
        selected={props.hours.preselected}
        show={(hours) => (hours === 1 ? "1 hour" : `${hours} hours`)}
      />
      <div class="actions">
        <button type="submit">Add rule</button>
      </div>
    </form>
  );
}

/** The "Standing rules" card: what runs without asking, what never runs, until when. */
export function RulesSection(props: RulesSectionProps) {
  return (
    <div class="card" id="standing-rules">
      <h2>Standing rules</h2>
      <p class="muted">
        An allow rule lets matching calls run without asking you. A never rule refuses them, even under an approval.
        Allowing writes without asking is only offered when you approve a write request.
      </p>
      {props.rules.length === 0 ? (
        <p class="muted">No standing rules.</p>
      ) : (
        <ul class="scopes">
          {props.rules.map((rule) => (
            <RuleRow rule={rule} props={props} />
          ))}
        </ul>
      )}
      {props.targets.length > 0 ? <AddRuleForm {...props} /> : null}
    </div>
  );
}

/** "+15 min" on a live broad grant (a call grant is one exact call and is not extended). */
export function ExtendButton({ grant, csrf }: { grant: Grant; csrf: string }) {
  if (grant.kind !== "broad" || grant.status !== "approved") return null;
  return (
    <form class="inline" method="post" action={`/activity/grants/${encodeURIComponent(grant.id)}/extend`}>
      <input type="hidden" name="csrf" value={csrf} />
      <button type="submit">+15 min</button>
    </form>
  );
}

/** "Revoke everything": every waiting request and live access of every app, and every allow rule. */
export function RevokeEverything({ csrf }: { csrf: string }) {
  return (
    <form method="post" action="/activity/revoke-everything">
      <input type="hidden" name="csrf" value={csrf} />
      <div class="actions">
        <button type="submit">Revoke everything: all access and allow rules</button>
      </div>
      <p class="muted small">Apps stay connected; never rules stay in force.</p>
    </form>
  );
}
