/**
 * What the approval page shows beside the request itself, looked up in the signed-in person's
 * own Durable Object: how each provider or upstream server is named, who asks (the client's
 * recorded connection), the plain summary of a one-call approval and its body digest, and the
 * request's own link for the QR hand-off. Reads only; the link is rebuilt from the request id,
 * never copied from the URL the browser sent.
 */
import type { Config } from "../config";
import { type BodyDigest, bodyDigest } from "../grants/digest";
import type { Grant } from "../grants/types";
import type { sessionFor } from "../session/user-session";
import type { ServerView } from "../upstream/store";
import { type ClientLabel, clientLabel } from "./client-label";
import { approvalUrl } from "./link";
import type { ProviderNames } from "./page";
import { type CallSummary, summarizeCall } from "./summary";

export interface PageFacts {
  names: ProviderNames;
  client: ClientLabel;
  summary: CallSummary | null;
  digest: BodyDigest | null;
  link: string;
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
    return server ? `${server.title} (MCP server at ${new URL(server.url).host})` : id;
  };
  return { names, servers };
}

/** Everything the decision form needs about a pending `grant` besides the grant. */
export async function pageFacts(config: Config, session: ReturnType<typeof sessionFor>, grant: Grant) {
  const [{ names, servers }, connection, digest, link] = await Promise.all([
    providerNames(config, session),
    session.connection(grant.connectionId),
    grant.call ? bodyDigest(grant.call.body) : null,
    approvalUrl(config, grant.id),
  ]);
  const summary = summarizeCall(grant, { provider: (id) => config.registry.byId(id), servers, names });
  const facts: PageFacts = { names, client: clientLabel(grant.clientName, connection), summary, digest, link };
  return facts;
}
