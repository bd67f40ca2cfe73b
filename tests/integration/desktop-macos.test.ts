// The macOS backend, through stand-ins for pbcopy and pbpaste on PATH (a
// file plays the pasteboard): polled change detection, text both ways, no
// echo, images refused with one line, expiry clears.

import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { type BridgeStats, runBridge } from "../../src/desktop/bridge.ts";
import { macosBackend } from "../../src/desktop/macos.ts";
import { tempDir, waitFor } from "../helpers/clip.ts";
import { FakeRegion } from "../helpers/desktop.ts";

const dir = tempDir("cmac");
afterAll(() => dir[Symbol.dispose]());
const board = `${dir}/pasteboard`;
// pbpaste ignores -Prefer (text is all there is here); pbcopy replaces the board whole.
writeFileSync(`${dir}/pbpaste`, `#!/bin/sh\n[ -f "${board}" ] && cat "${board}"\nexit 0\n`);
writeFileSync(`${dir}/pbcopy`, `#!/bin/sh\ncat > "${board}.tmp" && mv "${board}.tmp" "${board}"\n`);
chmodSync(`${dir}/pbpaste`, 0o755);
chmodSync(`${dir}/pbcopy`, 0o755);
const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
/** An application copies (as pbcopy would). */
const copy = (s: string) => writeFileSync(board, s);
const board_ = () => (existsSync(board) ? readFileSync(board, "utf8") : "");

test("desktop macos - copies are seen by polling and written once; writes elsewhere are put there once; images refused, expiry clears", async () => {
  copy("on the Mac before");
  const region = new FakeRegion();
  const ac = new AbortController();
  const lines: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const stats: Promise<BridgeStats> = runBridge({ region: 1, port: region.port(), backend: macosBackend({ env, pollMs: 50 }), log: (l) => lines.push(l), signal: ac.signal, onReady: ready });
  await isReady;
  try {
    copy("copied on the Mac");
    await waitFor(() => region.portWrites === 1, 10_000, "the copy to reach R");
    expect(region.current()?.type).toBe("text/plain;charset=utf-8");
    region.writeElsewhere("from Linux");
    await waitFor(() => board_() === "from Linux", 10_000);
    region.writeElsewhere(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), "image/png");
    await waitFor(() => lines.some((l) => l.includes("could not put region 1 rev 3 on the desktop: pbcopy carries text only, not image/png")), 10_000);
    expect(board_()).toBe("from Linux");
    region.writeElsewhere("secret");
    await waitFor(() => board_() === "secret", 10_000);
    region.expire();
    await waitFor(() => board_() === "", 10_000, "the pasteboard to be cleared");
    await Bun.sleep(300); // several polls: a settle window for an echo, were there one
    expect(region.portWrites).toBe(1);
  } finally {
    ac.abort();
  }
  expect((await stats).toDesktop).toBe(2);
});
