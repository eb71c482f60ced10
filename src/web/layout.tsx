/**
 * The page shell every person-facing page uses. Hono JSX escapes every interpolated value;
 * nothing here uses raw HTML, and no page carries inline script or style (see security.ts).
 */
import type { Child } from "hono/jsx";

export interface LayoutProps {
  title: string;
  children: Child;
}

/** Full HTML document with the app stylesheet and a phone viewport. */
export function Layout({ title, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${title} · Countersign`}</title>
        <link rel="stylesheet" href="/assets/app.css" />
        <link rel="icon" href="data:," />
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
