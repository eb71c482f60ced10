/**
 * The question a connect ends on: which of a server's tools that say they only read may run as
 * reads. Lists exactly those tools (name, title and description as the server's text, never as
 * links), says what accepting and not accepting mean, and offers the ticked ones, all, or none.
 * Markup only; the route checks what comes back (src/upstream/reads.ts).
 */
import { CsrfField, SubmitRow } from "../web/forms";
import { Layout } from "../web/layout";
import type { ServerView } from "./store";
import { cleanText } from "./tools";

export interface ReadsPageProps {
  server: ServerView;
  /** The tools that say they only read, in the server's order. */
  claims: ServerView["tools"];
  /** The tools accepted so far (ticked). */
  accepted: readonly string[];
  csrf: string;
  /** The id of the request whose approval page the connect started from, to go back to once answered. */
  requestId?: string;
}

export function ReadsPage({ server, claims, accepted, csrf, requestId }: ReadsPageProps) {
  const action = `/connections/mcp/${encodeURIComponent(server.name)}/reads`;
  const others = server.tools.length - claims.length;
  return (
    <Layout title={`Reads of ${server.title}`}>
      <div class="card">
        <h1>Which {server.title} tools may run as reads?</h1>
        <p>
          {server.title} says {claims.length === 1 ? "this tool only reads" : `these ${claims.length} tools only read`}.
          Countersign cannot check that: accept only the tools you trust to change nothing.
        </p>
        <p>
          <strong>Accepted:</strong> the tool runs when you have allowed reads on {server.name}, like any other read.
        </p>
        <p>
          <strong>Not accepted:</strong> the tool counts as a write. Each call asks you first, unless you have allowed
          writes on {server.name}.
        </p>
        {others > 0 ? (
          <p class="muted">
            Its other {others === 1 ? "tool does" : `${others} tools do`} not say {others === 1 ? "it" : "they"} only
            read, so {others === 1 ? "it counts" : "they count"} as writes.
          </p>
        ) : null}
        <form method="post" action={action}>
          <CsrfField csrf={csrf} />
          {requestId ? <input type="hidden" name="request" value={requestId} /> : null}
          <ul class="reads">
            {claims.map((tool) => {
              const title = cleanText(tool.title ?? tool.annotations?.title, 120);
              const description = cleanText(tool.description, 240);
              return (
                <li>
                  <label>
                    <input type="checkbox" name="tools" value={tool.name} checked={accepted.includes(tool.name)} />
                    <span>
                      <span class="mono">{tool.name}</span>
                      {title && title !== tool.name ? <strong> {title}</strong> : null}
                      {description ? (
                        <>
                          <br />
                          <span class="muted">The server says: {description}</span>
                        </>
                      ) : null}
                    </span>
                  </label>
                </li>
              );
            })}
          </ul>
          <SubmitRow label="Accept the ticked tools" />
        </form>
        <form method="post" action={action}>
          <CsrfField csrf={csrf} />
          {requestId ? <input type="hidden" name="request" value={requestId} /> : null}
          {claims.map((tool) => (
            <input type="hidden" name="tools" value={tool.name} />
          ))}
          <SubmitRow label={`Accept all ${claims.length}`} primary={false} />
        </form>
        <form method="post" action={action}>
          <CsrfField csrf={csrf} />
          {requestId ? <input type="hidden" name="request" value={requestId} /> : null}
          <SubmitRow label="Accept none: every call asks" primary={false} />
        </form>
      </div>
    </Layout>
  );
}
