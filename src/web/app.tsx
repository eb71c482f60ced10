/**
 * The web app behind the OAuth provider: every route a person's browser (or a health check)
 * reaches. Security headers wrap all of it; POSTs must come from our own origin.
 */
import { Hono } from "hono/tiny";
import { activityRoutes } from "../activity/routes";
import { approvalRoutes } from "../approvals/routes";
import type { Config } from "../config";
import { connectionRoutes } from "../connections/routes";
import { demoApi } from "../demo/demo-api";
import { authorizeRoutes } from "../identity/authorize-routes";
import { signInRoutes } from "../identity/signin-routes";
import { notifyRoutes } from "../notify/routes";
import { mcpServerRoutes } from "../upstream/routes";
import { appShellRoutes } from "./app-shell";
import type { WebEnv } from "./context";
import { Layout, MessagePage } from "./layout";
import { requireSameOrigin, securityHeaders } from "./security";
import { APP_CSS } from "./styles";

function HomePage({ config }: { config: Config }) {
  return (
    <Layout title="Countersign">
      <div class="card">
        <h1>Countersign</h1>
        <p>Your AI assistant asks; you countersign on your phone. Access is exactly as wide and as long as you say.</p>
        <p>Add this URL to your assistant as a custom MCP connector:</p>
        <p class="mono">{config.resource}</p>
        <p>
          <a href="/activity">Activity</a> · <a href="/connections">Connections</a>
        </p>
      </div>
    </Layout>
  );
}

/** Build the web app for one configuration. */
export function createWebApp(config: Config) {
  const app = new Hono<WebEnv>();
  app.use("*", securityHeaders);
  app.use("*", async (c, next) => {
    c.set("config", config);
    await next();
  });
  app.use("*", requireSameOrigin(config.publicOrigin, ["/demo-api/"]));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/assets/app.css", (c) => {
    c.header("Cache-Control", "public, max-age=3600");
    return c.body(APP_CSS, 200, { "Content-Type": "text/css; charset=utf-8" });
  });
  app.route("/", appShellRoutes);
  app.get("/", (c) => c.html(<HomePage config={config} />));
  app.route("/", signInRoutes);
  app.route("/", authorizeRoutes);
  app.route("/", approvalRoutes);
  app.route("/", activityRoutes);
  app.route("/", notifyRoutes);
  app.route("/", connectionRoutes);
  app.route("/", mcpServerRoutes);
  if (config.devMode) app.route("/", demoApi);
  app.notFound((c) =>
    c.html(<MessagePage title="Not found" message="There is nothing at this address." code="not_found" />, 404),
  );
  return app;
}
