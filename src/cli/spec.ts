// The shape of clip's command table (table.ts) and the questions every
// surface built from it asks: which commands a surface has, a flag's names
// and key, a command's positional arguments and how they read. Pure and
// free of imports but types, so that loading it costs a command nothing.

import type { Ctx } from "./context.ts";

/**
 * What completes a value: a file, a folder, a group name (asked of the
 * server), a region (0-9), nothing, or one of a fixed list of words.
 */
export type Completes = "file" | "dir" | "group" | "region" | "none" | readonly string[];

/** The two surfaces a command or a flag can exist on. */
export type Surface = "cli" | "shell";

/**
 * Parsed words as the table hands them to a command: strings, a list for a
 * repeated or variadic value, true for a switch. Loose on purpose: here argv
 * text meets each command's typed parameters, and the commands check it.
 */
export type Values = Record<string, any>;

export interface FlagSpec {
  /** As cac spells it: "-s, --server <addr>", "--json", "-0". A <value> makes it take one. */
  readonly spell: string;
  readonly about: string;
  readonly completes: Completes;
  /** Given several times, every value is kept (a list); otherwise the last one wins. */
  readonly repeat: boolean;
  /** The only surface that has it (absent: both). */
  readonly only?: Surface;
  /** Flags (long names) it contradicts: given together, a usage error. */
  readonly excludes?: readonly string[];
  /** A flag (long name) without which it means nothing: given alone, a usage error. */
  readonly needs?: string;
}

export interface CommandSpec {
  /** "copy", or "kv put" for an action of a family (one level: cac has no deeper sub-commands). */
  readonly name: string;
  /** Positional arguments as cac spells them: "<region> [file]", "<text...>". */
  readonly args: string;
  /** One line: what it does. */
  readonly about: string;
  /** Command lines that show it in use; --help prints them. */
  readonly examples: readonly string[];
  readonly flags: readonly FlagSpec[];
  /** What completes each positional argument, by name (absent: nothing). */
  readonly completes?: Readonly<Record<string, Completes>>;
  /** The only surface that has it (absent: both). */
  readonly only?: Surface;
  /** Other names, in the shell (quit: exit). */
  readonly aliases?: readonly string[];
  /** Where the shell reads it differently: copy takes TEXT there, not FILE. */
  readonly shell?: { readonly args?: string; readonly about?: string };
  /** The command's body, loaded with import() when it runs: one function for the CLI and the shell. */
  readonly run: (ctx: Ctx, args: Values, flags: Values) => Promise<void>;
}

export interface Table {
  readonly commands: readonly CommandSpec[];
  /** Families of actions (kv, group), by name: what the family is about. */
  readonly families: Readonly<Record<string, string>>;
}

/** Declares a flag: one line in the table. */
export function flag(
  spell: string,
  about: string,
  opts: { completes?: Completes; repeat?: boolean; only?: Surface; excludes?: readonly string[]; needs?: string } = {},
): FlagSpec {
  const f: FlagSpec = { spell, about, completes: opts.completes ?? "none", repeat: opts.repeat ?? false, only: opts.only };
  return opts.excludes || opts.needs ? { ...f, excludes: opts.excludes, needs: opts.needs } : f;
}

/** "--server" for "-s, --server <addr>"; "-0" for a flag with no long name. */
export const longName = (f: FlagSpec): string => flagNames(f).find((n) => n.startsWith("--")) ?? flagNames(f)[0];

/**
 * Flags given together that the table says contradict each other (--data
 * with --memory), or one given without the flag it goes with (--sep without
 * --follow): the first such pair as a sentence, or undefined. Both surfaces
 * ask it, with the parsed flags, before a command runs.
 */
export function flagConflict(c: CommandSpec, flags: Values): string | undefined {
  const given = new Set(c.flags.filter((f) => flags[flagKey(f)] !== undefined && flags[flagKey(f)] !== false).map(longName));
  for (const f of c.flags) {
    const name = longName(f);
    if (!given.has(name)) continue;
    for (const other of f.excludes ?? []) if (given.has(other)) return `${name} and ${other} do not go together`;
    if (f.needs !== undefined && !given.has(f.needs)) return `${name} goes with ${f.needs}`;
  }
  return undefined;
}

/** A flag's line in a help: its purpose, and the flags it must not or must go with, when the purpose does not say so. */
export function flagAbout(f: FlagSpec): string {
  const not = f.excludes?.length ? ` (not with ${f.excludes.join(" or ")})` : "";
  const needs = f.needs !== undefined && !f.about.includes(f.needs) ? ` (with ${f.needs})` : "";
  return `${f.about}${not}${needs}`;
}

/**
 * The candidate a mistyped word most likely meant ("past": paste), or
 * undefined: one at an edit distance of 1 (2 for longer words, a swap of
 * neighbours counting 1), or the only one the word begins.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = w.replace(/^-+/, "").length > 5 ? 2 : 1;
  let best: string | undefined;
  let bestD = limit + 1;
  for (const c of candidates) {
    const d = distance(w, c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (best !== undefined) return best;
  const starts = candidates.filter((c) => w.replace(/^-+/, "").length >= 2 && c.startsWith(word));
  return starts.length === 1 ? starts[0] : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** "-s", "--server" */
export const flagNames = (f: FlagSpec): string[] => f.spell.split(",").map((p) => p.trim().split(/\s+/)[0]);

/** Takes a value (so the next word is its value, not a positional argument). */
export const takesValue = (f: FlagSpec): boolean => /[<[]/.test(f.spell);

/** The value's placeholder, "addr" for "--server <addr>"; "" for a switch. */
export const metavar = (f: FlagSpec): string => /[<[]([^>\]]*)[>\]]/.exec(f.spell)?.[1] ?? "";

/**
 * The key a flag's value is found under, as cac names it: --token-file is
 * tokenFile, -0 is 0; cac joins only a letter, dash, letter, so --osc52-max
 * stays osc52-max.
 */
export function flagKey(f: FlagSpec): string {
  const names = flagNames(f);
  const long = names.find((n) => n.startsWith("--")) ?? names[0];
  return long.replace(/^-+/, "").replace(/([a-z])-([a-z])/g, (_, a: string, c: string) => a + c.toUpperCase());
}

export interface ArgSpec {
  readonly name: string;
  readonly required: boolean;
  /** Takes every remaining word (as a list). */
  readonly variadic: boolean;
}

/** "<region> [file]" as a list; "<text...>" is variadic. */
export function argsOf(spell: string): ArgSpec[] {
  return [...spell.matchAll(/([<[])(\.\.\.)?([^>\]]+?)(\.\.\.)?[>\]]/g)].map((m) => ({
    name: m[3],
    required: m[1] === "<",
    variadic: !!(m[2] || m[4]),
  }));
}

/** "kv put" is ["kv", "put"]; "copy" is [undefined, "copy"]. */
export function splitName(c: CommandSpec): [string | undefined, string] {
  const i = c.name.indexOf(" ");
  return i < 0 ? [undefined, c.name] : [c.name.slice(0, i), c.name.slice(i + 1)];
}

export const on = (surface: Surface) => (x: { only?: Surface }): boolean => x.only === undefined || x.only === surface;

/** The commands (and their flags) that a surface has, in the table's order. */
export function commandsOn(table: Table, surface: Surface): CommandSpec[] {
  return table.commands.filter(on(surface)).map((c) => ({ ...c, flags: c.flags.filter(on(surface)) }));
}

/** A family's actions, in order ("put", "get"...). */
export const actionsOf = (commands: readonly CommandSpec[], family: string): string[] =>
  commands.filter((c) => splitName(c)[0] === family).map((c) => splitName(c)[1]);

/** "put, get, del, list or watch" */
export const orList = (xs: string[]): string => (xs.length < 2 ? xs.join("") : `${xs.slice(0, -1).join(", ")} or ${xs[xs.length - 1]}`);

/** A family's line in the CLI's help: what it is about, its actions, where to learn more. */
export const familyAbout = (table: Table, family: string): string =>
  `${table.families[family]}: ${actionsOf(commandsOn(table, "cli"), family).join(", ")} (clip ${family} ACTION --help)`;

/**
 * The top level of a surface, in the table's order: each command, and each
 * family once, where its first action stands.
 */
export function topLevel(commands: readonly CommandSpec[]): ({ command: CommandSpec } | { family: string })[] {
  const out: ({ command: CommandSpec } | { family: string })[] = [];
  const seen = new Set<string>();
  for (const c of commands) {
    const [fam] = splitName(c);
    if (fam === undefined) out.push({ command: c });
    else if (!seen.has(fam)) {
      seen.add(fam);
      out.push({ family: fam });
    }
  }
  return out;
}
