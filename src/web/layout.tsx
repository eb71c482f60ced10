/**
 * The page shell every person-facing page uses. Hono JSX escapes every interpolated value;
 * nothing here uses raw HTML, and no page carries inline script or style (see security.ts).
 * Only a page that asks for it loads the one script, /assets/app.js (app-shell.tsx): the
 * approval and consent pages carry no script at all.
 */
import type { Child } from "hono/jsx";

export interface LayoutProps {
  title: string;
  children: Child;
  /** Load /assets/app.js: the service worker and the push subscription (the activity page). */
  script?: boolean;
}

/** Full HTML document with the app stylesheet and a phone viewport. */
export function Layout({ title, children, script = false }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <meta name="theme-color" content="#1f3a5f" />
        <title>{`${title} · Countersign`}</title>
        <link rel="stylesheet" href="/assets/app.css" />
        <link rel="manifest" href="/manifest.webmanifest" />
        <link rel="icon" href="/assets/icon.svg" type="image/svg+xml" />
        <link rel="apple-touch-icon" href="/assets/icon-192.png" />
        {script ? <script src="/assets/app.js" defer /> : null}
      </head>
      <body>
        <main>
          <div class="brand">Countersign</div>
          {children}
        </main>
      </body>
    </html>
  );
}

export interface MessagePageProps {
  title: string;
  message: string;
  /** Stable code shown small, for support and tests. */
  code?: string;
  /** A same-origin path to go back to (never built from input). */
  back?: { href: string; label: string };
}

/** A plain page for errors and outcomes. */
export function MessagePage({ title, message, code, back }: MessagePageProps) {
  return (
    <Layout title={title}>
      <div class="card">
        <h1>{title}</h1>
        <p>{message}</p>
        {code ? <p class="muted mono">{code}</p> : null}
        {back ? (
          <p>
            <a href={back.href}>{back.label}</a>
          </p>
        ) : null}
      </div>
    </Layout>
  );
}
