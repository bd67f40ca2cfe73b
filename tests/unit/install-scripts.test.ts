// A fresh `npm install` or `npm ci` says nothing about install scripts: every
// dependency in the lockfile that has one (bun's postinstall links its
// platform binary; without it node_modules/bun/bin/bun.exe only prints an
// error) is approved in package.json's allowScripts, which npm 11.16 and later
// read (npm 12 runs no unapproved script). Where npm has the command, `npm
// install-scripts ls` must agree.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const json = (p: string) => JSON.parse(readFileSync(join(ROOT, p), "utf8"));

/** Whether allowScripts approves name@version, as npm matches it: by name, or pinned to that version. */
function approved(allow: Record<string, boolean>, name: string, version: string): boolean {
  if (allow[name] === false) return false;
  return allow[name] === true || allow[`${name}@${version}`] === true;
}

describe("install scripts", () => {
  test("install scripts - every dependency with one is approved in allowScripts", () => {
    const allow: Record<string, boolean> = json("package.json").allowScripts ?? {};
    const lock = json("package-lock.json");
    const withScripts = Object.entries(lock.packages as Record<string, { version: string; hasInstallScript?: boolean }>)
      .filter(([path, p]) => path !== "" && p.hasInstallScript)
      .map(([path, p]) => ({ name: path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length), version: p.version }));
    expect(withScripts.map((p) => p.name)).toContain("bun");
    expect(withScripts.filter((p) => !approved(allow, p.name, p.version))).toEqual([]);
  });

  test("install scripts - npm install-scripts ls finds nothing unreviewed (npm 11.16 and later)", () => {
    const version = Bun.spawnSync(["npm", "--version"], { cwd: ROOT, stdin: "ignore" }).stdout.toString().trim();
    const [major, minor] = version.split(".").map(Number);
    if (major < 11 || (major === 11 && minor < 16)) {
      console.warn(`install scripts: npm ${version} has no install-scripts command (it came with npm 11.16): this check skips`);
      return;
    }
    const ls = Bun.spawnSync(["npm", "install-scripts", "ls"], { cwd: ROOT, stdin: "ignore" });
    expect(ls.stdout.toString() + ls.stderr.toString()).toBe("No packages with unreviewed install scripts.\n");
    expect(ls.exitCode).toBe(0);
  });
});
