// Writes the user reference from the command table: docs/REFERENCE.md and
// the man page docs/clip.1 (src/cli/reference.ts renders them). Run it after
// changing a command, a flag, a help line or an example: `npm run docs`.
// With --check it writes nothing, names the files that are out of date and
// exits 1 (tests/unit/reference.test.ts runs the same comparison).

import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { manPage, referenceMarkdown } from "../src/cli/reference.ts";
import { TABLE } from "../src/cli/table.ts";
import { VERSION } from "../src/version.ts";

const ROOT = resolve(import.meta.dir, "..");

/** Each generated file (relative to the project) and what it should hold now. */
export function referenceFiles(): { path: string; text: string }[] {
  return [
    { path: "docs/REFERENCE.md", text: referenceMarkdown(TABLE, VERSION) },
    { path: "docs/clip.1", text: manPage(TABLE, VERSION) },
  ];
}

const read = (p: string): string | null => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return null;
  }
};

if (import.meta.main) {
  const check = process.argv.includes("--check");
  const stale = referenceFiles().filter((f) => read(join(ROOT, f.path)) !== f.text);
  if (check) {
    for (const f of stale) process.stderr.write(`reference: ${f.path} is out of date: run npm run docs\n`);
    process.exit(stale.length ? 1 : 0);
  }
  for (const f of stale) writeFileSync(join(ROOT, f.path), f.text);
  process.stdout.write(stale.length ? `reference: wrote ${stale.map((f) => f.path).join(", ")}\n` : "reference: up to date\n");
}
