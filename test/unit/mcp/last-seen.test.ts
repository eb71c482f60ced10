/**
 * The in-isolate throttle on "last used" writes: the first request of a connection records,
 * the next ones within `LAST_SEEN_INTERVAL_MS` do not, each connection counts on its own, and a
 * clock moved back records again rather than staying silent.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { forgetLastSeen, shouldRecordLastSeen } from "../../../src/mcp/last-seen";
import { LAST_SEEN_INTERVAL_MS } from "../../../src/session/connection-store";

const T = 1_800_000_000_000;

describe("shouldRecordLastSeen", () => {
  beforeEach(() => forgetLastSeen());

  it("records the first request, then not again until the interval has passed", () => {
    expect(shouldRecordLastSeen("conn-a", T)).toBe(true);
    expect(shouldRecordLastSeen("conn-a", T)).toBe(false);
    expect(shouldRecordLastSeen("conn-a", T + LAST_SEEN_INTERVAL_MS - 1)).toBe(false);
    expect(shouldRecordLastSeen("conn-a", T + LAST_SEEN_INTERVAL_MS)).toBe(true);
    expect(shouldRecordLastSeen("conn-a", T + LAST_SEEN_INTERVAL_MS + 1)).toBe(false);
  });

  it("throttles each connection on its own", () => {
    expect(shouldRecordLastSeen("conn-a", T)).toBe(true);
    expect(shouldRecordLastSeen("conn-b", T + 1)).toBe(true);
    expect(shouldRecordLastSeen("conn-a", T + 2)).toBe(false);
    expect(shouldRecordLastSeen("conn-b", T + 3)).toBe(false);
  });

  it("records again when the clock moved back", () => {
    expect(shouldRecordLastSeen("conn-a", T)).toBe(true);
    expect(shouldRecordLastSeen("conn-a", T - 1)).toBe(true);
    expect(shouldRecordLastSeen("conn-a", T)).toBe(false);
  });
});
