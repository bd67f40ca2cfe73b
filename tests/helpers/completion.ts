// What a completion script offers, asked of the real shells: bash through
// COMP_WORDS and the function the script installs, zsh with the completion
// system's builtins stood in by functions that print what they are given,
// fish through `complete -C`. Each takes the words typed so far; the last
// one is the word being completed.

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BIN } from "./clip.ts";

export const bash = Bun.which("bash");
export const zsh = Bun.which("zsh");
export const fish = Bun.which("fish");

const sq = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** The line is typed as `clip ...`: the built clip comes first on PATH (the scripts ask it for group names). */
async function run(argv: string[], env: Record<string, string | undefined> = {}): Promise<string[]> {
  const PATH = `${dirname(BIN)}:${process.env.PATH}`;
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, PATH, ...env } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0 || err !== "") throw new Error(`${argv[0]} failed (${code}): ${err}`);
  return out.split("\n").filter(Boolean);
}

/** Writes a script where the shells can source it. */
export function saveScript(dir: string, name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

export function bashComplete(script: string, words: string[], env?: Record<string, string | undefined>): Promise<string[]> {
  const prog = `source ${sq(script)}\nCOMP_WORDS=(${words.map(sq).join(" ")}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _clip; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return run([bash!, "--norc", "--noprofile", "-c", prog], env);
}

/**
 * compadd, _describe and _files print their words (files as <files> or
 * <files -/>); those that do not start with the word being completed are
 * dropped, as zsh's matcher would.
 */
export async function zshComplete(script: string, words: string[], env?: Record<string, string | undefined>): Promise<string[]> {
  const prog = [
    `compadd() { if [[ $1 == -a ]]; then print -rl -- "\${(@P)2}"; else print -rl -- "$@"; fi }`,
    `_describe() { local -a xs; xs=("\${(@P)2}"); print -rl -- "\${xs[@]%%:*}" }`,
    `_files() { print -r -- "<files\${1:+ $1}>" }`,
    `source ${sq(script)}`,
    `words=(${words.map(sq).join(" ")}); CURRENT=${words.length}; _clip`,
  ].join("\n");
  const cur = words[words.length - 1];
  return (await run([zsh!, "-f", "-c", prog], env)).filter((w) => w.startsWith("<files") || w.startsWith(cur));
}

/** Candidates only (fish prints "candidate<TAB>description"). */
export async function fishComplete(script: string, words: string[], env?: Record<string, string | undefined>): Promise<string[]> {
  const lines = await run([fish!, "--no-config", "-c", `source ${sq(script)}; complete -C ${sq(words.join(" "))}`], env);
  return lines.map((l) => l.split("\t")[0]);
}
