/**
 * The "MCP servers" part of /connections: each upstream server with its status and tools, the
 * one action that fits it (connect with OAuth, paste an API key, reconnect, refresh, disconnect,
 * remove), the reads the person accepts, and a form to add a server. Server URLs are shown as
 * text, never as links; nothing an upstream sent (metadata endpoints, tool text) becomes a link.
 */
import { CsrfField, PostButton, SubmitRow } from "../web/forms";
import type { ServerView as UpstreamServer } from "./store";
import { cleanText } from "./tools";

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

function Reads({
  server,
  csrf,
  base,
  accepted,
}: {
  server: UpstreamServer;
  csrf: string;
  base: string;
  accepted: string[];
}) {
  const claimed = server.tools.filter((tool) => tool.annotations?.readOnlyHint === true);
  if (server.status !== "connected" || server.tools.length === 0) return null;
  return (
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
      {server.source === "user" && claimed.length > 0 ? (
        <form method="post" action={`${base}/reads`}>
          <CsrfField csrf={csrf} />
          <p class="muted">
            Tools below say they only read. Tick the ones you trust to run under a read approval; all others always need
            write approval.
          </p>
          {claimed.map((tool) => (
            <label>
              <input type="checkbox" name="tools" value={tool.name} checked={accepted.includes(tool.name)} />
              <span>
                <span class="mono">{tool.name}</span> <span class="muted">{cleanText(tool.description, 160)}</span>
              </span>
            </label>
          ))}
          <SubmitRow label="Save reads" primary={false} />
        </form>
      ) : null}
    </details>
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
              <Reads server={server} csrf={csrf} base={base} accepted={accepted} />
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
