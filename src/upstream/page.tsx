/**
 * The "MCP servers" part of /connections: each upstream server with its status and tools, the
 * one action that fits it (connect with OAuth, paste an API key, reconnect, refresh, disconnect,
 * remove), how many of its reads the person accepted (with the way to the reads question), and a
 * form to add a server; plus the jump links to each server at the top of /connections. Server
 * URLs are shown as text, never as links; nothing an upstream sent (metadata endpoints, tool
 * text) becomes a link.
 */
import { CsrfField, PostButton, SubmitRow } from "../web/forms";
import { readClaims } from "./reads";
import type { ServerView as UpstreamServer } from "./store";

const STATUS_TEXT: Record<UpstreamServer["status"], string> = {
  connected: "connected",
  not_connected: "not connected",
  reauth_required: "reconnect needed",
  error: "not reachable",
};

function Connect({ server, csrf, base }: { server: UpstreamServer; csrf: string; base: string }) {
  if (server.status === "connected" && server.auth !== "unknown") return null;
  if (server.auth === "api_key" || server.auth === "none" || server.auth === "unknown") {
    return (
      <>
        <PostButton
          action={`${base}/connect`}
          csrf={csrf}
          label={server.status === "error" ? "Try again" : "Connect"}
          primary
        />
        <details>
          <summary>Use an API key instead</summary>
          <form method="post" action={`${base}/api-key`}>
            <CsrfField csrf={csrf} />
            <label for={`mcp-key-${server.name}`}>API key</label>
            <input id={`mcp-key-${server.name}`} type="password" name="api_key" autocomplete="off" required />
            <label for={`mcp-header-${server.name}`}>Header</label>
            <input id={`mcp-header-${server.name}`} type="text" name="header" value="Authorization" required />
            <SubmitRow label="Save key" />
          </form>
        </details>
      </>
    );
  }
  return (
    <>
      <PostButton
        action={`${base}/connect`}
        csrf={csrf}
        label={server.status === "reauth_required" ? "Reconnect" : "Connect"}
        primary
      />
      {server.source === "user" ? (
        <details>
          <summary>Use a client you registered yourself</summary>
          <form method="post" action={`${base}/connect`}>
            <CsrfField csrf={csrf} />
            <label for={`mcp-client-${server.name}`}>Client ID</label>
            <input id={`mcp-client-${server.name}`} type="text" name="client_id" autocomplete="off" required />
            <label for={`mcp-secret-${server.name}`}>Client secret (optional)</label>
            <input id={`mcp-secret-${server.name}`} type="password" name="client_secret" autocomplete="off" />
            <SubmitRow label="Connect with this client" />
          </form>
        </details>
      ) : null}
    </>
  );
}

function Reads({ server, base, accepted }: { server: UpstreamServer; base: string; accepted: string[] }) {
  if (server.status !== "connected" || server.tools.length === 0) return null;
  const claims = readClaims(server.tools);
  return (
    <>
      {server.source === "user" && claims.length > 0 ? (
        <p class={accepted.length === 0 ? "warn" : "muted"}>
          {claims.length === 1 ? "1 tool says it only reads" : `${claims.length} tools say they only read`};{" "}
          {accepted.length === 0
            ? "none accepted as reads, so each of their calls asks you first."
            : `${accepted.length} accepted as reads.`}{" "}
          <a href={`${base}/reads`}>Choose reads</a>
        </p>
      ) : null}
      <details>
        <summary>
          {server.tools.length} tools; {accepted.length} accepted as reads
        </summary>
        <ul class="plain">
          {server.tools.map((tool) => (
            <li class="mono">
              {tool.name}
              {accepted.includes(tool.name)
                ? " (read)"
                : tool.annotations?.readOnlyHint === true
                  ? " (says read-only)"
                  : ""}
            </li>
          ))}
        </ul>
      </details>
    </>
  );
}

export interface ServerRow {
  server: UpstreamServer;
  accepted: string[];
}

export function McpServersSection({ rows, csrf, focus }: { rows: ServerRow[]; csrf: string; focus?: string }) {
  return (
    <div class="card" id="mcp-servers">
      <h2>MCP servers</h2>
      <p class="muted">
        Remote MCP servers behind your approvals: their tools appear to your assistant as name__tool and run only when
        you allow them.
      </p>
      <ul class="scopes">
        {rows.map(({ server, accepted }) => {
          const base = `/connections/mcp/${encodeURIComponent(server.name)}`;
          return (
            <li id={`server-${server.name}`} class={focus === server.name ? "focus" : undefined}>
              <strong>{server.title}</strong> <span class="muted">({server.name})</span>{" "}
              <span class="muted" data-status={server.status}>
                {STATUS_TEXT[server.status]}
                {server.status === "error" && server.lastError ? ` (${server.lastError})` : ""}
              </span>
              <p class="mono">{server.url}</p>
              <Connect server={server} csrf={csrf} base={base} />
              <Reads server={server} base={base} accepted={accepted} />
              {server.status === "connected" ? (
                <PostButton action={`${base}/refresh`} csrf={csrf} label="Refresh tools" />
              ) : null}
              {server.tokenObtainedAt !== null ? (
                <PostButton action={`${base}/disconnect`} csrf={csrf} label="Disconnect" />
              ) : null}
              {server.source === "user" ? <PostButton action={`${base}/remove`} csrf={csrf} label="Remove" /> : null}
            </li>
          );
        })}
      </ul>
      <form method="post" action="/connections/mcp/add">
        <CsrfField csrf={csrf} />
        <label for="mcp-add-name">Name</label>
        <input id="mcp-add-name" type="text" name="name" placeholder="linear" autocomplete="off" required />
        <label for="mcp-add-url">Server URL</label>
        <input
          id="mcp-add-url"
          type="url"
          name="url"
          placeholder="https://mcp.example.com/mcp"
          autocomplete="off"
          required
        />
        <SubmitRow label="Add server" />
      </form>
    </div>
  );
}

/** Links to the MCP servers part and to each server, for the top of /connections. */
export function ServerJumps({ rows }: { rows: ServerRow[] }) {
  return (
    <>
      <a href="#mcp-servers">MCP servers ({rows.length})</a>
      {rows.map(({ server }) => (
        <a href={`#server-${encodeURIComponent(server.name)}`}>{server.title}</a>
      ))}
    </>
  );
}
