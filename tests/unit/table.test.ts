// The command table is the one source: a command or flag declared in it (and
// only there) is parsed and run by the CLI and by the shell, shown by
// --help and the shell's help, and offered by the bash, zsh and fish
// completions. Built in-process from a table with a command added by the
// test, whose body records what it was given.

import { describe, expect, test } from "bun:test";
import { cliParser } from "../../src/cli/argv.ts";
import { bashScript, commandsOf, fishScript, zshScript } from "../../src/cli/completion.ts";
import type { Ctx } from "../../src/cli/context.ts";
import { parseLine, shellHelp } from "../../src/cli/line.ts";
import { type CommandSpec, type Table, type Values, commandsOn, flag, flagNames } from "../../src/cli/spec.ts";
import { TABLE } from "../../src/cli/table.ts";
import { tempDir } from "../helpers/clip.ts";
import { bash, bashComplete, fish, fishComplete, saveScript, zsh, zshComplete } from "../helpers/completion.ts";

process.env.NO_COLOR = "1";

/** TABLE plus `probe`, `kv probe` and a flag on `wait`, all declared here only. */
function probed() {
  const seen: { args: Values; flags: Values }[] = [];
  const record = async (_: Ctx, args: Values, flags: Values) => {
    seen.push({ args, flags });
  };
  const probe: CommandSpec = {
    name: "probe",
    args: "<region> [file]",
    about: "Probe a region, declared by the test",
    completes: { region: "region", file: "file" },
    shell: { args: "<region> <text...>" },
    flags: [
      flag("--probe-level <n>", "how deep to probe", { completes: ["low", "high"] }),
      flag("--tag <tag>", "a tag (repeatable)", { repeat: true }),
      flag("--loud", "a switch"),
      flag("--cli-only-x <v>", "only on the command line", { only: "cli" }),
    ],
    examples: ["clip probe 3 --probe-level high"],
    run: record,
  };
  // The shape --prefix will have: `kv watch` with no key when a prefix is given.
  const kvProbe: CommandSpec = {
    name: "kv probe",
    args: "[key]",
    about: "Probe keys, declared by the test",
    flags: [flag("--prefix <p>", "every key under P")],
    examples: ["clip kv probe --prefix conf/"],
    run: record,
  };
  const commands = TABLE.commands.map((c) => (c.name === "wait" ? { ...c, flags: [...c.flags, flag("--probe-since <rev>", "from this revision on")] } : c));
  const at = commands.findIndex((c) => c.name === "kv watch") + 1;
  const table: Table = { ...TABLE, commands: [...commands.slice(0, at), kvProbe, ...commands.slice(at), probe] };
  return { table, seen };
}

/** What cac prints (console.info) while `fn` runs. */
function printed(fn: () => void): string {
  const info = console.info;
  let out = "";
  console.info = (s: unknown) => {
    out += `${s}\n`;
  };
  try {
    fn();
  } finally {
    console.info = info;
  }
  return out;
}

const helpOf = (table: Table, argv: string[], family?: string) =>
  printed(() => cliParser(table, family, argv[0]).parse(["", "", ...argv, "--help"], { run: false }));

describe("table", () => {
  test("table - a command declared in the table is parsed and run by the CLI and the shell alike", async () => {
    const { table, seen } = probed();
    const cli = cliParser(table, undefined, "probe");
    cli.parse(["", "", "probe", "007", "--loud", "0x10", "--probe-level", "1e3", "--tag", "a", "--tag=00", "--tag", ""], { run: false });
    await cli.runMatchedCommand();
    // Words arrive as typed (mri would make 7, 16, 1000, 0 of them); a repeatable flag keeps every value.
    expect(seen[0].args).toEqual({ region: "007", file: "0x10" });
    expect(seen[0].flags).toMatchObject({ probeLevel: "1e3", tag: ["a", "00", ""], loud: true });

    // The shell: its own arguments (TEXT, to the end of the line), the same flags, the same body.
    const p = parseLine(table, "probe 7 --tag a --probe-level=high --tag b hello --loud world");
    expect(p.command.name).toBe("probe");
    await p.command.run({} as Ctx, p.args, p.flags);
    expect(seen[1].args).toEqual({ region: "7", file: undefined, text: "hello --loud world" });
    expect(seen[1].flags).toEqual({ tag: ["a", "b"], probeLevel: "high" });
    expect(() => parseLine(table, "probe --cli-only-x 1 7 text")).toThrow(/unknown flag --cli-only-x/);

    // An action of a family, with its positional left out when a flag stands in for it.
    const kv = cliParser(table, "kv", "probe");
    kv.parse(["", "", "probe", "--prefix", "conf/"], { run: false });
    await kv.runMatchedCommand();
    expect(seen[2]).toEqual({ args: { key: undefined }, flags: expect.objectContaining({ prefix: "conf/" }) });
    const sp = parseLine(table, "kv probe --prefix conf/");
    expect(sp.args).toEqual({ key: undefined });
    expect(sp.flags).toEqual({ prefix: "conf/" });
  });

  test("table - a command and a flag declared in the table show in --help and the shell's help", () => {
    const { table } = probed();
    const top = helpOf(table, []);
    expect(top).toContain("probe <region> [file]");
    expect(top).toContain("Probe a region, declared by the test");
    expect(top).toMatch(/kv <action> \[\.\.\.args\] +Keys in a group: put, get, del, list, history, watch, probe /);
    const own = helpOf(table, ["probe"]);
    for (const s of ["--probe-level <n>", "how deep to probe", "--tag <tag>", "--loud", "--cli-only-x <v>", "clip probe 3 --probe-level high"]) expect(own).toContain(s);
    expect(helpOf(table, ["wait"])).toContain("--probe-since <rev>  from this revision on");
    expect(helpOf(table, ["probe"], "kv")).toContain("clip kv probe --prefix conf/");

    const sh = shellHelp(table);
    expect(sh).toMatch(/^ {2}probe REGION TEXT\.\.\. \[--probe-level N\] \[--tag TAG\] \[--loud\] +Probe a region, declared by the test$/m);
    expect(sh).toMatch(/^ {2}wait REGION \[--timeout SECONDS\] \[--follow\] \[--since REV\] \[--probe-since REV\] /m);
    expect(sh).toMatch(/^ {2}kv probe \[KEY\] \[--prefix P\] /m);
    expect(sh).not.toContain("--cli-only-x");
  });

  test("table - a command and a flag declared in the table are completed by bash, zsh and fish", async () => {
    const { table } = probed();
    using dir = tempDir("tc");
    const cmds = commandsOf(table);
    const scripts = {
      bash: saveScript(String(dir), "clip.bash", bashScript(cmds)),
      zsh: saveScript(String(dir), "_clip", zshScript(cmds)),
      fish: saveScript(String(dir), "clip.fish", fishScript(cmds)),
    };
    const regions = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    // In order of the words (fish sorts what it offers).
    const sorted = (p: Promise<string[]>) => p.then((xs) => xs.sort());
    const shells = [
      [bash, (w: string[]) => sorted(bashComplete(scripts.bash, w))],
      [zsh, (w: string[]) => sorted(zshComplete(scripts.zsh, w))],
      [fish, (w: string[]) => sorted(fishComplete(scripts.fish, w))],
    ] as const;
    let ran = 0;
    for (const [have, complete] of shells) {
      if (!have) continue; // bash is always there; zsh and fish come from .ci/run's apt line
      ran++;
      expect(await complete(["clip", "pro"])).toEqual(["probe"]);
      expect(await complete(["clip", "probe", "--p"])).toEqual(["--probe-level"]);
      expect(await complete(["clip", "probe", "--c"])).toEqual(["--cli-only-x"]);
      expect(await complete(["clip", "probe", "--probe-level", ""])).toEqual(["high", "low"]);
      expect(await complete(["clip", "probe", ""])).toEqual(regions);
      // The second argument is a file (bash and fish list them; zsh calls _files), not a region.
      const second = await complete(["clip", "probe", "3", ""]);
      expect(second.some((x) => x === "README.md" || x === "<files>")).toBe(true);
      expect(second).not.toContain("0");
      expect(await complete(["clip", "wait", "3", "--probe-s"])).toEqual(["--probe-since"]);
      expect(await complete(["clip", "kv", "pr"])).toEqual(["probe"]);
      expect(await complete(["clip", "kv", "probe", "--pre"])).toEqual(["--prefix"]);
    }
    expect(ran).toBeGreaterThanOrEqual(1);
  });

  test("table - shell-only and CLI-only commands stay on their surface", () => {
    const shellOnly = TABLE.commands.filter((c) => c.only === "shell").map((c) => c.name);
    const cliOnly = TABLE.commands.filter((c) => c.only === "cli").map((c) => c.name);
    expect(shellOnly.sort()).toEqual(["quit", "unwatch", "use", "watches"]);
    expect(cliOnly.sort()).toEqual(["chat", "completion", "desktop", "keygen", "serve", "shell", "version"]);
    const top = helpOf(TABLE, []);
    const sh = shellHelp(TABLE);
    const script = bashScript(commandsOf(TABLE));
    for (const n of shellOnly) {
      expect(top).not.toMatch(new RegExp(`^ {2}${n}\\b`, "m"));
      expect(sh).toMatch(new RegExp(`^ {2}${n}\\b`, "m"));
      expect(script).not.toContain(`'${n}')`);
    }
    for (const n of cliOnly) {
      expect(top).toMatch(new RegExp(`^ {2}${n}\\b`, "m"));
      expect(sh).not.toMatch(new RegExp(`^ {2}${n}\\b`, "m"));
      expect(() => parseLine(TABLE, n)).toThrow(/unknown command/);
    }
  });

  test("table - every command has a purpose, every CLI command an example, and no name or flag twice", () => {
    const names = TABLE.commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
    expect(new Set(names).size).toBe(names.length);
    for (const c of TABLE.commands) {
      expect(c.about, c.name).toMatch(/^[A-Z].{5,}/);
      if (c.only !== "shell") {
        expect(c.examples.length, c.name).toBeGreaterThan(0);
        for (const e of c.examples) expect(e, c.name).toMatch(/\bclip /);
      }
      const flags = c.flags.flatMap(flagNames);
      expect(new Set(flags).size, c.name).toBe(flags.length);
    }
    // The families the CLI parses on their own are the ones the table names.
    expect(Object.keys(TABLE.families).sort()).toEqual([...new Set(commandsOn(TABLE, "cli").filter((c) => c.name.includes(" ")).map((c) => c.name.split(" ")[0]))].sort());
  });
});

describe("shell lines", () => {
  const parse = (line: string) => {
    const p = parseLine(TABLE, line);
    return { name: p.command.name, args: p.args, flags: p.flags };
  };

  test("shell - a line's words meet the command's arguments and flags", () => {
    // TEXT is the rest of the line exactly as typed: spaces, quotes, backslashes, # kept; what looks like a flag there is text.
    expect(parse("copy 3 hello   world")).toEqual({ name: "copy", args: { region: "3", text: "hello   world" }, flags: {} });
    expect(parse("copy 3 a\\tb")).toMatchObject({ args: { text: "a\\tb" } });
    expect(parse("copy 3 it's")).toMatchObject({ args: { text: "it's" } });
    expect(parse(`copy 3 "quoted"  # not a comment  `)).toMatchObject({ args: { text: `"quoted"  # not a comment  ` } });
    expect(parse("copy 3 hello --json")).toMatchObject({ args: { text: "hello --json" }, flags: {} });
    expect(parse("copy 3 --not-a-flag x")).toMatchObject({ args: { text: "--not-a-flag x" } });
    expect(parse("copy 3 --ttl 45s a  b")).toMatchObject({ args: { text: "a  b" }, flags: { ttl: "45s" } });
    expect(parse("copy 3 -- --json")).toMatchObject({ args: { text: "--json" }, flags: {} });
    expect(parse("copy 3 line\r")).toMatchObject({ args: { text: "line" } });
    expect(parse("kv put k -1")).toMatchObject({ name: "kv put", args: { key: "k", value: "-1" } });
    expect(parse("kv put 'my key' it's  here")).toMatchObject({ name: "kv put", args: { key: "my key", value: "it's  here" } });
    expect(parse("kv list conf/ --json")).toEqual({ name: "kv list", args: { prefix: "conf/" }, flags: { json: true } });
    expect(parse("wait 1 --follow --timeout=2.5")).toEqual({ name: "wait", args: { region: "1" }, flags: { follow: true, timeout: "2.5" } });
    expect(parse("exit").name).toBe("quit");
    expect(parse("use app s3cr3t").args).toEqual({ group: "app", secret: "s3cr3t" });
    expect(() => parse("paste 3 4")).toThrow(/^usage: paste REGION \[--rev REV\] \[--back N\]$/);
    expect(() => parse("copy 3")).toThrow(/^usage: copy REGION TEXT\.\.\. \[--type TYPE\] \[--ttl DUR\] \[--if-rev REV\] \[--json\] \[--encrypt\]$/);
    expect(() => parse("wait 1 --timeout")).toThrow(/--timeout needs a value/);
    expect(() => parse("list --jsn")).toThrow(/unknown flag --jsn/);
    expect(() => parse("wait 1 --sep x")).toThrow(/unknown flag --sep/); // the CLI's only
    expect(() => parse("kv frob")).toThrow(/^usage: kv put\|get\|del\|list\|history\|watch \.\.\. \(not "frob"\)$/);
    expect(() => parse("serve")).toThrow(/unknown command "serve" \(try help\)/);
  });
});
