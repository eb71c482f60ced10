/**
 * What the approval page shows beside the request itself, looked up in the signed-in person's
 * own Durable Object: how each provider or upstream server is named, who asks (the client's
 * recorded connection), the plain summary of a one-call approval and its body digest, the
 * request's own link for the QR hand-off, and the accounts a broad request names that still need
 * connecting (connect-notice.tsx). Reads only; the link is rebuilt from the request id, never
 * copied from the URL the browser sent.
 */
import type { Config } from "../config";
import { CSRF_SCOPE } from "../connections/csrf";
import { type BodyDigest, bodyDigest } from "../grants/digest";
import type { Grant } from "../grants/types";
import type { sessionFor } from "../session/user-session";
import type { ServerView } from "../upstream/store";
import { type ClientLabel, clientLabel } from "./client-label";
import { type ConnectNoticeProps, connectOffers } from "./connect-notice";
import { serverLabel } from "./display";
import { approvalPath, csrfToken } from "./link";
import type { ProviderNames } from "./page";
import { type CallSummary, summarizeCall } from "./summary";

export interface PageFacts {
  names: ProviderNames;
  client: ClientLabel;
  summary: CallSummary | null;
  digest: BodyDigest | null;
  link: string;
  connect: ConnectNoticeProps;
}

/** Who is looking, and the bindings that say which provider OAuth apps are configured. */
export interface Viewer {
  userId: string;
  env: object;
}

/**
 * How the page names a provider or an upstream MCP server: a server is named with its host, so
 * a server the assistant added under a familiar-looking name shows where it really is.
 */
export async function providerNames(
  config: Config,
  session: ReturnType<typeof sessionFor>,
): Promise<{ names: ProviderNames; servers: ServerView[] }> {
  const servers = await session.upstreamServers();
  const names = (id: string) => {
    const provider = config.registry.byId(id);
    if (provider) return provider.name;
    const server = servers.find((candidate) => candidate.name === id);
    return server ? serverLabel(server) : id;
  };
  return { names, servers };
}

/** Everything the decision form needs about a pending `grant` besides the grant. */
export async function pageFacts(config: Config, session: ReturnType<typeof sessionFor>, grant: Grant, viewer: Viewer) {
  const [{ names, servers }, connection, digest, path, links, csrf] = await Promise.all([
    providerNames(config, session),
    session.connection(grant.connectionId),
    grant.call ? bodyDigest(grant.call.body) : null,
    approvalPath(config, grant.id),
    grant.kind === "broad" ? session.providerLinks() : [],
    csrfToken(config, viewer.userId, CSRF_SCOPE),
  ]);
  const summary = summarizeCall(grant, { provider: (id) => config.registry.byId(id), servers, names });
  const offers = await connectOffers(config, viewer.env, grant, links, servers);
  const facts: PageFacts = {
    names,
    client: clientLabel(grant.clientName, connection),
    summary,
    digest,
    link: `${config.publicOrigin}${path}`,
    connect: { offers, csrf, returnTo: path },
  };
  return facts;
}
