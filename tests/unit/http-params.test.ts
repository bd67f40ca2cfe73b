// The strict readers of what a request says besides its body: path parts,
// query parameters and the conditional and resume headers. Each accepts
// exactly the documented forms; anything else is a USAGE error (400).

import { describe, expect, test } from "bun:test";
import {
  groupParam,
  keyParam,
  parseIfMatch,
  parseIfNoneMatch,
  parseLastEventId,
  parseQuery,
  parseSince,
  parseTtl,
  parseWait,
  regionParam,
  text,
  writeCondition,
} from "../../src/http/params.ts";
import { isClipError } from "../../src/protocol/errors.ts";

function bad(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isClipError(e, "USAGE")).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected a USAGE error");
}

describe("http params", () => {
  test("params - region, group and key from the path", () => {
    expect(regionParam("7")).toBe(7);
    for (const r of ["10", "-1", "07", "x", "", "1.0"]) bad(() => regionParam(r));
    expect(groupParam("team-1.x_y")).toBe("team-1.x_y");
    bad(() => groupParam("a%20b"));
    bad(() => groupParam("%E0%A4%A"));
    expect(keyParam("a%2Fb%2Fc")).toBe("a/b/c");
    expect(keyParam("a/b")).toBe("a/b");
    expect(keyParam("caf%C3%A9")).toBe("café");
    bad(() => keyParam("%ZZ"));
    bad(() => keyParam(`${"k".repeat(1025)}`));
    bad(() => keyParam("%ED%A0%80")); // a lone surrogate is not UTF-8
  });

  test("params - If-Match: one strong ETag holding a revision", () => {
    expect(parseIfMatch(null)).toBeUndefined();
    expect(parseIfMatch('"0"')).toBe(0);
    expect(parseIfMatch(' "12" ')).toBe(12);
    for (const h of ['W/"12"', "12", "*", '"12", "13"', '"-1"', '"012"', '"1e3"', '""', `"${"9".repeat(20)}"`]) bad(() => parseIfMatch(h));
  });

  test("params - If-None-Match: * or strong ETags", () => {
    expect(parseIfNoneMatch(undefined)).toBeUndefined();
    expect(parseIfNoneMatch("*")).toEqual({ any: true });
    expect(parseIfNoneMatch('"3", "4"')).toEqual({ revs: [3, 4] });
    for (const h of ['W/"3"', "3", '"3",', "**"]) bad(() => parseIfNoneMatch(h));
  });

  test("params - the write condition: If-Match is --if-rev N, If-None-Match: * is --if-rev 0, both at once is a 400", () => {
    const h = (o: Record<string, string>) => new Headers(o);
    expect(writeCondition(h({}))).toBeUndefined();
    expect(writeCondition(h({ "If-Match": '"5"' }))).toBe(5);
    expect(writeCondition(h({ "If-None-Match": "*" }))).toBe(0);
    bad(() => writeCondition(h({ "If-Match": '"5"', "If-None-Match": "*" })));
    bad(() => writeCondition(h({ "If-None-Match": '"5"' })));
  });

  test("params - Last-Event-ID, ?since: non-negative integers", () => {
    expect(parseLastEventId(null)).toBeUndefined();
    expect(parseLastEventId("42")).toBe(42);
    expect(parseSince("0")).toBe(0);
    for (const v of ["", " ", "-1", "4.2", "0x10", "abc", "99999999999999999999"]) {
      bad(() => parseLastEventId(v));
      if (v.trim()) bad(() => parseSince(v));
    }
  });

  test("params - ?wait: seconds, decimals to the millisecond, at most a day", () => {
    expect(parseWait("30")).toBe(30_000);
    expect(parseWait("0")).toBe(0);
    expect(parseWait("0.5")).toBe(500);
    expect(parseWait("86400")).toBe(86_400_000);
    for (const v of ["", "-1", "1e3", "30s", "0.0001", "86401", ".5", "5.", "Infinity", "NaN"]) bad(() => parseWait(v));
  });

  test("params - ?ttl: a positive integer with s, m, h or d; bare is seconds", () => {
    expect(parseTtl("45s")).toBe(45_000);
    expect(parseTtl("45")).toBe(45_000);
    expect(parseTtl("10m")).toBe(600_000);
    expect(parseTtl("2h")).toBe(7_200_000);
    expect(parseTtl("7d")).toBe(604_800_000);
    for (const v of ["0", "0s", "-5s", "1.5h", "5w", "s", "", "05s", "1 h", "999999999999d"]) bad(() => parseTtl(v));
  });

  test("params - the query: each known parameter parsed, unknown or repeated ones refused", () => {
    const u = (q: string) => new URL(`http://x/v1/regions/1${q}`);
    expect(parseQuery(u("?wait=5&since=3"), { wait: parseWait, since: parseSince })).toEqual({ wait: 5000, since: 3 });
    expect(parseQuery(u(""), { wait: parseWait })).toEqual({});
    expect(parseQuery(new URL("http://x/v1/kv/g?prefix="), { prefix: text })).toEqual({ prefix: "" });
    expect(bad(() => parseQuery(u("?wiat=5"), { wait: parseWait }))).toContain("?wiat");
    expect(bad(() => parseQuery(u("?x=1"), {}))).toContain("takes none");
    bad(() => parseQuery(u("?wait=1&wait=2"), { wait: parseWait }));
    bad(() => parseQuery(u("?wait=soon"), { wait: parseWait }));
    // A parameter named like an Object property is unknown, not a crash.
    bad(() => parseQuery(u("?constructor=1&__proto__=2"), { wait: parseWait }));
  });
});
