/**
 * The protected /mcp endpoint. The OAuth provider has already verified the bearer token and its
 * audience (our resource) before this runs. Here: the scope check, input limits, then the
 * stateless MCP handler with Host and Origin validation pinned to PUBLIC_URL. Cookies are never
 * read on this path. The body is parsed once, by the guard, and handed to the SDK parsed; the
 * request's verified context reaches the server factory through an AsyncLocalStorage.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { insufficientScope, type OAuthResourceContext } from "@cloudflare/workers-oauth-provider";
import type { AuthInfo } from "@modelcontextprotocol/server";
import { createMcpHandler } from "agents/mcp/server";
import { withApiKeyAuth } from "../apikeys/mcp-auth";
import type { Config } from "../config";
import { parseAuthProps } from "../identity/props";
import { log } from "../lib/log";
import { REQUIRED_SCOPE } from "../oauth/scopes";
import { sessionFor } from "../session/user-session";
import { upstreamToolsFor } from "../upstream/listing-cache";
import type { UpstreamToolGroup } from "../upstream/upstream";
import { tooManyRequests } from "../web/rate-limits";
import { rememberDeclaration } from "./elicitation/capabilities";
import { guardMcpRequest, originAllowed, upstreamToolsNeeded } from "./guard";
import { shouldRecordLastSeen } from "./last-seen";
import { createServer } from "./server";
import type { ToolContext } from "./tool-context";

/** One request's verified context, and the person's upstream tools when it lists or calls them. */
interface RequestScope {
  context: ToolContext;
  upstream: UpstreamToolGroup[];
}

const requestScope = new AsyncLocalStorage<RequestScope>();

/** The SDK's `authInfo` for this request, from what the OAuth provider verified. */
function authInfoOf(auth: OAuthResourceContext<unknown>["auth"], props: ToolContext["props"]): AuthInfo {
  return {
    token: auth.token,
    clientId: auth.clientId ?? props.clientId,
    scopes: [...auth.scope],
    ...(auth.expiresAt !== undefined ? { expiresAt: auth.expiresAt } : {}),
    resource: new URL(auth.audience),
    extra: { props },
  };
}

/** Build the API handler the OAuth provider calls for /mcp. */
export function createMcpApi(config: Config, env: Env) {
  const allowedOrigins = [config.publicHost, ...config.extraMcpOrigins];
  const handler = createMcpHandler(
    () => {
      const scope = requestScope.getStore();
      if (!scope) throw new Error("MCP request reached the server without its verified context");
      return createServer(scope.context, scope.upstream);
    },
    {
      route: "/mcp",
      allowedHostnames: [config.publicHost],
      allowedOriginHostnames: allowedOrigins,
      onerror: (error) => log.warn("mcp.error", { message: error.message }),
    },
  );
  return {
    async fetch(request: Request, workerEnv: Env, workerCtx: ExecutionContext): Promise<Response> {
      // The provider hands protected handlers its verified token facts as `ctx.auth`.
      const ctx = workerCtx as OAuthResourceContext<unknown>;
      if (!originAllowed(request, allowedOrigins)) {
        return Response.json({ error: "forbidden_origin", message: 'unexpected "Origin" value' }, { status: 403 });
      }
      const props = parseAuthProps(ctx.props);
      withApiKeyAuth(ctx, props);
      if (!ctx.auth.scope.includes(REQUIRED_SCOPE)) return insufficientScope(ctx.auth, [REQUIRED_SCOPE]);
      if (!props) {
        log.error("mcp.props_invalid", { clientId: ctx.auth.clientId });
        return new Response(JSON.stringify({ error: "invalid_token" }), { status: 401 });
      }
      const { success } = await workerEnv.TOOL_LIMITER.limit({ key: props.connectionId });
      if (!success) return tooManyRequests("Too many requests from this client. Wait a minute and try again.");
      const session = sessionFor(workerEnv.SESSION, props.userId);
      // "Last used" on /activity: at most once a minute per connection, after the response.
      if (shouldRecordLastSeen(props.connectionId, Date.now())) {
        ctx.waitUntil(
          session.touchConnection({
            connectionId: props.connectionId,
            clientId: props.clientId,
            clientName: props.clientName,
            scopes: ctx.auth.scope,
          }),
        );
      }
      const guarded = await guardMcpRequest(request);
      if (guarded instanceof Response) return guarded;
      await rememberDeclaration(workerEnv, props, guarded.body);
      const needed = upstreamToolsNeeded(guarded.body);
      const upstream = await upstreamToolsFor(session, props.userId, needed, Date.now());
      const authInfo = authInfoOf(ctx.auth, props);
      const context: ToolContext = { props, scopes: authInfo.scopes, env, config };
      return requestScope.run({ context, upstream }, () =>
        handler.fetch(guarded.request, {
          authInfo,
          ...(guarded.body !== undefined ? { parsedBody: guarded.body } : {}),
        }),
      );
    },
  };
}
