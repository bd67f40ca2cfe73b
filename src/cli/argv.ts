// clip's argv: a cac parser built from the command table, for the top level
// or for one family (cac has one level of sub-commands, so `clip kv put` is
// `put` in a parser of its own, and `clip kv put --help` is that action's
// help), and the layout every --help shares. The words are checked against
// the table before cac reads them, so that a usage error is said in our
// words (prepare), and `clip help COMMAND` is that command's --help.

import { type CAC, cac } from "cac";
import { ClipError } from "../protocol/errors.ts";
import { cliContext } from "./context.ts";
import {
  type CommandSpec,
  type FlagSpec,
  type Table,
  type Values,
  actionsOf,
  argsOf,
  commandsOn,
  didYouMean,
  familyAbout,
  flagAbout,
  flagConflict,
  flagKey,
  flagNames,
  longName,
  splitName,
  takesValue,
  topLevel,
} from "./spec.ts";

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

/** A usage error in our words, pointing at the command's own help (exit 2). */
export const usage = (what: string, command?: string): ClipError => new ClipError("USAGE", `${what} (see clip ${command ? `${command} ` : ""}--help)`);

/** The table's row behind each command declared to cac (prepare() reads the words against it). */
const rows = new WeakMap<object, CommandSpec>();

const HELP = new Set(["-h", "--help"]);

/** `<region> [file]` as a person reads it in an error: "REGION [FILE]". */
const spelled = (args: string): string => args.replace(/<([^>]+)>/g, (_, n: string) => n.toUpperCase()).replace(/\[([^\]]+)\]/g, (_, n: string) => `[${n.toUpperCase()}]`);

/**
 * Reads a command's words against its row of the table before cac does, so
 * that every mistake is said in our words: an unknown flag (with the one
 * meant, when it is clear), a flag without its value or a switch given one,
 * an argument missing or one too many, flags that contradict each other.
 * A flag's value is the next word whatever it looks like: `--timeout -1`
 * is a timeout of -1 (refused as such), not an unknown flag -1; a word that
 * begins with "-" is marked (RAW) so that mri takes it as a value. A
 * negative number where an argument stands (`copy -1`) is an argument, and
 * so is every word after "--".
 * With -h/--help anywhere, nothing is checked: the help is what was asked.
 */
export function prepare(c: CommandSpec, words: string[]): string[] {
  const dashes = words.indexOf("--");
  const flagWords = dashes < 0 ? words : words.slice(0, dashes);
  if (flagWords.some((w) => HELP.has(w))) return words;
  const known = new Map<string, FlagSpec>();
  for (const f of c.flags) for (const n of flagNames(f)) known.set(n, f);
  const out = [words[0]];
  const pos: string[] = [];
  for (let i = 1; i < flagWords.length; i++) {
    const w = flagWords[i];
    if (w.length < 2 || !w.startsWith("-") || (numeric(w) && !known.has(w))) {
      pos.push(w);
      out.push(w.startsWith("-") ? RAW + w : w);
      continue;
    }
    const eq = w.startsWith("--") ? w.indexOf("=") : -1;
    const name = eq > 0 ? w.slice(0, eq) : w;
    const f = known.get(name);
    if (!f) {
      const meant = didYouMean(name, [...known.keys()].filter((n) => n.startsWith("--")));
      throw new ClipError("USAGE", `unknown flag ${name} (${meant ? `did you mean ${meant}? ` : ""}see clip ${c.name} --help)`);
    }
    if (!takesValue(f)) {
      if (eq > 0) throw usage(`${name} takes no value`, c.name);
      out.push(w);
      continue;
    }
    const v: string | undefined = eq > 0 ? w.slice(eq + 1) : flagWords[i + 1];
    if (eq < 0) {
      if (v === undefined || known.has(v) || HELP.has(v)) throw usage(`${name} needs a value`, c.name);
      i++;
    }
    out.push(longName(f), v.startsWith("-") ? RAW + v : v);
  }
  // After "--" every word is an argument (`kv get -- -k`); cac would set them aside, so they go in as arguments, marked.
  if (dashes >= 0) {
    pos.push(...words.slice(dashes + 1));
    out.push(...words.slice(dashes + 1).map((w) => (w.startsWith("-") ? RAW + w : w)));
  }
  const specs = argsOf(c.args);
  const required = specs.filter((a) => a.required && !a.variadic).length + (specs.some((a) => a.required && a.variadic) ? 1 : 0);
  if (pos.length < required) throw usage(`${c.name} needs ${spelled(c.args)}`, c.name);
  if (!specs.some((a) => a.variadic) && pos.length > specs.length) {
    const extra = pos.slice(specs.length).map((w) => JSON.stringify(w)).join(" ");
    throw usage(`unexpected ${extra}: ${c.name} takes ${specs.length ? spelled(c.args) : "no arguments"}`, c.name);
  }
  return out;
}

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
    const row = command ? rows.get(command) : undefined;
    if (row && argv[0] === splitName(row)[1]) argv = prepare(row, argv);
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

function declare(cli: CAC, table: Table, c: CommandSpec, name: string): void {
  const cmd = cli.command(c.args ? `${name} ${c.args}` : name, c.about);
  rows.set(cmd, c);
  // A list of strings (flat() keeps the last unless the flag repeats); keepStrings() keeps them as typed.
  for (const f of c.flags) cmd.option(f.spell, flagAbout(f), takesValue(f) ? { type: [String] } : undefined);
  for (const e of c.examples) cmd.example(e);
  const args = argsOf(c.args);
  cmd.action(async (...xs: unknown[]) => {
    const flags = flat(xs.pop() as Values, c);
    const conflict = flagConflict(c, flags);
    if (conflict) throw usage(conflict, c.name);
    const values: Values = {};
    args.forEach((a, i) => {
      const v = xs[i];
      values[a.name] = v === undefined ? undefined : Array.isArray(v) ? v.map(String) : String(v);
    });
    const ctx = Object.assign(cliContext(flags), { help: (words: string[]) => showHelp(table, words) });
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
    for (const c of only.length ? only : actions) declare(cli, table, c, splitName(c)[1]);
  } else {
    const only = commands.filter((c) => c.name === word && splitName(c)[0] === undefined);
    for (const item of only.length ? only.map((command) => ({ command })) : topLevel(commands)) {
      if ("command" in item) declare(cli, table, item.command, item.command.name);
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

/** The names `clip WORD` takes: each command of the CLI and each family. */
export const topNames = (table: Table): string[] => topLevel(commandsOn(table, "cli")).map((x) => ("family" in x ? x.family : x.command.name));

/** `clip: unknown command "past" (did you mean paste?)`, or of a family's action. */
export function unknownCommand(table: Table, word: string, family?: string): ClipError {
  if (family) {
    const actions = actionsOf(commandsOn(table, "cli"), family);
    const meant = didYouMean(word, actions);
    return new ClipError("USAGE", `unknown action "${family} ${word}" (${meant ? `did you mean ${family} ${meant}? ` : `use ${actions.join(", ")}; `}see clip ${family} --help)`);
  }
  const meant = didYouMean(word, topNames(table));
  return new ClipError("USAGE", `unknown command ${JSON.stringify(word)} (${meant ? `did you mean ${meant}?` : "see clip --help"})`);
}

/** `clip help [COMMAND [ACTION]]`: that command's --help (the list of commands without one). */
export function showHelp(table: Table, words: string[]): void {
  const [first, second] = words;
  const family = isFamily(table, first) ? first : undefined;
  if (first !== undefined && !family && !topNames(table).includes(first)) throw unknownCommand(table, first);
  if (family && second !== undefined && !actionsOf(commandsOn(table, "cli"), family).includes(second)) throw unknownCommand(table, second, family);
  if (words.length > (family ? 2 : 1)) throw usage(`unexpected ${JSON.stringify(words[family ? 2 : 1])}: clip help takes a COMMAND (and a kv or group ACTION)`, "help");
  const word = family ? second : first;
  const cli = cliParser(table, family, word);
  cli.parse(["", "", ...(word === undefined ? [] : [word]), "--help"], { run: false });
}
