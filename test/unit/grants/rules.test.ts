/** The grant book's pure rules: the coalescing key, the request window, the pending cap, what a disconnect ends. */
import { describe, expect, it } from "vitest";
import {
  countRequest,
  grantsNaming,
  pendingCapReached,
  REQUEST_WINDOW_MS,
  REQUESTS_PER_WINDOW,
  type RequestShape,
  requestKey,
} from "../../../src/grants/rules";
import { approvedGrant, POLICY, pendingGrant, T0 } from "../../helpers/grant-fixtures";

const shape: RequestShape = {
  kind: "broad",
  level: "read",
  providers: ["github", "linear"],
  durationSeconds: 300,
  callFingerprint: null,
};

describe("requestKey", () => {
  it("is the same whatever order the providers are named in", () => {
    expect(requestKey({ ...shape, providers: ["linear", "github"] })).toBe(requestKey(shape));
  });

  it("does not sort the caller's array in place", () => {
    const providers = ["linear", "github"];
    requestKey({ ...shape, providers });
    expect(providers).toEqual(["linear", "github"]);
  });

  it.each<[string, Partial<RequestShape>]>([
    ["kind", { kind: "call" }],
    ["level", { level: "write" }],
    ["providers", { providers: ["github"] }],
    ["duration", { durationSeconds: 900 }],
    ["call", { callFingerprint: "fp-a" }],
  ])("differs when the %s differs", (_field, change) => {
    expect(requestKey({ ...shape, ...change })).not.toBe(requestKey(shape));
  });

  it("tells two calls apart by their fingerprint", () => {
    expect(requestKey({ ...shape, callFingerprint: "fp-a" })).not.toBe(
      requestKey({ ...shape, callFingerprint: "fp-b" }),
    );
  });
});

describe("countRequest", () => {
  it("starts a window with the first request", () => {
    expect(countRequest(undefined, T0)).toEqual({ window: { start: T0, count: 1 }, allowed: true });
  });

  it("allows REQUESTS_PER_WINDOW requests in a window and refuses the next without counting it", () => {
    let window = countRequest(undefined, T0).window;
    for (let i = 1; i < REQUESTS_PER_WINDOW; i++) {
      const counted = countRequest(window, T0 + i);
      expect(counted.allowed).toBe(true);
      window = counted.window;
    }
    expect(window.count).toBe(REQUESTS_PER_WINDOW);
    const refused = countRequest(window, T0 + REQUEST_WINDOW_MS - 1);
    expect(refused).toEqual({ window, allowed: false });
  });

  it("starts over once the window has passed", () => {
    const full = { start: T0, count: REQUESTS_PER_WINDOW };
    expect(countRequest(full, T0 + REQUEST_WINDOW_MS)).toEqual({
      window: { start: T0 + REQUEST_WINDOW_MS, count: 1 },
      allowed: true,
    });
  });

  it("does not change the window it is given", () => {
    const window = { start: T0, count: 3 };
    countRequest(window, T0 + 1);
    expect(window).toEqual({ start: T0, count: 3 });
  });
});

describe("pendingCapReached", () => {
  it("is reached at the policy's maximum, not before", () => {
    expect(pendingCapReached(POLICY.maxPendingPerUser - 1, POLICY)).toBe(false);
    expect(pendingCapReached(POLICY.maxPendingPerUser, POLICY)).toBe(true);
    expect(pendingCapReached(0, { ...POLICY, maxPendingPerUser: 0 })).toBe(true);
  });
});

describe("grantsNaming", () => {
  const asked = pendingGrant({ id: "asked", requestedProviders: ["github", "linear"] });
  const narrowed = approvedGrant({ id: "narrowed", requestedProviders: ["github", "linear"], providers: ["linear"] });
  const other = approvedGrant({ id: "other", requestedProviders: ["sentry"], providers: ["sentry"] });

  it("ends a pending grant by what it asked for", () => {
    expect(grantsNaming([asked, other], "github").map((grant) => grant.id)).toEqual(["asked"]);
  });

  it("ends an approved grant by what the person approved, not by what was asked", () => {
    expect(grantsNaming([narrowed], "github")).toEqual([]);
    expect(grantsNaming([narrowed], "linear").map((grant) => grant.id)).toEqual(["narrowed"]);
  });

  it("ends nothing for a name no grant holds, and matches names exactly", () => {
    expect(grantsNaming([asked, narrowed, other], "git")).toEqual([]);
    expect(grantsNaming([], "github")).toEqual([]);
  });
});
