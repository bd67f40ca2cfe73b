// A line of `clip shell`: its words (split as sh would), the command they
// name in the table, its arguments and flags; and the shell's help and
// completions, built from the same table. Pure: no I/O.
//
// A command's trailing TEXT (copy R TEXT, kv put KEY VALUE) is the rest of
// the line exactly as typed: spaces, quotes, backslashes and # kept. Only
// the words before it are split as sh would, so the line is read a word at
// a time (Words) and a quote left open inside the text is no error.

import { ClipError } from "../protocol/errors.ts";
import { dim } from "./output.ts";
import { type CommandSpec, type Table, type Values, argsOf, commandsOn, didYouMean, flagKey, flagNames, metavar, splitName, takesValue, topLevel } from "./spec.ts";

/** What the shell says of quoting: in its help, and with a quoting error. */
export const QUOTING =
  "After copy R and kv put KEY, the rest of the line is the value exactly as typed (spaces, quotes, backslashes and # kept). Other words are split as sh does: 'single' or \"double\" quotes, backslash escapes, # comments.";

/** A line read a word at a time, as sh splits it; the rest of it can be taken as typed at any point. */
export class Words {
  private pos = 0;

  constructor(readonly line: string) {}

  /** Moves past blanks; true if a word (not a comment, not the end) follows. */
  private skip(): boolean {
    while (this.pos < this.line.length && /\s/.test(this.line[this.pos])) this.pos++;
    return this.pos < this.line.length && this.line[this.pos] !== "#";
  }

  /** The next word as typed (up to a blank), without taking it; null at the end. */
  peekRaw(): string | null {
    return this.skip() ? /^\S+/.exec(this.line.slice(this.pos))![0] : null;
  }

  /** The rest of the line from the next non-blank, exactly as typed ("" at the end). */
  rest(): string {
    this.skip();
    const r = this.line.slice(this.pos);
    this.pos = this.line.length;
    return r;
  }

  /** The next word: 'single' and "double" quotes, backslash escapes; null at the end or a # comment. */
  next(): string | null {
    if (!this.skip()) return null;
    const line = this.line;
    let cur = "";
    let q: "'" | '"' | null = null;
    let i = this.pos;
    for (; i < line.length; i++) {
      const ch = line[i];
      if (q) {
        if (ch === q) q = null;
        else if (ch === "\\" && q === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) cur += line[++i];
        else cur += ch;
        continue;
      }
      if (ch === "'" || ch === '"') q = ch;
      else if (ch === "\\" && i + 1 < line.length) cur += line[++i];
      else if (/\s/.test(ch)) break;
      else cur += ch;
    }
    if (q) throw new ClipError("USAGE", `unterminated ${q} quote. ${QUOTING}`);
    this.pos = i;
    return cur;
  }
}

/** Splits a line as a shell would: words, 'single' and "double" quotes, backslash escapes, # comments. */
export function words(line: string): string[] {
  const w = new Words(line);
  const out: string[] = [];
  for (let x = w.next(); x !== null; x = w.next()) out.push(x);
  return out;
}

/** The shell's commands, as the shell reads them (its own arguments and purpose where they differ). */
export function shellCommands(table: Table): CommandSpec[] {
  return commandsOn(table, "shell").map((c) => ({ ...c, args: c.shell?.args ?? c.args, about: c.shell?.about ?? c.about }));
}

/** "kv put KEY VALUE...", "wait REGION [--timeout SECONDS] [--follow]" */
export function shellUsage(c: CommandSpec): string {
  const args = argsOf(c.args).map((a) => {
    const n = `${a.name.toUpperCase()}${a.variadic ? "..." : ""}`;
    return a.required ? n : `[${n}]`;
  });
  const flags = c.flags.map((f) => {
    const long = flagNames(f).find((n) => n.startsWith("--")) ?? flagNames(f)[0];
    return `[${long}${takesValue(f) ? ` ${metavar(f).toUpperCase()}` : ""}]`;
  });
  return [[c.name, ...(c.aliases ?? [])].join("|"), ...args, ...flags].join(" ");
}

/** What `help` prints: the commands, then how a line is read. */
export function shellHelp(table: Table): string {
  const rows = shellCommands(table).map((c) => [shellUsage(c), c.about]);
  const width = Math.min(40, Math.max(...rows.map(([u]) => u.length)));
  return `${rows.map(([u, about]) => `  ${u.padEnd(width)}  ${dim(about)}`).join("\n")}\n\n${QUOTING}`;
}

export interface Parsed {
  command: CommandSpec;
  args: Values;
  flags: Values;
}

const usage = (c: CommandSpec) => new ClipError("USAGE", `usage: ${shellUsage(c)}`);

/**
 * The command a line names, with its arguments and flags; a usage error if
 * they do not fit. A trailing TEXT... argument is the rest of the line as
 * typed (one string), from its first word on: flags before it are flags.
 */
export function parseLine(table: Table, line: string): Parsed {
  const w = new Words(line.replace(/\r$/, ""));
  const commands = shellCommands(table);
  const first = w.next() ?? "";
  let command: CommandSpec | undefined;
  const actions = commands.filter((c) => splitName(c)[0] === first);
  if (actions.length > 0) {
    const action = w.next();
    command = actions.find((c) => splitName(c)[1] === action);
    const names = actions.map((c) => splitName(c)[1]).join("|");
    if (!command) {
      const meant = action ? didYouMean(action, actions.map((c) => splitName(c)[1] ?? "")) : undefined;
      throw new ClipError("USAGE", `usage: ${first} ${names} ... (not ${JSON.stringify(action ?? "")}${meant ? `; did you mean ${meant}?` : ""})`);
    }
  } else command = commands.find((c) => c.name === first || c.aliases?.includes(first));
  if (!command) {
    const meant = didYouMean(first, [...new Set(commands.flatMap((c) => [splitName(c)[0] ?? c.name, ...(c.aliases ?? [])]))]);
    throw new ClipError("USAGE", `unknown command ${JSON.stringify(first)} (${meant ? `did you mean ${meant}? ` : ""}try help)`);
  }

  const specs = argsOf(command.args);
  const fixed = specs.filter((a) => !a.variadic).length;
  const hasText = specs.some((a) => a.variadic);
  const known = new Map(command.flags.flatMap((f) => flagNames(f).filter((n) => n.startsWith("--")).map((n) => [n.slice(2), f] as const)));
  const pos: string[] = [];
  let text: string | undefined;
  const flags: Values = {};
  for (;;) {
    // Once the fixed arguments are in, the next word that is not one of the command's flags starts the text.
    const textBegins = hasText && pos.length >= fixed;
    const raw = w.peekRaw();
    if (raw === null) break;
    const flagName = raw.startsWith("--") && raw.length > 2 ? raw.slice(2).split("=", 1)[0] : null;
    if (textBegins && raw === "--") {
      w.next();
      text = w.rest();
      break;
    }
    if (textBegins && (flagName === null || !known.has(flagName))) {
      text = w.rest();
      break;
    }
    const a = w.next()!;
    if (a === "--") {
      for (let x = w.next(); x !== null; x = w.next()) pos.push(x);
      continue;
    }
    if (a.startsWith("--") && a.length > 2) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
      const f = known.get(name);
      if (!f) throw new ClipError("USAGE", `unknown flag --${name}`);
      let v: string | true = true;
      if (takesValue(f)) {
        v = inline ?? w.next() ?? (undefined as unknown as string);
        if (v === undefined) throw new ClipError("USAGE", `--${name} needs a value`);
      }
      const key = flagKey(f);
      flags[key] = f.repeat ? [...(flags[key] ?? []), v] : v;
      continue;
    }
    pos.push(a);
  }

  const args: Values = {};
  let j = 0;
  for (const s of specs) {
    if (s.variadic) {
      // The words after `--` stand for a text too (joined by one space, as they were split).
      const v = text ?? (pos.length > j ? pos.slice(j).join(" ") : undefined);
      j = pos.length;
      if (s.required && !v) throw usage(command);
      args[s.name] = v;
      continue;
    }
    const v = pos[j++];
    if (s.required && v === undefined) throw usage(command);
    args[s.name] = v;
  }
  if (j < pos.length) throw usage(command);
  return { command, args, flags };
}

/** Tab completion in the shell: commands, a family's actions, a command's flags. */
export function completer(table: Table): (line: string) => [string[], string] {
  const commands = shellCommands(table);
  const names = topLevel(commands).flatMap((x) => ("family" in x ? [x.family] : [x.command.name, ...(x.command.aliases ?? [])]));
  return (line) => {
    const w = line.split(/\s+/);
    const last = w[w.length - 1] ?? "";
    const pick = (xs: string[]): [string[], string] => [xs.filter((x) => x.startsWith(last)), last];
    if (w.length <= 1) return pick(names);
    const actions = commands.filter((c) => splitName(c)[0] === w[0]);
    if (w.length === 2 && actions.length > 0) return pick(actions.map((c) => splitName(c)[1]));
    if (last.startsWith("--")) {
      const c = actions.length > 0 ? actions.find((x) => splitName(x)[1] === w[1]) : commands.find((x) => x.name === w[0]);
      return pick((c?.flags ?? []).flatMap(flagNames).filter((n) => n.startsWith("--")));
    }
    return [[], line];
  };
}
