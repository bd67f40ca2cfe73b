// The built executable shows the command table whole, in every surface: each
// command and flag in its --help, in the shell's help, and completed by the
// bash, zsh and fish scripts it prints; a few flags are named here outright,
// so that one dropped from the table is missed. And a command gives the same
// output whether the CLI or the shell runs it: one body for both.

import { describe, expect, test } from "bun:test";
import { shellCommands } from "../../src/cli/line.ts";
import { type CommandSpec, commandsOn, flagNames, splitName } from "../../src/cli/spec.ts";
import { TABLE } from "../../src/cli/table.ts";
import { clip, startServer, tempDir } from "../helpers/clip.ts";
import { bash, bashComplete, fish, fishComplete, saveScript, zsh, zshComplete } from "../helpers/completion.ts";

const words = (c: CommandSpec) => c.name.split(" ");
const longNames = (c: CommandSpec) => c.flags.flatMap(flagNames).filter((n) => n.startsWith("--"));

/** The scripts `clip completion` prints, saved for the shells; and a way to ask each. */
async function completers(dir: string) {
  const script = async (sh: string, name: string) => {
    const r = await clip(["completion", sh]);
    expect(r.code).toBe(0);
    return saveScript(dir, name, r.text);
  };
  type Env = Record<string, string | undefined>;
  const out: [string, (w: string[], env?: Env) => Promise<string[]>][] = [];
  if (bash) {
    const f = await script("bash", "clip.bash");
    out.push(["bash", (w, env) => bashComplete(f, w, env)]);
  }
  if (zsh) {
    const f = await script("zsh", "_clip");
    out.push(["zsh", (w, env) => zshComplete(f, w, env)]);
  }
  if (fish) {
    const f = await script("fish", "clip.fish");
    out.push(["fish", (w, env) => fishComplete(f, w, env)]);
  }
  return out;
}

/** What `help` prints in a piped shell (it needs no server). */
async function shellHelp(): Promise<string> {
  using d = tempDir("th");
  const r = await clip(["shell", "--server", `unix:${String(d)}/none.sock`], { stdin: "help\n" });
  expect(r.code).toBe(0);
  return r.text;
}

describe("table", () => {
  test("table - every command and flag of the table is in its --help, the shell's help and the three completions", async () => {
    using dir = tempDir("tt");
    const cli = commandsOn(TABLE, "cli");
    await Promise.all(
      cli.map(async (c) => {
        const h = await clip([...words(c), "--help"]);
        expect(h.code, c.name).toBe(0);
        expect(h.text, c.name).toContain(c.about);
        for (const f of c.flags) expect(h.text, `${c.name} ${f.spell}`).toMatch(new RegExp(`^ {2}${f.spell.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} +${f.about.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m"));
        for (const e of c.examples) expect(h.text, c.name).toContain(e);
      }),
    );

    const help = await shellHelp();
    for (const c of shellCommands(TABLE)) {
      const line = help.split("\n").find((l) => l.startsWith(`  ${c.name} `) || l === `  ${c.name}` || l.startsWith(`  ${c.name}|`));
      expect(line, c.name).toBeDefined();
      expect(line, c.name).toContain(c.about);
      for (const n of longNames(c)) expect(line, `${c.name} ${n}`).toContain(`[${n}`);
    }

    const shells = await completers(String(dir));
    expect(shells.length).toBeGreaterThanOrEqual(1);
    for (const [sh, complete] of shells) {
      const top = await complete(["clip", ""]);
      for (const c of cli) expect(top, `${sh}: ${c.name}`).toContain(words(c)[0]);
      for (const c of cli) {
        const [family, action] = splitName(c);
        if (family) expect(await complete(["clip", family, action.slice(0, 1)]), `${sh}: ${c.name}`).toContain(action);
        expect((await complete(["clip", ...words(c), "--"])).sort(), `${sh}: ${c.name} --`).toEqual([...longNames(c), "--help"].sort());
      }
    }
  });

  test("table - wait --timeout and kv watch --exec-timeout show in --help, the shell's help and the completions", async () => {
    // Named here, not read from the table: drop one from the table and this fails.
    expect((await clip(["wait", "--help"])).text).toMatch(/^ {2}--timeout <seconds> +give up after this long \(exit 124\)$/m);
    expect((await clip(["kv", "watch", "--help"])).text).toMatch(/^ {2}--exec-timeout <seconds> +kill a CMD still running/m);
    expect(await shellHelp()).toMatch(/^ {2}wait REGION \[--timeout SECONDS\] \[--follow\] \[--since REV\] +Wait for the next write/m);
    using dir = tempDir("tw");
    for (const [sh, complete] of await completers(String(dir))) {
      expect(await complete(["clip", "wait", "3", "--ti"]), sh).toEqual(["--timeout"]);
      expect((await complete(["clip", "kv", "watch", "--exec"])).sort(), sh).toEqual(["--exec", "--exec-timeout"]);
    }
  });

  test("table - a command prints the same from the CLI as from the shell", async () => {
    await using s = await startServer({ memory: true, name: "same" });
    const S = (await s.run(["group", "create", "app"])).text.trim();
    const env = { CLIP_GROUP: "app", CLIP_SECRET: S };
    expect((await s.run(["copy", "3"], { stdin: "hello there\n" })).code).toBe(0);
    expect((await s.run(["kv", "put", "color"], { env, stdin: "deep blue\n" })).code).toBe(0);
    expect((await s.run(["kv", "put", "conf/a", "1"], { env })).code).toBe(0);
    const commands = [
      ["list", "--json"],
      ["status", "--json"],
      ["tree", "--json"],
      ["paste", "3"],
      ["kv", "get", "color"],
      ["kv", "list", "--json"],
      ["kv", "list", "conf/", "--json"],
      ["group", "list", "--json"],
      ["group", "info", "app", "--json"],
    ];
    const sh = await s.run(["shell"], { stdin: [`use app ${S}`, ...commands.map((c) => c.join(" "))].join("\n") });
    expect(sh.stderr).toBe("");
    expect(sh.code).toBe(0);
    const lines = sh.text.split("\n");
    expect(lines.length).toBe(commands.length + 1); // one line each, and the final newline

    // What changes from one connection to the next: how many there are, how long the server has run.
    const steady = (line: string): unknown => {
      if (!line.startsWith("{") && !line.startsWith("[")) return line;
      const drop = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(drop) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).filter(([k]) => !["uptime", "clients", "commands", "apps"].includes(k)).map(([k, x]) => [k, drop(x)])) : v;
      return drop(JSON.parse(line));
    };
    for (const [i, c] of commands.entries()) {
      const r = await s.run(c, { env });
      expect(r.code, c.join(" ")).toBe(0);
      expect(r.text.endsWith("\n"), c.join(" ")).toBe(true);
      expect(steady(lines[i]), c.join(" ")).toEqual(steady(r.text.slice(0, -1)));
    }
    expect(lines[3]).toBe("hello there");
    expect(lines[4]).toBe("deep blue");
    expect(JSON.parse(lines[6])).toMatchObject([{ key: "conf/a" }]);
  });

  test("completion - bash, zsh and fish complete group names from the server on the line, or CLIP_SERVER", async () => {
    await using s = await startServer({ memory: true });
    for (const g of ["alpha", "beta"]) expect((await s.run(["group", "create", g])).code).toBe(0);
    const addr = `unix:${s.socket}`;
    using dir = tempDir("tg");
    for (const [sh, complete] of await completers(String(dir))) {
      expect((await complete(["clip", "group", "info", "-s", addr, ""])).sort(), sh).toEqual(["alpha", "beta"]);
      expect(await complete(["clip", "kv", "get", "--server", addr, "-g", "a"]), sh).toEqual(["alpha"]);
      expect(await complete(["clip", "shell", "--group", "b"], { CLIP_SERVER: addr }), sh).toEqual(["beta"]);
      expect(await complete(["clip", "group", "delete", ""], { CLIP_SERVER: `unix:${String(dir)}/none.sock` }), sh).toEqual([]);
    }
  });

  test("table - argv values arrive as typed: numeric-looking secrets, names and addresses are not numbers", async () => {
    for (const addr of ["007", "1e3", "0x10"]) {
      const r = await clip(["list", "--server", addr]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`clip: bad address "${addr}": expected host:port, tcp:host:port or unix:/path (see clip list --help)\n`);
    }
    await using s = await startServer({ memory: true });
    const S = (await s.run(["group", "create", "007"])).text.trim();
    expect((await s.run(["kv", "put", "-g", "007", "k", "v"], { env: { CLIP_SECRET: S } })).code).toBe(0);
    const list = await s.run(["kv", "list", "--json", "1e3"], { env: { CLIP_GROUP: "007", CLIP_SECRET: S } });
    expect(list.code).toBe(0);
    expect(list.text).toBe("[]\n"); // the prefix "1e3", not "1000"
  });
});
