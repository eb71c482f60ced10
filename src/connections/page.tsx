/**
 * /connections: jump links to the accounts and to each MCP server at the top (so a server is
 * reached without scrolling past every provider), then every provider with its status and the
 * one action that fits it: connect with OAuth, paste an API key, or disconnect (which asks
 * first). The demo provider's key is shown in dev mode.
 */

import type { ProviderLink } from "../providers/links";
import type { ProviderDefinition } from "../providers/types";
import { McpServersSection, ServerJumps, type ServerRow } from "../upstream/page";
import { CsrfField, KeyFields, PostButton } from "../web/forms";
import { Layout } from "../web/layout";

export interface ProviderRow {
  provider: ProviderDefinition;
  link: ProviderLink | undefined;
  configured: boolean;
  /** Pre-filled key (the built-in demo only). */
  demoKey?: string;
}

function Action({ row, csrf }: { row: ProviderRow; csrf: string }) {
  const { provider, link } = row;
  const id = encodeURIComponent(provider.id);
  if (link) {
    return (
      <form class="inline" method="post" action={`/connections/${id}/disconnect`}>
        <CsrfField csrf={csrf} />
        {link.status === "reauth_required" ? <p class="warn">Needs reconnecting.</p> : null}
        <button type="submit">Disconnect</button>
      </form>
    );
  }
  if (provider.auth.kind === "oauth2") {
    if (!row.configured) {
      const name = provider.id.toUpperCase().replace(/-/g, "_");
      return (
        <p class="muted">
          Not configured on this server (set <span class="mono">{`${name}_CLIENT_ID`}</span> and{" "}
          <span class="mono">{`${name}_CLIENT_SECRET`}</span>).
        </p>
      );
    }
    return <PostButton action={`/connections/${id}/connect`} csrf={csrf} label="Connect" primary />;
  }
  return (
    <form method="post" action={`/connections/${id}/api-key`}>
      <CsrfField csrf={csrf} />
      <p class="muted">{provider.auth.hint}</p>
      {row.demoKey ? (
        <p>
          Demo key: <span class="mono">{row.demoKey}</span>
        </p>
      ) : null}
      <KeyFields
        id={provider.id}
        hostExample={
          (provider.hostSuffixes ?? []).length > 0 ? `xy12345.us-east-1${provider.hostSuffixes?.[0] ?? ""}` : undefined
        }
        demoKey={row.demoKey}
      />
    </form>
  );
}

export function ConnectionsPage({
  rows,
  servers,
  csrf,
  focus,
  notice,
}: {
  rows: ProviderRow[];
  servers: ServerRow[];
  csrf: string;
  focus?: string;
  notice?: string;
}) {
  return (
    <Layout title="Connections">
      <div class="card">
        <h1>Connections</h1>
        <p class="muted">
          Connected accounts are used only for calls you approve. Tokens are stored encrypted; assistants never see
          them.
        </p>
        {notice ? <p class="warn">{notice}</p> : null}
        <nav class="jump" aria-label="On this page">
          <a href="#providers">Accounts ({rows.length})</a>
          <ServerJumps rows={servers} />
        </nav>
        <h2 id="providers">Accounts</h2>
        <ul class="scopes">
          {rows.map((row) => (
            <li id={`provider-${row.provider.id}`} class={focus === row.provider.id ? "focus" : undefined}>
              <strong>{row.provider.name}</strong>{" "}
              <span class="muted">
                {row.link ? (row.link.status === "connected" ? "connected" : "reconnect needed") : "not connected"}
              </span>
              <Action row={row} csrf={csrf} />
            </li>
          ))}
        </ul>
        <p>
          <a href="/activity">Activity</a>
        </p>
      </div>
      <McpServersSection rows={servers} csrf={csrf} focus={focus} />
    </Layout>
  );
}
