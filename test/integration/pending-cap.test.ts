/**
 * The pending cap counts all of a person's pending requests, whichever connection asked
 * (docs/threat-model.md I2), through the Worker: three MCP connections of one person fill the
 * cap of 20 together, and the next request, even from a fourth connection that asked nothing,
 * is refused with `rate_limited`, with nothing stored or audited.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../src/grants/types";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes } from "../helpers/fetch-router";
import { askSession, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";

const CAP = DEFAULT_POLICY.maxPendingPerUser;

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});

/** One MCP client connection of the person `sub`: its access token and connection id. */
async function connection(sub: string) {
  const { tokens } = await signedInClient(idp, sub);
  const whoami = (await tool(tokens.access_token, "whoami")).structured;
  return {
    token: tokens.access_token,
    userId: whoami?.user.id as string,
    connectionId: whoami?.client.connection_id as string,
  };
}

const stored = (userId: string) =>
  runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) => {
    const sql = state.storage.sql;
    return {
      pendingByConnection: sql
        .exec<{ connection_id: string; n: number }>(
          "SELECT connection_id, COUNT(*) AS n FROM grants WHERE status = 'pending' GROUP BY connection_id ORDER BY connection_id",
        )
        .toArray(),
      grants: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM grants").one().n,
      audit: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit").one().n,
    };
  });

describe("the pending cap across connections of one person", () => {
  it("refuses the next request from any connection once several together fill the cap, storing nothing", async () => {
    expect(CAP).toBe(20);
    const sub = `cap-${crypto.randomUUID()}`;
    const connections = [await connection(sub), await connection(sub), await connection(sub)];
    const idle = await connection(sub);
    const userId = idle.userId;
    expect(new Set([...connections, idle].map((each) => each.userId))).toEqual(new Set([userId]));
    expect(new Set([...connections, idle].map((each) => each.connectionId)).size).toBe(4);
    // 7 + 7 + 6: no connection alone comes near the cap (or its own window of 30).
    for (let i = 0; i < CAP; i++) {
      const asked = await askSession((connections[i % 3] as (typeof connections)[number]).token, {
        duration_minutes: i + 1,
      });
      expect(asked.coalesced).toBe(false);
    }
    const before = await stored(userId);
    expect(before.pendingByConnection.map((row) => row.n).sort()).toEqual([6, 7, 7]);
    for (const asker of [connections[2], idle]) {
      // A one-call request, so the kind here is the one name both renames keep ("call").
      const over = await tool((asker as typeof idle).token, "request_elevated_access", {
        kind: "call",
        method: "POST",
        url: "https://api.github.com/repos/a/b/issues",
        body: '{"title":"one more"}',
        reason: "one more",
      });
      expect(over.error?.code).toBe("rate_limited");
      expect(over.error?.message).toContain(`${CAP} requests waiting`);
    }
    expect(await stored(userId)).toEqual(before);
    // Withdrawing one request, from any connection, frees one place for the person.
    const withdrawn = await tool((connections[0] as typeof idle).token, "revoke_access", {});
    expect(withdrawn.structured?.revoked).toHaveLength(7);
    expect((await askSession(idle.token, { duration_minutes: 45 })).coalesced).toBe(false);
  });
});
