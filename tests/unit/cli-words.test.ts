// The CLI's words, in-process: the word a typo meant, flags the table says
// contradict each other, a value quoted for one line of a terminal, and what
// counts as binary there.

import { describe, expect, test } from "bun:test";
import { binaryType, quote, showsAsIs } from "../../src/cli/output.ts";
import { didYouMean, flag, flagConflict, type CommandSpec } from "../../src/cli/spec.ts";
import { TABLE } from "../../src/cli/table.ts";

const bytes = (...xs: (number | string)[]) => new Uint8Array(xs.flatMap((x) => (typeof x === "string" ? [...Buffer.from(x)] : [x])));

describe("cli words", () => {
  test("cli words - a typo finds the word meant, and nothing when none is close", () => {
    const names = ["copy", "paste", "wait", "list", "history", "status", "kv", "group"];
    expect(didYouMean("past", names)).toBe("paste");
    expect(didYouMean("paset", names)).toBe("paste"); // a swap of neighbours
    expect(didYouMean("lsit", names)).toBe("list");
    expect(didYouMean("histroy", names)).toBe("history");
    expect(didYouMean("stat", names)).toBe("status"); // the only one it begins
    expect(didYouMean("frobnicate", names)).toBeUndefined();
    expect(didYouMean("x", names)).toBeUndefined();
    expect(didYouMean("--jsn", ["--json", "--server"])).toBe("--json");
  });

  test("cli words - flags the table says contradict each other, or need another", () => {
    const c: CommandSpec = {
      name: "probe",
      args: "",
      about: "A probe",
      examples: [],
      flags: [flag("--data <dir>", "", { excludes: ["--memory"] }), flag("--memory", ""), flag("--sep <s>", "", { needs: "--follow" }), flag("--follow", "")],
      run: async () => {},
    };
    expect(flagConflict(c, { data: "/x", memory: true })).toBe("--data and --memory do not go together");
    expect(flagConflict(c, { data: "/x" })).toBeUndefined();
    expect(flagConflict(c, { sep: "," })).toBe("--sep goes with --follow");
    expect(flagConflict(c, { sep: ",", follow: true })).toBeUndefined();
    // The real table declares the pairs the issue named.
    const serve = TABLE.commands.find((x) => x.name === "serve")!;
    expect(flagConflict(serve, { data: "/x", memory: true })).toBe("--data and --memory do not go together");
    const paste = TABLE.commands.find((x) => x.name === "paste")!;
    expect(flagConflict(paste, { rev: "1", back: "1" })).toBe("--rev and --back do not go together");
  });

  test("cli words - a value quoted on one line, as redis-cli shows it", () => {
    expect(quote(bytes("blue"))).toBe('"blue"');
    expect(quote(bytes("a\nb\tc\rd"))).toBe('"a\\nb\\tc\\rd"');
    expect(quote(bytes('say "hi" \\o/'))).toBe('"say \\"hi\\" \\\\o/"');
    expect(quote(bytes(0, 1, 0x1b, 0x7f, 0xff))).toBe('"\\x00\\x01\\x1b\\x7f\\xff"');
    expect(quote(bytes("héllo ✓ 🎉"))).toBe('"héllo ✓ 🎉"'); // printable UTF-8 as it is
    expect(quote(bytes(0xc2, 0x85))).toBe('"\\xc2\\x85"'); // U+0085, a C1 control
    expect(quote(bytes(0xe2, 0x9c))).toBe('"\\xe2\\x9c"'); // a sequence cut short
    expect(quote(bytes(0xed, 0xa0, 0x80))).toBe('"\\xed\\xa0\\x80"'); // a surrogate
    expect(showsAsIs(bytes("line 1\nline 2\tx"), true)).toBe(true);
    expect(showsAsIs(bytes("line 1\nline 2"), false)).toBe(false);
    expect(showsAsIs(bytes("red\x1b[31m"), true)).toBe(false);
  });

  test("cli words - binary, as a terminal sees it: the stored type, else the first bytes", () => {
    expect(binaryType("text/plain;charset=utf-8", bytes("hello"), true)).toBeUndefined();
    expect(binaryType(undefined, bytes("hello"), true)).toBeUndefined();
    expect(binaryType("image/png", bytes("hello"), true)).toBe("image/png");
    expect(binaryType("application/json", bytes('{"a":1}'), true)).toBeUndefined();
    expect(binaryType("text/plain", bytes(0, 1, 2), true)).toBe("application/octet-stream"); // labelled text, holds binary
    expect(binaryType(undefined, bytes(0x89, "PNG\r\n", 0x1a, "\n"), true)).toBe("image/png");
    expect(binaryType("application/octet-stream", bytes(), true)).toBeUndefined(); // nothing to show
  });
});
