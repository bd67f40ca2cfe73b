// clip serve --print-systemd-unit: a user unit that runs the same command.

import { expect, test } from "bun:test";
import { BIN, clip } from "../helpers/clip.ts";

test("systemd - --print-systemd-unit prints a unit running this serve command, paths absolute", async () => {
  const r = await clip(["serve", "--listen", "tcp:0.0.0.0:7070", "--token-file", "tok", "--data=state", "--name", "my box", "--print-systemd-unit"]);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe("");
  const exec = /^ExecStart=(.*)$/m.exec(r.text)?.[1];
  expect(exec).toBe(`${BIN} serve --listen tcp:0.0.0.0:7070 --token-file ${process.cwd()}/tok --data ${process.cwd()}/state --name "my box"`);
  for (const section of ["[Unit]", "[Service]", "[Install]", "WantedBy=default.target", "Restart=on-failure", "KillSignal=SIGTERM"]) expect(r.text).toContain(section);
  // Nothing was started: no socket, no "listening".
  expect(r.text).not.toContain("listening");
});

test("systemd - a token in argv is refused for a unit file", async () => {
  const r = await clip(["serve", "--token", "secret", "--print-systemd-unit"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^clip: a unit file should not hold the token: use --token-file/);
  expect(r.text).toBe("");
});
