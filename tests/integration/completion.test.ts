// clip completion, --help and --version: scripts that parse in their shells,
// a bash completion function that answers COMP_WORDS, group names from the
// server, and help with a purpose, flags and an example for every command.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, clip, startServer, tempDir } from "../helpers/clip.ts";

const bash = Bun.which("bash");

/** Runs the bash completion function on the words given (the last is the one being completed). */
async function complete(script: string, words: string[], env: Record<string, string> = {}): Promise<string[]> {
  const arr = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(" ");
  const prog = `source ${script}\nCOMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _clip; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const p = Bun.spawn([bash!, "--norc", "--noprofile", "-c", prog], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const out = await new Response(p.stdout).text();
  const err = await new Response(p.stderr).text();
  expect(await p.exited).toBe(0);
  expect(err).toBe("");
  return out.split("\n").filter(Boolean);
}

describe("completion", () => {
  test.skipIf(!bash)("completion - the bash script parses and completes commands, actions, regions, flags and groups", async () => {
    using dir = tempDir("cc");
    const r = await clip(["completion", "bash"]);
    expect(r.code).toBe(0);
    const script = join(String(dir), "clip.bash");
    writeFileSync(script, r.text);
    const n = Bun.spawnSync([bash!, "-n", script]);
    expect(n.exitCode).toBe(0);

    expect(await complete(script, [BIN, ""])).toEqual(expect.arrayContaining(["copy", "paste", "wait", "list", "kv", "group", "shell", "chat", "completion", "serve", "status", "tree"]));
    expect(await complete(script, [BIN, "co"])).toEqual(["copy", "completion"]);
    expect(await complete(script, [BIN, "paste", ""])).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    expect(await complete(script, [BIN, "kv", ""])).toEqual(["put", "get", "del", "list", "history", "watch"]);
    expect(await complete(script, [BIN, "kv", "watch", "--e"])).toEqual(["--exec", "--exec-timeout"]);
    expect(await complete(script, [BIN, "wait", "3", "--fo"])).toEqual(["--follow", "--force"]);
    expect(await complete(script, [BIN, "list", "--j"])).toEqual(["--json"]);
    expect(await complete(script, [BIN, "completion", ""])).toEqual(["bash", "zsh", "fish"]);
    // A flag's value is not taken for the command.
    expect(await complete(script, [BIN, "-s", "/tmp/x.sock", "copy", ""])).toHaveLength(10);

    // Group names come from the server named on the line (or CLIP_SERVER).
    await using s = await startServer({ memory: true });
    for (const g of ["alpha", "beta"]) expect((await s.run(["group", "create", g])).code).toBe(0);
    const addr = `unix:${s.socket}`;
    expect(await complete(script, [BIN, "group", "info", "-s", addr, ""])).toEqual(["alpha", "beta"]);
    expect(await complete(script, [BIN, "kv", "get", "-g", "a"], { CLIP_SERVER: addr })).toEqual(["alpha"]);
    // No server: no names, no noise.
    expect(await complete(script, [BIN, "kv", "get", "-g", ""], { CLIP_SERVER: `unix:${String(dir)}/none.sock` })).toEqual([]);
  });

  test.skipIf(!Bun.which("zsh"))("completion - the zsh script parses", async () => {
    using dir = tempDir("cz");
    const r = await clip(["completion", "zsh"]);
    expect(r.code).toBe(0);
    const f = join(String(dir), "_clip");
    writeFileSync(f, r.text);
    expect(Bun.spawnSync(["zsh", "-n", f]).exitCode).toBe(0);
    expect(r.text).toContain("compdef _clip clip");
  });

  test.skipIf(!Bun.which("fish"))("completion - the fish script parses and completes", async () => {
    using dir = tempDir("cf");
    const r = await clip(["completion", "fish"]);
    const f = join(String(dir), "clip.fish");
    writeFileSync(f, r.text);
    expect(Bun.spawnSync(["fish", "-n", f]).exitCode).toBe(0);
    const p = Bun.spawnSync(["fish", "--no-config", "-c", `source ${f}; complete -C 'clip kv '`]);
    expect(p.stdout.toString().split("\n")).toEqual(expect.arrayContaining(["put", "get", "del", "list", "watch"]));
  });

  test("completion - an unknown shell is a usage error", async () => {
    const r = await clip(["completion", "tcsh"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^clip: no completion for "tcsh": use bash, zsh or fish \(see clip completion --help\)\n$/);
  });

  test("help - --version names the version and the protocol", async () => {
    const r = await clip(["--version"]);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/^clip\/\d+\.\d+\.\d+ \(protocol \d+\)/);
  });

  test("help - every command's --help has a purpose, its flags and an example", async () => {
    const commands = [
      ["serve"], ["copy"], ["paste"], ["wait"], ["list"], ["status"], ["tree"], ["apps"], ["shell"], ["chat"], ["completion"],
      ["kv", "put"], ["kv", "get"], ["kv", "del"], ["kv", "list"], ["kv", "watch"],
      ["group", "create"], ["group", "delete"], ["group", "info"], ["group", "rotate"], ["group", "list"],
    ];
    await Promise.all(
      commands.map(async (c) => {
        const r = await clip([...c, "--help"]);
        expect(r.code).toBe(0);
        const sections = r.text.split("\n\n");
        // header, then the purpose in a line of its own
        expect(sections[1]).toMatch(/^[A-Z].{10,}$/);
        expect(r.text).toContain("Options:\n");
        expect(r.text).toMatch(/Examples:\n.*clip /);
        expect(r.text).not.toMatch(/ +$/m);
      }),
    );
  });
});
