// A line of `clip shell`: its words (split as sh would), the command they
// name in the table, its arguments and flags; and the shell's help and
// completions, built from the same table. Pure: no I/O.

import { ClipError } from "../protocol/errors.ts";
import { dim } from "./output.ts";
import { type CommandSpec, type Table, type Values, argsOf, commandsOn, flagKey, flagNames, metavar, splitName, takesValue, topLevel } from "./spec.ts";

/** Splits a line as a shell would: words, 'single' and "double" quotes, backslash escapes, # comments. */
export function words(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let q: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (q) {
      if (ch === q) q = null;
      else if (ch === "\\" && q === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) cur += line[++i];
      else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      q = ch;
      has = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else if (ch === "#" && !has) {
      break;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (q) throw new ClipError("USAGE", `unterminated ${q} quote`);
  if (has) out.push(cur);
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

/** What `help` prints. */
export function shellHelp(table: Table): string {
  const rows = shellCommands(table).map((c) => [shellUsage(c), c.about]);
  const width = Math.min(40, Math.max(...rows.map(([u]) => u.length)));
  return rows.map(([u, about]) => `  ${u.padEnd(width)}  ${dim(about)}`).join("\n");
}

export interface Parsed {
  command: CommandSpec;
  args: Values;
  flags: Values;
}

const usage = (c: CommandSpec) => new ClipError("USAGE", `usage: ${shellUsage(c)}`);

/** The command a line's words name, with its arguments and flags; a usage error if they do not fit. */
export function parseLine(table: Table, w: string[]): Parsed {
  const commands = shellCommands(table);
  const [first, ...rest] = w;
  let command: CommandSpec | undefined;
  let tail = rest;
  const actions = commands.filter((c) => splitName(c)[0] === first);
  if (actions.length > 0) {
    command = actions.find((c) => splitName(c)[1] === rest[0]);
    const names = actions.map((c) => splitName(c)[1]).join("|");
    if (!command) throw new ClipError("USAGE", `usage: ${first} ${names} ... (not ${JSON.stringify(rest[0] ?? "")})`);
    tail = rest.slice(1);
  } else command = commands.find((c) => c.name === first || c.aliases?.includes(first));
  if (!command) throw new ClipError("USAGE", `unknown command ${JSON.stringify(first)} (try help)`);

  const specs = argsOf(command.args);
  const fixed = specs.filter((a) => !a.variadic).length;
  // A trailing TEXT... runs to the end of the line, whatever it holds, once it has begun.
  const textBegins = (pos: string[]) => specs.some((a) => a.variadic) && pos.length >= fixed;
  const known = new Map(command.flags.flatMap((f) => flagNames(f).filter((n) => n.startsWith("--")).map((n) => [n.slice(2), f] as const)));
  const pos: string[] = [];
  const flags: Values = {};
  for (let i = 0; i < tail.length; i++) {
    const a = tail[i];
    if (a === "--") {
      pos.push(...tail.slice(i + 1));
      break;
    }
    if (a.startsWith("--") && a.length > 2) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
      const f = known.get(name);
      if (f) {
        let v: string | true = true;
        if (takesValue(f)) {
          v = inline ?? tail[++i];
          if (v === undefined) throw new ClipError("USAGE", `--${name} needs a value`);
        }
        const key = flagKey(f);
        flags[key] = f.repeat ? [...(flags[key] ?? []), v] : v;
        continue;
      }
      if (!textBegins(pos)) throw new ClipError("USAGE", `unknown flag --${name}`);
    }
    if (textBegins(pos)) {
      pos.push(...tail.slice(i));
      break;
    }
    pos.push(a);
  }

  const args: Values = {};
  let j = 0;
  for (const s of specs) {
    const v = s.variadic ? pos.slice(j) : pos[j];
    j = s.variadic ? pos.length : j + 1;
    if (s.required && (v === undefined || (Array.isArray(v) && v.length === 0))) throw usage(command);
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
