// The shell's word splitter: quotes, escapes, comments, as sh reads them.

import { expect, test } from "bun:test";
import { words } from "../../src/cli/shell.ts";
import { formatChat } from "../../src/cli/chat.ts";

test("shell - words split like sh: quotes, escapes, comments", () => {
  expect(words("copy 3 hello   world")).toEqual(["copy", "3", "hello", "world"]);
  expect(words(`copy 3 'a  b' "c \\"d\\" \\$e" f\\ g`)).toEqual(["copy", "3", "a  b", 'c "d" $e', "f g"]);
  expect(words("kv put k ''")).toEqual(["kv", "put", "k", ""]);
  expect(words("  # a comment")).toEqual([]);
  expect(words("paste 3 # trailing comment")).toEqual(["paste", "3"]);
  expect(words("kv put k a#b")).toEqual(["kv", "put", "k", "a#b"]);
  expect(words("\t")).toEqual([]);
  expect(() => words("copy 3 'open")).toThrow(/unterminated ' quote/);
  expect(() => words('copy 3 "open')).toThrow(/unterminated " quote/);
});

test("chat - lines are shown as HH:MM name: text", () => {
  process.env.NO_COLOR = "1"; // plain, even when the tests run at a terminal
  const at = new Date(2026, 0, 2, 9, 5).getTime();
  expect(formatChat({ kind: "msg", name: "amy", text: "hi: there", at })).toBe("09:05 amy: hi: there");
  expect(formatChat({ kind: "join", name: "bob", at, server: "box" })).toBe("09:05 * bob joined (on box)");
  expect(formatChat({ kind: "leave", name: "bob", at })).toBe("09:05 * bob left");
  expect(formatChat({ kind: "joined", at })).toBeNull();
});
