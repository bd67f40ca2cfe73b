// clip's argv: a cac parser built from the command table, for the top level
// or for one family (cac has one level of sub-commands, so `clip kv put` is
// `put` in a parser of its own, and `clip kv put --help` is that action's
// help), and the layout every --help shares.

import { type CAC, cac } from "cac";
import { ClipError } from "../protocol/errors.ts";
import { cliContext } from "./context.ts";
import { type CommandSpec, type Table, type Values, argsOf, commandsOn, familyAbout, flagKey, splitName, takesValue, topLevel } from "./spec.ts";

type Section = { title?: string; body: string };

/** A mark no argv word can hold (argv is C strings); it makes a word no number. */
const RAW = "\0";
/** mri's own test for "this is a number" (so "", "007", "1e3" and "0x10" are). */
const numeric = (w: string) => +w * 0 === 0;
const mark = (w: string): string => {
  if (!w.startsWith("-")) return numeric(w) ? RAW + w : w;
  const eq = w.indexOf("=");
  return eq > 0 && numeric(w.slice(eq + 1)) ? `${w.slice(0, eq + 1)}${RAW}${w.slice(eq + 1)}` : w;
};
const unmark = (v: unknown): unknown =>
  typeof v === "string" ? (v.startsWith(RAW) ? v.slice(1) : v) : Array.isArray(v) ? v.map(unmark) : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unmark(x)])) : v;

type Mri = (argv: string[], command?: unknown) => { args: unknown[]; options: Values };

/**
 * cac passes every word through mri, which turns numeric-looking ones into
 * numbers whatever the option's declared type: `--secret 0123` would arrive
 * as "123", `-g 1e3` as "1000", `--server=0x10` as "16", and a positional
 * after a switch (`kv list --json 007`) as 7. So such words are marked before
 * mri sees them and unmarked after, and arrive as typed. (cac.mri is not
 * part of cac's typed API; tests/unit/table.test.ts fails if it changes.)
 */
function keepStrings(cli: CAC): void {
  const own = cli as unknown as { mri: Mri };
  const mri = own.mri.bind(cli);
  own.mri = (argv, command) => {
    const { args, options } = mri(argv.map(mark), command);
    return { args: args.map(unmark), options: unmark(options) as Values };
  };
}

/** Every --help: the command's one-line purpose above its usage, and no trailing blanks. */
function helpLayout(cli: CAC): (sections: Section[]) => Section[] {
  return (sections) => {
    const out = sections.map((s) => ({ ...s, body: s.body.replace(/[ \t]+$/gm, "") }));
    const purpose = cli.matchedCommand?.description;
    if (purpose) out.splice(1, 0, { body: purpose });
    return out;
  };
}

/**
 * cac hands `type: [String]` flags over as lists: a flag given twice keeps
 * its last value, but the table's repeatable ones keep them all.
 */
export function flat(o: Values, c: CommandSpec): Values {
  const keep = new Set(["--", ...c.flags.filter((f) => f.repeat).map(flagKey)]);
  const r: Values = {};
  for (const [k, v] of Object.entries(o)) r[k] = Array.isArray(v) && !keep.has(k) ? v[v.length - 1] : v;
  return r;
}

function declare(cli: CAC, c: CommandSpec, name: string): void {
  const cmd = cli.command(c.args ? `${name} ${c.args}` : name, c.about);
  // A list of strings (flat() keeps the last unless the flag repeats); keepStrings() keeps them as typed.
  for (const f of c.flags) cmd.option(f.spell, f.about, takesValue(f) ? { type: [String] } : undefined);
  for (const e of c.examples) cmd.example(e);
  const args = argsOf(c.args);
  cmd.action(async (...xs: unknown[]) => {
    const flags = flat(xs.pop() as Values, c);
    const values: Values = {};
    args.forEach((a, i) => {
      const v = xs[i];
      values[a.name] = v === undefined ? undefined : Array.isArray(v) ? v.map(String) : String(v);
    });
    const ctx = cliContext(flags);
    try {
      await c.run(ctx, values, flags);
    } finally {
      ctx.close();
    }
  });
}

/**
 * The parser for `clip WORD ...`, or for `clip FAMILY WORD ...`. When WORD
 * names a command, that command alone is declared: cac parses argv once
 * per declared command, and a run needs only its own.
 */
export function cliParser(table: Table, family: string | undefined, word: string | undefined): CAC {
  const cli = cac(family ? `clip ${family}` : "clip");
  keepStrings(cli);
  const commands = commandsOn(table, "cli");
  if (family) {
    const actions = commands.filter((c) => splitName(c)[0] === family);
    const only = actions.filter((c) => splitName(c)[1] === word);
    for (const c of only.length ? only : actions) declare(cli, c, splitName(c)[1]);
  } else {
    const only = commands.filter((c) => c.name === word && splitName(c)[0] === undefined);
    for (const item of only.length ? only.map((command) => ({ command })) : topLevel(commands)) {
      if ("command" in item) declare(cli, item.command, item.command.name);
      else {
        const fam = item.family;
        // Listed here for --help; main.ts gives `clip FAMILY ...` to the family's own parser.
        cli
          .command(`${fam} <action> [...args]`, familyAbout(table, fam))
          .allowUnknownOptions()
          .action(() => {
            throw new ClipError("USAGE", `"${fam}" comes first: clip ${fam} ACTION [flags] (see clip ${fam} --help)`);
          });
      }
    }
  }
  cli.help(helpLayout(cli));
  return cli;
}

/** Whether a word names a family (kv, group) of the CLI. */
export const isFamily = (table: Table, word: string | undefined): boolean => word !== undefined && word in table.families;
