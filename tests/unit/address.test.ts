// Address parsing (SPEC "Addresses"), the default socket rule, and the
// region and name checks that happen before anything is sent.

import { describe, expect, test } from "bun:test";
import { clientAddress, defaultSocketPath, formatAddress, parseAddress } from "../../src/net/address.ts";
import { ClipError } from "../../src/protocol/errors.ts";
import { checkGroupName, checkKey, parseRegion } from "../../src/protocol/messages.ts";

function usage(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ClipError);
    expect((e as ClipError).code).toBe("USAGE");
    expect((e as ClipError).exitCode).toBe(2);
    return;
  }
  throw new Error("expected a USAGE error");
}

describe("addresses", () => {
  test("address - unix: prefix", () => {
    expect(parseAddress("unix:/tmp/x.sock")).toEqual({ kind: "unix", path: "/tmp/x.sock" });
    expect(parseAddress("unix:rel.sock")).toEqual({ kind: "unix", path: "rel.sock" });
  });

  test("address - a bare path containing / is a unix socket", () => {
    expect(parseAddress("/run/clip.sock")).toEqual({ kind: "unix", path: "/run/clip.sock" });
    expect(parseAddress("./clip.sock")).toEqual({ kind: "unix", path: "./clip.sock" });
  });

  test("address - tcp:host:port and host:port", () => {
    expect(parseAddress("tcp:127.0.0.1:7070")).toEqual({ kind: "tcp", host: "127.0.0.1", port: 7070 });
    expect(parseAddress("localhost:80")).toEqual({ kind: "tcp", host: "localhost", port: 80 });
    expect(parseAddress("tcp:example.org:65535")).toEqual({ kind: "tcp", host: "example.org", port: 65535 });
    expect(parseAddress("tcp:127.0.0.1:0")).toEqual({ kind: "tcp", host: "127.0.0.1", port: 0 });
  });

  test("address - IPv6 in brackets", () => {
    expect(parseAddress("tcp:[::1]:7070")).toEqual({ kind: "tcp", host: "::1", port: 7070 });
    expect(parseAddress("[fe80::1]:9")).toEqual({ kind: "tcp", host: "fe80::1", port: 9 });
  });

  test("address - formatAddress round trips", () => {
    for (const a of ["unix:/tmp/a.sock", "tcp:127.0.0.1:1", "tcp:[::1]:7070", "tcp:h:2"]) expect(formatAddress(parseAddress(a))).toBe(a);
  });

  test("address - bad ones are usage errors", () => {
    for (const a of [
      "",
      "unix:",
      "tcp:",
      "localhost",
      "tcp:localhost",
      ":7070",
      "host:",
      "host:port",
      "host:65536",
      "host:-1",
      "host:123456",
      "host:1.5",
      "::1:7070",
      "tcp:[::1]",
      "tcp:[::1]7070",
      "tcp:[::1:7070",
      "[]:7070",
    ]) {
      usage(() => parseAddress(a));
    }
  });
});

describe("default socket", () => {
  test("address - $CLIP_SOCKET wins", () => {
    expect(defaultSocketPath({ CLIP_SOCKET: "/a/b.sock", XDG_RUNTIME_DIR: "/run/user/1" })).toBe("/a/b.sock");
  });

  test("address - else $XDG_RUNTIME_DIR/clip/clip.sock", () => {
    expect(defaultSocketPath({ XDG_RUNTIME_DIR: "/run/user/1" })).toBe("/run/user/1/clip/clip.sock");
  });

  test("address - else /tmp/clip-<uid>/clip.sock", () => {
    expect(defaultSocketPath({})).toBe(`/tmp/clip-${process.getuid!()}/clip.sock`);
  });

  test("address - a client's address: flag, then CLIP_SERVER, then the default socket", () => {
    expect(clientAddress("tcp:h:1", { CLIP_SERVER: "/x/y" })).toEqual({ kind: "tcp", host: "h", port: 1 });
    expect(clientAddress(undefined, { CLIP_SERVER: "/x/y" })).toEqual({ kind: "unix", path: "/x/y" });
    expect(clientAddress(undefined, { XDG_RUNTIME_DIR: "/r" })).toEqual({ kind: "unix", path: "/r/clip/clip.sock" });
    usage(() => clientAddress(undefined, { CLIP_SERVER: "nonsense" }));
  });
});

describe("regions and names", () => {
  test("region - 0 to 9 are accepted", () => {
    for (let r = 0; r <= 9; r++) {
      expect(parseRegion(String(r))).toBe(r);
      expect(parseRegion(r)).toBe(r);
    }
  });

  test("region - anything else is a usage error", () => {
    for (const r of ["10", "-1", "abc", "3.5", "", " 3", "03", "1e0", "0x1", 10, -1, 3.5, NaN, null, undefined, true, {}]) usage(() => parseRegion(r));
  });

  test("names - group names and keys are checked", () => {
    expect(checkGroupName("a-b_c.D9")).toBe("a-b_c.D9");
    for (const g of ["", "a b", "x".repeat(65), "é", "a/b", 3]) usage(() => checkGroupName(g));
    expect(checkKey("k/é")).toBe("k/é");
    expect(checkKey("é".repeat(512))).toBe("é".repeat(512));
    for (const k of ["", "é".repeat(513), "\ud800", 5]) usage(() => checkKey(k));
  });
});
