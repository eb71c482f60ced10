/**
 * The protected /mcp endpoint. The OAuth provider has already verified the bearer token and its
 * audience (our resource) before this runs. Here: the scope check, input limits, then the
 * stateless MCP handler with Host and Origin validation pinned to PUBLIC_URL. Cookies are never
 * read on this path.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { insufficientScope, type OAuthResourceContext } from "@cloudflare/workers-oauth-provider";
import { createMcpHandler, getMcpAuthContext } from "agents/mcp/server";
import { withApiKeyAuth } from "../apikeys/mcp-auth";
import type { Config } from "../config";
import { parseAuthProps } from "../identity/props";
import { log } from "../lib/log";
import { REQUIRED_SCOPE } from "../oauth/scopes";
import { sessionFor } from "../session/user-session";
import type { UpstreamToolGroup } from "../upstream/upstream";
import { tooManyRequests } from "../web/rate-limits";
import { rememberDeclaration } from "./elicitation/capabilities";
import { guardMcpRequest, originAllowed, parsedBody, touchesUpstreamTools } from "./guard";
import { createServer } from "./server";

/** The person's upstream tools, loaded for the one request that lists or calls them. */
const upstreamTools = new AsyncLocalStorage<UpstreamToolGroup[]>();

/** Build the API handler the OAuth provider calls for /mcp. */
export function createMcpApi(config: Config, env: Env) {
  const allowedOrigins = [config.publicHost, ...config.extraMcpOrigins];
  const handler = createMcpHandler(
    (request) => {
      const props = parseAuthProps(getMcpAuthContext()?.props);
      if (!props) throw new Error("MCP request reached the server without verified props");
      return createServer(
        { props, scopes: request.authInfo?.scopes ?? [], env, config },
        upstreamTools.getStore() ?? [],
      );
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
      // "Last used" and the call count on /activity: recorded after the response, off the hot path.
      ctx.waitUntil(
        sessionFor(workerEnv.SESSION, props.userId)
          .touchConnection({
            connectionId: props.connectionId,
            clientId: props.clientId,
            clientName: props.clientName,
            scopes: ctx.auth.scope,
          })
          .then(() => undefined),
      );
      const guarded = await guardMcpRequest(request);
      if (guarded instanceof Response) return guarded;
      await rememberDeclaration(workerEnv, props, parsedBody(guarded));
      if (!touchesUpstreamTools(parsedBody(guarded))) return handler(guarded, workerEnv, ctx);
      const groups = await sessionFor(workerEnv.SESSION, props.userId).upstreamTools();
      return upstreamTools.run(groups, () => handler(guarded, workerEnv, ctx));
    },
  };
}
