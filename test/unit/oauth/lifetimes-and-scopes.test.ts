/** Connection lifetime cap on refresh, and which requested scopes we grant. */
import { describe, expect, it } from "vitest";
import {
  REFRESH_TOKEN_IDLE_TTL_SECONDS,
  REFRESH_TOKEN_TTL_SECONDS,
  refreshLifetime,
} from "../../../src/oauth/provider";
import { grantableScopes } from "../../../src/oauth/scopes";

const DAY = 86_400_000;

describe("refreshLifetime", () => {
  it("slides the full idle TTL while far from the cap", () => {
    expect(refreshLifetime(0, 10 * DAY)).toBe(REFRESH_TOKEN_IDLE_TTL_SECONDS);
  });

  it("shortens the last slide so the connection ends 90 days after authorization", () => {
    expect(refreshLifetime(0, 80 * DAY)).toBe(10 * 86_400);
    expect(refreshLifetime(0, 90 * DAY - 120_000)).toBe(120);
  });

  it("refuses a refresh at the cap with invalid_grant", () => {
    expect(() => refreshLifetime(0, REFRESH_TOKEN_TTL_SECONDS * 1000 - 30_000)).toThrow(/90-day limit/);
    expect(() => refreshLifetime(0, 200 * DAY)).toThrow(/90-day limit/);
  });
});

describe("grantableScopes", () => {
  it.each([
    [
      ["mcp", "offline_access"],
      ["mcp", "offline_access"],
    ],
    [["mcp", "admin", "mcp:write"], ["mcp"]],
    [["admin"], ["mcp"]],
    [[], ["mcp"]],
    [["offline_access", "offline_access"], ["offline_access"]],
  ])("%j → %j", (requested, granted) => {
    expect(grantableScopes(requested)).toEqual(granted);
  });
});
