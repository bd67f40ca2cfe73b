// Media type recognition and the parsing of durations and revisions: pure
// rules the CLI, the server and HTTP share.

import { describe, expect, test } from "bun:test";
import { parseDuration, parseRevision } from "../../src/protocol/messages.ts";
import { OCTETS, TEXT, checkMediaType, sniff } from "../../src/value/mediatype.ts";

const b = (...xs: number[]) => Uint8Array.from(xs);
const t = (s: string) => new TextEncoder().encode(s);

describe("media types", () => {
  test("sniff - signatures win over the text test", () => {
    expect(sniff(b(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2))).toBe("image/png");
    expect(sniff(b(0xff, 0xd8, 0xff, 0xe0))).toBe("image/jpeg");
    expect(sniff(t("GIF89a..."))).toBe("image/gif");
    expect(sniff(t("RIFF\x00\x00\x00\x00WEBPVP8 "))).toBe("image/webp");
    expect(sniff(t("%PDF-1.7\n"))).toBe("application/pdf");
    expect(sniff(b(0x1f, 0x8b, 8, 0))).toBe("application/gzip");
    expect(sniff(t("PK\x03\x04rest"))).toBe("application/zip");
    // "%PDF-" is also valid UTF-8 text: the signature wins.
    expect(sniff(t("%PDF-"))).toBe("application/pdf");
  });

  test("sniff - UTF-8 text, a sequence cut at the end of a partial head, and binary", () => {
    expect(sniff(t("héllo\n\tworld"))).toBe(TEXT);
    expect(sniff(new Uint8Array(0))).toBe(TEXT);
    const cut = t("ab€").subarray(0, 4); // "ab" and 2 of the 3 bytes of €
    expect(sniff(cut, true)).toBe(OCTETS); // the whole value: a broken sequence is not text
    expect(sniff(cut, false)).toBe(TEXT); // a head of a longer value: the rest follows
    expect(sniff(b(0x00, 0x01, 0x02))).toBe(OCTETS);
    expect(sniff(b(0xc3, 0x28))).toBe(OCTETS);
  });

  test("checkMediaType - type/subtype with parameters; anything else is a usage error", () => {
    expect(checkMediaType("application/json")).toBe("application/json");
    expect(checkMediaType("text/plain; charset=utf-8")).toBe("text/plain; charset=utf-8");
    expect(checkMediaType("image/svg+xml")).toBe("image/svg+xml");
    for (const bad of ["text", "a b/c", "/x", "x/", "text/plain;", "x/y\nz", "", 5]) expect(() => checkMediaType(bad)).toThrow(/bad --type/);
  });

  test("durations - integers with s, m, h or d; a bare number is seconds; positive and bounded", () => {
    expect(parseDuration("45s")).toBe(45_000);
    expect(parseDuration("45")).toBe(45_000);
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("7d")).toBe(604_800_000);
    for (const bad of ["0", "-1", "1.5s", "1y", "s", "", "99999d", "1 s"]) expect(() => parseDuration(bad)).toThrow(/bad --ttl/);
  });

  test("revisions - non-negative integers only", () => {
    expect(parseRevision("0", "--rev")).toBe(0);
    expect(parseRevision("1187", "--rev")).toBe(1187);
    for (const bad of ["-1", "1.5", "x", "", "1e3"]) expect(() => parseRevision(bad, "--rev")).toThrow(/bad --rev/);
  });
});
