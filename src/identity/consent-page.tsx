/**
 * The consent page MCP clients send a person to. It names the client (and its verified domain
 * for a Client ID Metadata Document client), where the tokens will go, and the scopes; every
 * value comes from the client, so all of it is rendered through escaping JSX, never as HTML.
 * The form carries only the consent handle; the request itself stays on the server.
 */
import type { ConsentDescription } from "@cloudflare/workers-oauth-provider";
import { DecisionButtons } from "../web/forms";
import { Layout } from "../web/layout";
import type { SignedInUser } from "./user";

/** Human wording for each scope we grant. Unknown scopes are shown by name. */
export const SCOPE_DESCRIPTIONS: Record<string, string> = {
  mcp: "Use Countersign's tools: see who you are, and ask you before it touches any of your accounts.",
  offline_access: "Stay connected without asking you to sign in again (until you disconnect it).",
};

export interface ConsentPageProps {
  details: ConsentDescription;
  handle: string;
  user: SignedInUser | null;
}

const MAX_SHOWN = 120;
const clip = (text: string) => (text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);

export function ConsentPage({ details, handle, user }: ConsentPageProps) {
  const name = clip(details.clientName);
  return (
    <Layout title={`Connect ${name}`}>
      <div class="card">
        <h1>
          Allow <span class="mono">{name}</span> to use Countersign for you?
        </h1>
        {details.clientDomain ? (
          <p>
            Published by <strong>{clip(details.clientDomain)}</strong> (verified).
          </p>
        ) : (
          <p class="muted">This app registered itself; its name is not verified.</p>
        )}
        <p>
          Access will be sent to <strong class="mono">{clip(details.redirectHost)}</strong>.
        </p>
        {details.redirectIsLoopback ? (
          <p class="warn">
            This sends access to an app on your computer. Continue only if you just started connecting from it.
          </p>
        ) : null}
        <form method="post" action="/authorize">
          <input type="hidden" name="handle" value={handle} />
          <ul class="scopes">
            {details.scope.map((scope) => (
              <li>
                <label>
                  <input type="checkbox" name="scope" value={scope} checked />
                  <span>
                    <strong class="mono">{clip(scope)}</strong>
                    <br />
                    <span class="muted">{SCOPE_DESCRIPTIONS[scope] ?? "Requested by the app."}</span>
                  </span>
                </label>
              </li>
            ))}
          </ul>
          <label>
            <input type="checkbox" name="remember" value="yes" checked />
            <span class="muted">Don't ask again for this app (you can disconnect it later).</span>
          </label>
          <p class="muted">
            {user ? `Signed in as ${user.email ?? user.subject}.` : "You will sign in next."} Connecting gives the app
            no access to your accounts by itself: each access is asked for, and you approve it on your phone.
          </p>
          <DecisionButtons deny="Cancel" approve="Allow" />
        </form>
      </div>
    </Layout>
  );
}
