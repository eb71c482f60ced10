/**
 * The installable app: the web app manifest, the icons, the page script, the service worker and
 * the offline page. The person's pages (`/activity`, `/approve/…`) each get the service worker,
 * registered for exactly those two scopes, so nothing else on this origin is ever answered by it.
 *
 * What the service worker keeps: the offline page, the stylesheet and the icons, and nothing
 * else. It never caches a response: a page with a grant, a link secret or a CSRF token is always
 * fetched, and when the network is gone the person sees "No connection", never a stale approval.
 * A push shows a notification that opens the approval page; the decision is made there.
 */
import { Hono } from "hono/tiny";
import type { WebEnv } from "./context";
import { ICON_192_PNG, ICON_512_PNG, ICON_SVG } from "./icons";
import { MessagePage } from "./layout";

/** Bump when the cached shell changes, so the old cache is dropped on activation. */
const SHELL_CACHE = "countersign-shell-v1";
export const SHELL_ASSETS = ["/offline", "/assets/app.css", "/assets/icon.svg", "/assets/icon-192.png"];
/** The service worker's scopes: the person's pages, and only those. */
export const WORKER_SCOPES = ["/activity", "/approve/"];

const SERVICE_WORKER = `"use strict";
const CACHE = ${JSON.stringify(SHELL_CACHE)};
const SHELL = ${JSON.stringify(SHELL_ASSETS)};
self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.mode === "navigate") {
    event.respondWith(fetch(event.request).catch(() => caches.match("/offline")));
  } else if (event.request.method === "GET" && url.origin === self.location.origin && SHELL.includes(url.pathname)) {
    // The shell's own files, so the offline page is styled: the network first, the cache when offline.
    event.respondWith(fetch(event.request).catch(() => caches.match(url.pathname)));
  }
});
self.addEventListener("push", (event) => {
  let message = null;
  try { message = event.data ? event.data.json() : null; } catch (error) { message = null; }
  if (!message || typeof message.title !== "string") return;
  event.waitUntil(self.registration.showNotification(message.title, {
    body: typeof message.body === "string" ? message.body : "",
    tag: typeof message.request_id === "string" ? message.request_id : undefined,
    icon: "/assets/icon-192.png",
    badge: "/assets/icon-192.png",
    requireInteraction: true,
    data: { url: typeof message.url === "string" ? message.url : "/activity" },
  }));
});
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const raw = event.notification.data && event.notification.data.url;
  let target = new URL("/activity", self.location.origin);
  try {
    const url = new URL(raw, self.location.origin);
    if (url.origin === self.location.origin) target = url;
  } catch (error) {}
  // An open window on that very page is brought forward rather than opened twice.
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => client.url === target.href && "focus" in client);
      return open ? open.focus() : self.clients.openWindow(target.href);
    }),
  );
});
`;

const PAGE_SCRIPT = `"use strict";
(function () {
  if (!("serviceWorker" in navigator)) return;
  const scopes = ${JSON.stringify(WORKER_SCOPES)};
  for (const scope of scopes) navigator.serviceWorker.register("/sw.js", { scope }).catch(() => {});
  const form = document.getElementById("notify-form");
  if (!form) return;
  const status = document.getElementById("notify-status");
  const say = (text) => { if (status) status.textContent = text; };
  if (!("PushManager" in window) || !("Notification" in window)) {
    say("This browser cannot receive push notifications. On an iPhone, add Countersign to the Home Screen first.");
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") { say("Notifications are blocked for this site in the browser's settings."); return; }
      const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/activity" });
      await navigator.serviceWorker.ready;
      const key = form.dataset.publicKey.replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(key), (char) => char.charCodeAt(0));
      const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes });
      form.elements.namedItem("subscription").value = JSON.stringify(subscription);
      form.submit();
    } catch (error) {
      say("Could not turn on notifications here: " + (error && error.message ? error.message : String(error)));
    }
  });
})();
`;

const MANIFEST = {
  name: "Countersign",
  short_name: "Countersign",
  description: "Approve what your AI assistant asks to do, on your phone.",
  id: "/activity",
  start_url: "/activity",
  scope: "/",
  display: "standalone",
  background_color: "#ffffff",
  theme_color: "#1f3a5f",
  icons: [
    { src: "/assets/icon-192.png", sizes: "192x192", type: "image/png", purpose: "any maskable" },
    { src: "/assets/icon-512.png", sizes: "512x512", type: "image/png", purpose: "any maskable" },
    { src: "/assets/icon.svg", sizes: "any", type: "image/svg+xml" },
  ],
};

export const appShellRoutes = new Hono<WebEnv>();

const asset =
  (body: string | Uint8Array, type: string, cache = "public, max-age=3600", extra: Record<string, string> = {}) =>
  () =>
    new Response(body, { headers: { "Content-Type": type, "Cache-Control": cache, ...extra } });

/**
 * A worker runs under the CSP its own script was served with, not the page's: it may fetch our
 * origin (the shell it caches, the navigations it passes on) and show our icon, nothing else.
 */
const WORKER_CSP = "default-src 'none'; connect-src 'self'; img-src 'self'";

appShellRoutes.get("/manifest.webmanifest", asset(JSON.stringify(MANIFEST), "application/manifest+json"));
appShellRoutes.get("/assets/icon.svg", asset(ICON_SVG, "image/svg+xml"));
appShellRoutes.get("/assets/icon-192.png", asset(ICON_192_PNG, "image/png"));
appShellRoutes.get("/assets/icon-512.png", asset(ICON_512_PNG, "image/png"));
appShellRoutes.get("/assets/app.js", asset(PAGE_SCRIPT, "text/javascript; charset=utf-8"));
// Always revalidated, so a fixed worker reaches every phone at its next visit.
appShellRoutes.get(
  "/sw.js",
  asset(SERVICE_WORKER, "text/javascript; charset=utf-8", "no-cache", { "Content-Security-Policy": WORKER_CSP }),
);
appShellRoutes.get("/offline", (c) =>
  c.html(
    <MessagePage
      title="No connection"
      message="This phone is offline. Nothing can be approved or changed until it is back online."
      code="offline"
    />,
  ),
);
