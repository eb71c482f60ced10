// A push service and a webhook receiver on 127.0.0.1, as Countersign's dev mode may reach them.
// The push side does what a real push service does before it accepts a message: it checks the
// VAPID `Authorization` (ES256 over the JWT under the key in `k=`, `aud` its own origin, `exp`
// within 24 h; a dev-mode loopback endpoint is signed for its https twin, see src/notify/send.ts)
// and then, as the phone would, decrypts the `aes128gcm` body with the subscription's private
// key. Each accepted message is recorded decrypted; the answer status is the test's to choose.
//   POST /push/<id>   a subscription made by `subscription()`; 201 by default
//   POST /hook        the webhook; records the raw body and headers, 200
import { createServer } from "node:http";
import { checkVapid, decryptAes128gcm, newReceiverKeys } from "../../helpers/web-push-receiver.ts";
import { freePort } from "./util.mjs";

/**
 * @typedef {object} Pushed
 * @property {string} id              the subscription it was sent to
 * @property {Record<string, any>} message   the decrypted JSON
 * @property {Record<string, string | string[] | undefined>} headers
 * @property {string} publicKey       the VAPID key it was signed with (`k=`)
 */

/**
 * @typedef {object} Hooked
 * @property {string} body
 * @property {Record<string, string | string[] | undefined>} headers
 */

export async function startFakePushService() {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const audience = `https://127.0.0.1:${port}`;
  /** @type {Map<string, import("../../helpers/web-push-receiver.ts").ReceiverKeys>} */
  const subscriptions = new Map();
  /** @type {Pushed[]} */
  const pushed = [];
  /** @type {string[]} */
  const refused = [];
  /** @type {Hooked[]} */
  const hooked = [];
  let pushStatus = 201;
  let waiters = [];

  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", async () => {
      const body = new Uint8Array(Buffer.concat(chunks));
      const path = new URL(request.url ?? "/", origin).pathname;
      try {
        if (request.method === "POST" && path === "/hook") {
          hooked.push({ body: Buffer.from(body).toString("utf8"), headers: request.headers });
          response.writeHead(200).end("ok");
        } else if (request.method === "POST" && path.startsWith("/push/")) {
          const id = path.slice("/push/".length);
          const keys = subscriptions.get(id);
          if (!keys) return void response.writeHead(404).end();
          const vapid = await checkVapid(
            request.headers.authorization ?? null,
            audience,
            Math.floor(Date.now() / 1000),
          );
          if (!vapid.ok) {
            refused.push(vapid.reason);
            return void response.writeHead(401).end(vapid.reason);
          }
          if (request.headers["content-encoding"] !== "aes128gcm") {
            refused.push(`content-encoding ${request.headers["content-encoding"]}`);
            return void response.writeHead(400).end();
          }
          const opened = await decryptAes128gcm(body, keys);
          const message = JSON.parse(Buffer.from(opened.plaintext).toString("utf8"));
          pushed.push({ id, message, headers: request.headers, publicKey: vapid.publicKey });
          response.writeHead(pushStatus).end();
        } else {
          response.writeHead(404).end();
        }
      } catch (error) {
        refused.push(String(error));
        response.writeHead(400).end();
      } finally {
        for (const wake of waiters) wake();
        waiters = [];
      }
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(undefined)));

  /** Wait until `check()` is true, or fail after `ms`. */
  const until = async (check, ms, what) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  };

  return {
    origin,
    pushed,
    refused,
    hooked,
    /** A new subscription's JSON, as `PushSubscription.toJSON()` gives it. */
    async subscription() {
      const keys = await newReceiverKeys();
      const id = crypto.randomUUID();
      subscriptions.set(id, keys);
      return {
        id,
        json: {
          endpoint: `${origin}/push/${id}`,
          expirationTime: null,
          keys: { p256dh: keys.p256dh, auth: keys.auth },
        },
      };
    },
    /** @param {number} status  what the push side answers from now on (410 ends a subscription) */
    answerPushWith(status) {
      pushStatus = status;
    },
    until,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}
