// The user reference (docs/REFERENCE.md, docs/clip.1) is the command table
// rendered: the committed files are what `npm run docs` writes now (so they
// never drift from --help), every command and flag of the CLI is in both,
// every CLIP_ variable the code reads and every exit status a ClipError can
// give is documented, and the man page renders without a warning, also with
// text that roff would otherwise read as requests or escapes.

import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { referenceFiles } from "../../scripts/reference.ts";
import { ENVIRONMENT, EXEC_ENVIRONMENT, EXIT_STATUS } from "../../src/cli/manual.ts";
import { manPage, referenceMarkdown } from "../../src/cli/reference.ts";
import { type CommandSpec, type Table, commandsOn, flag, flagNames } from "../../src/cli/spec.ts";
import { TABLE } from "../../src/cli/table.ts";
import { ClipError, type ErrorCode } from "../../src/protocol/errors.ts";
import { tempDir } from "../helpers/clip.ts";

const ROOT = resolve(import.meta.dir, "../..");
const man = Bun.which("man");
const groff = Bun.which("groff");
if (!man || !groff) console.warn("reference: man or groff is missing (Debian packages man-db, groff-base; .ci/run installs them): the man page rendering tests skip");

/** Every .ts file under src. */
function sources(dir = join(ROOT, "src")): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Renders a man page as `man -l` does; stderr holds the warnings. */
function render(path: string): { code: number; out: string; err: string } {
  const r = Bun.spawnSync([man!, "--warnings", "-l", path], { env: { ...process.env, MANWIDTH: "80", MANPAGER: "cat", PAGER: "cat", LANG: "C.UTF-8" }, stdin: "ignore" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("reference", () => {
  test("reference - the committed docs/REFERENCE.md and docs/clip.1 are what npm run docs writes now", () => {
    for (const f of referenceFiles()) {
      const committed = readFileSync(join(ROOT, f.path), "utf8");
      if (committed !== f.text) throw new Error(`${f.path} is out of date with src/cli/table.ts: run npm run docs and commit it`);
      expect(committed).toBe(f.text);
    }
    // And the check mode says the same, with its exit status.
    const check = Bun.spawnSync([process.execPath, join(ROOT, "scripts/reference.ts"), "--check"], { stdin: "ignore" });
    expect(check.stderr.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  });

  test("reference - every CLI command, argument, flag, help line and example is in both", () => {
    const md = referenceMarkdown(TABLE, "9.9.9");
    const roff = manPage(TABLE, "9.9.9");
    const asRoff = (s: string) => s.replace(/\\/g, "\\e").replace(/-/g, "\\-");
    const cli = commandsOn(TABLE, "cli");
    expect(cli.length).toBeGreaterThan(20);
    for (const c of cli) {
      expect(md).toMatch(new RegExp(`^#{3,4} clip ${c.name}$`, "m"));
      expect(roff).toContain(`\\fBclip ${asRoff(c.name)}\\fR`);
      expect(md).toContain(`clip ${c.name}${c.args ? ` ${c.args}` : ""}`);
      for (const f of c.flags) {
        expect(md).toContain(`\`${f.spell}\`: ${f.about}`);
        expect(roff).toContain(asRoff(f.about));
        for (const n of flagNames(f)) expect(roff).toContain(`\\fB${asRoff(n)}\\fR`);
      }
      for (const e of c.examples) {
        expect(md).toContain(`\n${e}\n`);
        expect(roff).toContain(`\n${asRoff(e)}\n`);
      }
    }
    for (const c of commandsOn(TABLE, "shell")) expect(md).toContain(c.shell?.about ?? c.about);
  });

  test("reference - every CLIP_ variable the code reads is documented, and every exit status a ClipError gives", () => {
    const documented = new Set([...ENVIRONMENT, ...EXEC_ENVIRONMENT].map((e) => e.name));
    const used = new Set<string>();
    for (const file of sources()) for (const m of readFileSync(file, "utf8").matchAll(/\bCLIP_[A-Z][A-Z0-9_]*\b/g)) used.add(m[0]);
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((v) => !documented.has(v)).sort()).toEqual([]);

    // The union's members, as errors.ts declares them; each one's status must be in the table.
    const errors = readFileSync(join(ROOT, "src/protocol/errors.ts"), "utf8");
    const union = /export type ErrorCode =([^;]*);/.exec(errors)![1];
    const codes = [...union.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1] as ErrorCode);
    expect(codes).toContain("USAGE");
    const statuses = new Set(EXIT_STATUS.map((e) => e.status));
    for (const c of codes) expect({ code: c, status: new ClipError(c, "").exitCode, listed: statuses.has(new ClipError(c, "").exitCode) }).toMatchObject({ listed: true });
    expect(statuses.has(0)).toBe(true);
  });

  test.skipIf(!man || !groff)("reference - man ./docs/clip.1 renders without a warning and shows every command", () => {
    const r = render(join(ROOT, "docs/clip.1"));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    for (const c of commandsOn(TABLE, "cli")) expect(r.out).toContain(`clip ${c.name}`);
    expect(r.out).toContain("EXIT STATUS");
    const g = Bun.spawnSync([groff!, "-man", "-ww", "-z", join(ROOT, "docs/clip.1")], { stdin: "ignore" });
    expect(g.stderr.toString()).toBe("");
    expect(g.exitCode).toBe(0);
  });

  test.skipIf(!man || !groff)("reference - help text that roff would take as requests or escapes comes out as written", () => {
    using dir = tempDir("ref");
    const odd: CommandSpec = {
      name: "odd",
      args: "<region>",
      about: ".TH looks like a request",
      completes: { region: "region" },
      flags: [flag("--sep <sep>", "'quoted at the start, a \\fB backslash, \\t and \\0, and caf\u00e9 \u2192 here")],
      examples: [".hidden example", "clip odd 3 --sep '\\n---\\n'"],
      run: async () => {},
    };
    const table: Table = { commands: [...TABLE.commands, odd], families: TABLE.families };
    const page = join(String(dir), "odd.1");
    writeFileSync(page, manPage(table, "1.0"));
    const r = render(page);
    expect(r.err).toBe("");
    const flat = r.out.replace(/\s+/g, " ");
    expect(flat).toContain(".TH looks like a request.");
    expect(flat).toContain("'quoted at the start, a \\fB backslash, \\t and \\0, and caf\u00e9 \u2192 here");
    expect(flat).toContain(".hidden example");
    expect(flat).toContain("clip odd 3 --sep '\\n---\\n'");
  });
});
