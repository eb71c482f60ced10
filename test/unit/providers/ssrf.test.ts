/** classifyHost: loopback, private, metadata and public hosts, in every spelling WHATWG URL accepts. */
import { describe, expect, it } from "vitest";
import { classifyHost, isLoopbackOrPrivateHost } from "../../../src/providers/ssrf";

/** A hostname as the WHATWG parser hands it to us. */
const parsed = (host: string) => new URL(`https://${host}/`).hostname;

describe("classifyHost", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["0.0.0.0", "loopback"],
    ["localhost", "loopback"],
    ["LOCALHOST", "loopback"],
    ["localhost.", "loopback"],
    ["api.localhost", "loopback"],
    ["[::1]", "loopback"],
    ["::1", "loopback"],
    ["[::]", "loopback"],
    ["[0:0:0:0:0:0:0:1]", "loopback"],
    ["[::ffff:127.0.0.1]", "loopback"],
    ["[::ffff:7f00:1]", "loopback"],
    ["[::127.0.0.1]", "loopback"],
    ["10.0.0.1", "private"],
    ["10.255.255.255", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.1.1", "private"],
    ["100.64.0.1", "private"],
    ["224.0.0.1", "private"],
    ["255.255.255.255", "private"],
    ["[::ffff:10.0.0.1]", "private"],
    ["[::ffff:192.168.0.1]", "private"],
    ["[fc00::1]", "private"],
    ["[fd12:3456::1]", "private"],
    ["[fe80::1]", "private"],
    ["[febf::1]", "private"],
    ["[ff02::1]", "private"],
    ["[2002:c0a8:0101::1]", "private"],
    ["[64:ff9b::10.0.0.1]", "private"],
    ["intranet", "private"],
    ["db.internal", "private"],
    ["printer.local", "private"],
    ["router.home.arpa", "private"],
    ["169.254.169.254", "metadata"],
    ["[::ffff:169.254.169.254]", "metadata"],
    ["[64:ff9b::a9fe:a9fe]", "metadata"],
    ["[fd00:ec2::254]", "metadata"],
    ["100.100.100.200", "metadata"],
    ["metadata.google.internal", "metadata"],
    ["metadata.google.internal.", "metadata"],
    ["METADATA.GOOGLE.INTERNAL", "metadata"],
    ["api.github.com", "public"],
    ["api.github.com.", "public"],
    ["8.8.8.8", "public"],
    ["172.15.255.255", "public"],
    ["172.32.0.1", "public"],
    ["169.253.0.1", "public"],
    ["[2606:4700::1111]", "public"],
    ["[::ffff:8.8.8.8]", "public"],
    ["[2002:0808:0808::1]", "public"],
    ["[fec0::1]", "private"],
  ])("classifies %s as %s", (host, expected) => {
    expect(classifyHost(host)).toBe(expected);
  });

  it.each([
    ["2130706433", "loopback"],
    ["0x7f000001", "loopback"],
    ["0x7f.1", "loopback"],
    ["0177.0.0.1", "loopback"],
    ["127.1", "loopback"],
    ["0", "loopback"],
    ["0xa9fea9fe", "metadata"],
    ["2852039166", "metadata"],
    ["012.0.0.1", "private"],
    ["%31%32%37.0.0.1", "loopback"],
    ["[0:0:0:0:0:ffff:127.0.0.1]", "loopback"],
  ])("classifies the numeric spelling %s (as WHATWG URL normalises it) as %s", (host, expected) => {
    expect(classifyHost(parsed(host))).toBe(expected);
    expect(classifyHost(host)).toBe(expected);
  });

  it.each([[""], ["a b"], ["evil.com/x"], ["user@evil.com"], ["evil.com:8080"], ["[::1"], ["[1:2:3:4:5:6:7:8:9]"]])(
    "never calls the unparseable %j public",
    (host) => {
      expect(classifyHost(host)).not.toBe("public");
    },
  );
});

describe("isLoopbackOrPrivateHost", () => {
  it.each([
    ["127.0.0.1", true],
    ["10.1.2.3", true],
    ["169.254.169.254", true],
    ["metadata.google.internal", true],
    ["api.linear.app", false],
  ])("%s → %s", (host, expected) => {
    expect(isLoopbackOrPrivateHost(host)).toBe(expected);
  });
});
