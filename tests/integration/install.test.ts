// scripts/install.sh (npm run install-bin), run as a user would, with no
// stdin: in a copy of the checkout (sources, scripts, docs; node_modules
// linked) so that its build never replaces the dist/clip other tests run.
// It builds when there is no binary or a source is newer, installs into
// PREFIX (or ~/.local, or under DESTDIR), and says in one line what to add to
// the profile exactly when the folder is not on PATH; the installed clip then
// runs by name from PATH.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { VERSION } from "../../src/version.ts";
import { tempDir } from "../helpers/clip.ts";

const ROOT = resolve(import.meta.dir, "../..");
const work = tempDir("ins");
const repo = join(String(work), "repo");
/** What any shell has, plus node and npm: no ~/.local/bin, no PREFIX/bin. */
const BASE_PATH = [...new Set([dirname(Bun.which("npm")!), dirname(Bun.which("node")!), "/usr/bin", "/bin"])].join(":");

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[], env: Record<string, string>, cwd = repo): Promise<Run> {
  const p = Bun.spawn(argv, { cwd, env: { HOME: join(String(work), "home"), SHELL: "/bin/bash", PATH: BASE_PATH, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill(9), 50_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out, err };
}

const install = (env: Record<string, string>, args: string[] = []) => run(["sh", "scripts/install.sh", ...args], env);
const NOT_ON_PATH = "is not on your PATH";

beforeAll(() => {
  for (const f of ["src", "scripts", "docs", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.lib.json"]) cpSync(join(ROOT, f), join(repo, f), { recursive: true, preserveTimestamps: true });
  symlinkSync(join(ROOT, "node_modules"), join(repo, "node_modules"));
  mkdirSync(join(String(work), "home"));
});
afterAll(() => work[Symbol.dispose]());

describe("install", () => {
  test("install - builds when there is no dist/clip, installs into PREFIX and says how to put it on PATH", async () => {
    const prefix = join(String(work), "p1");
    const r = await install({ PREFIX: prefix });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("building dist/clip");
    expect(r.out).toContain(`-> ${prefix}/bin/clip`);
    // One line, naming the folder, the profile and the line to add.
    const advice = r.out.split("\n").filter((l) => l.includes(NOT_ON_PATH));
    expect(advice).toEqual([`install: ${prefix}/bin ${NOT_ON_PATH}: add this line to ~/.bashrc and open a new shell: export PATH="${prefix}/bin:$PATH"`]);

    const v = await run([join(prefix, "bin/clip"), "--version"], {});
    expect(v.code).toBe(0);
    expect(v.out).toStartWith(`clip/${VERSION} `);
    expect(readFileSync(join(prefix, "share/man/man1/clip.1"), "utf8")).toBe(readFileSync(join(ROOT, "docs/clip.1"), "utf8"));

    // The profile's line, as printed, makes `clip` a command.
    const line = advice[0].slice(advice[0].indexOf("export PATH="));
    const named = await run(["sh", "-c", `${line}\nclip --version`], {});
    expect(named.code).toBe(0);
    expect(named.out).toStartWith(`clip/${VERSION} `);
  });

  test("install - on PATH: no advice; run again: the same result, no rebuild; a newer source: rebuilt", async () => {
    const prefix = join(String(work), "p2");
    // Written the way people do: a trailing slash, among other folders.
    const PATH = `${BASE_PATH}:${prefix}/bin/`;
    mkdirSync(join(prefix, "bin"), { recursive: true });
    const first = await install({ PREFIX: prefix, PATH });
    expect(first.code).toBe(0);
    expect(first.out).not.toContain(NOT_ON_PATH);
    expect(first.out).toContain(`-> ${prefix}/bin/clip`);
    const byName = await run(["sh", "-c", "command -v clip && clip --version"], { PATH });
    expect(byName.code).toBe(0);
    const [where, version] = byName.out.split("\n");
    expect(where.replace("//", "/")).toBe(`${prefix}/bin/clip`);
    expect(version).toStartWith(`clip/${VERSION} `);

    const again = await install({ PREFIX: prefix, PATH });
    expect(again.code).toBe(0);
    expect(again.out).not.toContain("building");
    expect(again.out).toBe(first.out.replace(/^install: building dist\/clip\n/m, ""));
    expect((await run([join(prefix, "bin/clip"), "--version"], {})).code).toBe(0);

    const later = new Date(Date.now() + 5_000);
    utimesSync(join(repo, "src/version.ts"), later, later);
    const rebuilt = await install({ PREFIX: prefix, PATH });
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.out).toContain("building dist/clip");
  });

  test("install - the default is ~/.local/bin (advice by $HOME); --prefix and DESTDIR stage elsewhere", async () => {
    const home = join(String(work), "home");
    const byDefault = await install({ HOME: home, SHELL: "/usr/bin/zsh" });
    expect(byDefault.code).toBe(0);
    expect(existsSync(join(home, ".local/bin/clip"))).toBe(true);
    expect(byDefault.out).toContain(`${home}/.local/bin ${NOT_ON_PATH}: add this line to ~/.zshrc and open a new shell: export PATH="$HOME/.local/bin:$PATH"\n`);
    const fish = await install({ HOME: home, SHELL: "/usr/bin/fish" });
    expect(fish.out).toContain(`${NOT_ON_PATH}: run this once in fish: fish_add_path ~/.local/bin\n`);

    // As a package build would: files under DESTDIR, named for where they will be (a folder of ours, never the system's).
    const stage = join(String(work), "stage");
    const final = join(String(work), "final");
    const staged = await install({ DESTDIR: stage }, ["--prefix", final]);
    expect(staged.code).toBe(0);
    expect(existsSync(join(stage, final, "bin/clip"))).toBe(true);
    expect(existsSync(join(stage, final, "share/man/man1/clip.1"))).toBe(true);
    expect(existsSync(final)).toBe(false);
    // The advice is about where the package puts it, not the staging folder.
    expect(staged.out).toContain(`install: ${final}/bin ${NOT_ON_PATH}`);

    const bad = await install({}, ["--frob"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('install: unknown argument "--frob" (see scripts/install.sh --help)\n');
  });
});
