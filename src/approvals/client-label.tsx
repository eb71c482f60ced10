/**
 * Who is asking, as far as Countersign knows it: the client's name is only what it called itself
 * at registration (anyone can register "Claude"), so the page labels it so and sets beside it
 * where the client's tokens go, the host of the redirect URI the person consented to. A client
 * named like a familiar assistant but sending its tokens elsewhere then reads as what it is.
 * A Client ID Metadata Document client's domain is verified (its client_id is an https URL the
 * OAuth library fetched). Pure; every value is rendered as escaped text.
 */
import { keyClientId } from "../apikeys/key";
import { classifyHost } from "../providers/ssrf";
import type { Connection } from "../session/connection-store";
import { registrableDomain, showText } from "./display";

export type TokensGo =
  | { kind: "redirect"; host: string; domain: string; scheme: string; loopback: boolean; idn: boolean }
  | { kind: "api_key" }
  | { kind: "unrecorded" };

export interface ClientLabel {
  /** The name the client gave itself: unverified. */
  name: string;
  /** The verified domain of a CIMD client, else null. */
  verifiedDomain: string | null;
  tokensGo: TokensGo;
}

const API_KEY_CLIENT = keyClientId("");

function tokensGo(connection: Pick<Connection, "clientId" | "redirectUri"> | null): TokensGo {
  if (connection?.clientId.startsWith(API_KEY_CLIENT)) return { kind: "api_key" };
  if (!connection?.redirectUri) return { kind: "unrecorded" };
  let url: URL;
  try {
    url = new URL(connection.redirectUri);
  } catch {
    return { kind: "unrecorded" };
  }
  const host = url.hostname;
  if (!host) return { kind: "unrecorded" };
  return {
    kind: "redirect",
    host,
    domain: registrableDomain(host),
    scheme: url.protocol.replace(/:$/, ""),
    loopback: classifyHost(host) === "loopback",
    idn: host.split(".").some((label) => label.startsWith("xn--")),
  };
}

/** The label for a request's client, from its name and its recorded connection (null if none). */
export function clientLabel(
  name: string,
  connection: Pick<Connection, "clientId" | "redirectUri"> | null,
): ClientLabel {
  const clientId = connection?.clientId ?? "";
  let verifiedDomain: string | null = null;
  if (clientId.startsWith("https://")) {
    try {
      verifiedDomain = new URL(clientId).hostname;
    } catch {
      verifiedDomain = null;
    }
  }
  return { name, verifiedDomain, tokensGo: tokensGo(connection) };
}

function TokensLine({ to }: { to: TokensGo }) {
  if (to.kind === "api_key") return <dd>Nowhere: it uses a personal API key you made on Activity.</dd>;
  if (to.kind === "unrecorded") return <dd class="warn">Not recorded for this connection.</dd>;
  return (
    <dd>
      <strong class="mono">{to.domain}</strong>
      {to.domain !== to.host ? <span class="mono small"> ({to.host})</span> : null}
      {to.scheme !== "https" && to.scheme !== "http" ? (
        <span class="muted small"> (an app link, {showText(to.scheme, 40)}:)</span>
      ) : null}
      {to.loopback ? <span class="muted small"> (an app on this computer)</span> : null}
      {to.idn ? (
        <span class="warn small"> This host uses international characters; check it is the one you expect.</span>
      ) : null}
    </dd>
  );
}

/** The client's name, labelled as its own claim, next to where its tokens go. */
export function ClientLabelList({ label }: { label: ClientLabel }) {
  return (
    <dl class="summary client">
      <dt>Asking app</dt>
      <dd>
        <strong class="mono">{showText(label.name, 80)}</strong>{" "}
        <span class="muted small">
          {label.verifiedDomain
            ? `(the name it gave itself; published by ${label.verifiedDomain}, verified)`
            : "(the name it gave itself, not verified)"}
        </span>
      </dd>
      <dt>Its access goes to</dt>
      <TokensLine to={label.tokensGo} />
    </dl>
  );
}
