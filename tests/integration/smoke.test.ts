import { expect, test } from "bun:test";
import { startServer } from "../helpers/clip.ts";

test("clipboard - copy then paste returns the same bytes", async () => {
  await using s = await startServer({ memory: true });
  const c = await s.run(["copy", "3"], { stdin: "hello\n" });
  expect(c.code).toBe(0);
  const p = await s.run(["paste", "3"]);
  expect(p.code).toBe(0);
  expect(p.text).toBe("hello\n");
});
