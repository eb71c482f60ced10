/**
 * Approve and connect: when a broad request names a provider or an upstream MCP server the
 * person has not connected (or must reconnect), the approval page says so above the decision and
 * offers, below it, the connect form that fits (OAuth, or a pasted key), posted to the
 * /connections routes with `return_to` set to this request's own approval path, so the browser
 * comes back here with the request still pending. Reads only; the path is rebuilt from the
 * request id (approvals/link.ts), never copied from the URL the browser sent. No form here sits
 * inside the decision form, and none carries the link token under the decision form's names.
 */
import type { Config } from "../config";
import { DEMO_PROVIDER_ID, demoApiKey } from "../demo/demo-provider";
import type { Grant } from "../grants/types";
import { providerApp } from "../providers/apps";
import type { ProviderLink } from "../providers/links";
import type { ServerView } from "../upstream/store";
import { CsrfField, KeyFields, SubmitRow } from "../web/forms";
import { serverLabel, showText } from "./display";

/** One account the request names that cannot be used yet, and how it can be connected. */
export type ConnectOffer =
  | { kind: "oauth"; id: string; name: string; reconnect: boolean }
  | { kind: "api_key"; id: string; name: string; hint: string; hostExample?: string; demoKey?: string }
  | { kind: "unavailable"; id: string; name: string }
  | { kind: "server"; server: ServerView };

/** What the page needs to offer connecting: the offers, the /connections CSRF token, the way back. */
export interface ConnectNoticeProps {
  offers: ConnectOffer[];
  csrf: string;
  returnTo: string;
}

/** Every provider or server a pending broad `grant` names that is not connected, in its order. */
export async function connectOffers(
  config: Config,
  env: object,
  grant: Grant,
  links: ProviderLink[],
  servers: ServerView[],
): Promise<ConnectOffer[]> {
  if (grant.kind !== "broad" || grant.status !== "pending") return [];
  const offers: ConnectOffer[] = [];
  for (const id of grant.requestedProviders) {
    const provider = config.registry.byId(id);
    if (provider) {
      const link = links.find((candidate) => candidate.providerId === id);
      if (link?.status === "connected") continue;
      const { name, auth } = provider;
      if (auth.kind === "api_key") {
        const hostExample = provider.hostSuffixes?.[0];
        const demoKey = config.devMode && id === DEMO_PROVIDER_ID ? await demoApiKey(config) : undefined;
        offers.push({
          kind: "api_key",
          id,
          name,
          hint: demoKey ? "The demo key is filled in: save it." : auth.hint,
          ...(hostExample ? { hostExample: `xy12345.us-east-1${hostExample}` } : {}),
          ...(demoKey ? { demoKey } : {}),
        });
      } else if (providerApp(env, id)) {
        offers.push({ kind: "oauth", id, name, reconnect: link !== undefined });
      } else offers.push({ kind: "unavailable", id, name });
      continue;
    }
    const server = servers.find((candidate) => candidate.name === id);
    if (server && server.status !== "connected") offers.push({ kind: "server", server });
  }
  return offers;
}

const offerName = (offer: ConnectOffer) =>
  showText(offer.kind === "server" ? serverLabel(offer.server) : offer.name, 200);

function statusText(offer: ConnectOffer): string {
  if (offer.kind === "oauth" && offer.reconnect) return "reconnect needed";
  if (offer.kind !== "server") return "not connected";
  if (offer.server.status === "reauth_required") return "reconnect needed";
  return offer.server.status === "error" ? "not reachable" : "not connected";
}

const isConnectable = (offer: ConnectOffer) => offer.kind !== "unavailable";

/** The warning above the decision: which accounts cannot be used yet, and where to connect them. */
export function ConnectWarning({ offers }: { offers: ConnectOffer[] }) {
  if (offers.length === 0) return null;
  const connectable = offers.some(isConnectable);
  return (
    <p class="warn" data-connect-warning>
      Not connected yet: {offers.map(offerName).join(", ")}. Access you approve to an account that is not connected
      cannot be used until you connect it.{" "}
      {connectable ? (
        <>
          <a href="#connect">Connect it below</a>, then decide here.
        </>
      ) : (
        "It cannot be connected on this server."
      )}
    </p>
  );
}

/** The hidden fields every connect form here carries: the /connections CSRF token and the way back. */
function Back({ csrf, returnTo }: { csrf: string; returnTo: string }) {
  return (
    <>
      <CsrfField csrf={csrf} />
      <input type="hidden" name="return_to" value={returnTo} />
    </>
  );
}

function ServerOffer({ server, csrf, returnTo }: { server: ServerView; csrf: string; returnTo: string }) {
  const base = `/connections/mcp/${encodeURIComponent(server.name)}`;
  const label = server.status === "reauth_required" ? "Reconnect" : server.status === "error" ? "Try again" : "Connect";
  const keyed = server.auth !== "oauth";
  return (
    <>
      <form class="inline" method="post" action={`${base}/connect`}>
        <Back csrf={csrf} returnTo={returnTo} />
        <button class="primary" type="submit">
          {label} {showText(server.title, 80)}
        </button>
      </form>
      {keyed ? (
        <details>
          <summary>Use an API key instead</summary>
          <form method="post" action={`${base}/api-key`}>
            <Back csrf={csrf} returnTo={returnTo} />
            <label for={`connect-key-${server.name}`}>API key</label>
            <input id={`connect-key-${server.name}`} type="password" name="api_key" autocomplete="off" required />
            <label for={`connect-header-${server.name}`}>Header</label>
            <input id={`connect-header-${server.name}`} type="text" name="header" value="Authorization" required />
            <SubmitRow label="Save key" />
          </form>
        </details>
      ) : null}
    </>
  );
}

function Offer({ offer, csrf, returnTo }: { offer: ConnectOffer; csrf: string; returnTo: string }) {
  if (offer.kind === "server") return <ServerOffer server={offer.server} csrf={csrf} returnTo={returnTo} />;
  const action = `/connections/${encodeURIComponent(offer.id)}`;
  if (offer.kind === "unavailable") {
    return <p class="muted">It cannot be connected on this server: its OAuth app is not configured.</p>;
  }
  if (offer.kind === "oauth") {
    return (
      <form class="inline" method="post" action={`${action}/connect`}>
        <Back csrf={csrf} returnTo={returnTo} />
        <button class="primary" type="submit">
          {offer.reconnect ? "Reconnect" : "Connect"} {offer.name}
        </button>
      </form>
    );
  }
  return (
    <form method="post" action={`${action}/api-key`}>
      <Back csrf={csrf} returnTo={returnTo} />
      <p class="muted">{offer.hint}</p>
      <KeyFields id={`connect-${offer.id}`} hostExample={offer.hostExample} demoKey={offer.demoKey} />
    </form>
  );
}

/** The card below the decision: one connect form per account, each coming back to this page. */
export function ConnectCard({ offers, csrf, returnTo }: ConnectNoticeProps) {
  // With nothing to connect here, the warning above says it all.
  if (!offers.some(isConnectable)) return null;
  return (
    <div class="card" id="connect">
      <h2>Connect first</h2>
      <p class="muted">
        Connecting brings you back to this request, still waiting for your decision. Tokens and keys are stored
        encrypted; the assistant never sees them.
      </p>
      <ul class="scopes">
        {offers.map((offer) => (
          <li id={`connect-${offer.kind === "server" ? offer.server.name : offer.id}`}>
            <strong>{offerName(offer)}</strong> <span class="muted">{statusText(offer)}</span>
            <Offer offer={offer} csrf={csrf} returnTo={returnTo} />
          </li>
        ))}
      </ul>
    </div>
  );
}
