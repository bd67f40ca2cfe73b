// What a command's body is given to run with, so that one function serves
// both `clip X` and the line `X` in `clip shell`: where its connection comes
// from, where its output goes, and (in the shell) how a stream carries on
// in the background. The CLI's own context is here too; the shell's is in
// shell.ts. Cheap to load: the client is imported only when one is opened.

import type { Client, Message } from "../client/client.ts";
import type { Kv } from "../client/kv.ts";
import { isatty } from "../color.ts";
import type { ClientFlags } from "./common.ts";
import { bodyToStdout, out } from "./output.ts";

export interface Ctx {
  /** The connection. The CLI opens one per command and closes it after; the shell keeps one, and opens it again if it was lost. */
  client(): Promise<Client>;
  /** The group kv commands work in: -g/--secret or CLIP_GROUP/CLIP_SECRET for the CLI, `use` in the shell. */
  kv(): Promise<Kv>;
  /** A person reads the output: sizes for people, values shown as text. */
  readonly interactive: boolean;
  /** Aborted when the user interrupts the command (Ctrl-C in the shell); the CLI is simply killed. */
  readonly signal?: AbortSignal;
  /** A report (a table, a JSON line, a secret): text that ends with a newline, or bytes. */
  write(data: string | Uint8Array): Promise<void>;
  /**
   * A stored value, streamed, then released: byte for byte to stdout for the
   * CLI (binary refused at a terminal unless --force); shown as text when it
   * is text, in the shell.
   */
  value(m: Message & { done?(): void }, label: string): Promise<void>;
  /** Values go byte for byte to this process's stdout (the CLI): one the server hands over by path may be copied there directly. */
  readonly stdout?: boolean;
  /**
   * The shell's streams (wait --follow, kv watch) outlive their command:
   * `start` sets the stream up (the command fails if it throws), then its
   * lines are printed above the prompt until it ends or is unwatched.
   * Absent for the CLI, which follows in the foreground.
   */
  background?(what: string, start: (signal: AbortSignal) => Promise<AsyncIterable<string>>): Promise<void>;
  /** The shell's own state, for the commands only the shell has (use, watches, unwatch, help, quit). */
  readonly session?: Session;
  /** The CLI's `clip help [COMMAND [ACTION]]`: prints that command's --help (argv.ts builds it from the table). */
  help?(words: string[]): void;
}

export interface Session {
  use(group: string, secret: string | undefined): Promise<void>;
  watches(): Promise<void>;
  unwatch(which: string): void;
  help(): Promise<void>;
  quit(): void;
}

/**
 * The CLI's context: one connection for the command, opened on first use; `close` ends it.
 * `connect` opens it (default: common.ts's openClient, loaded then; `clip paste` passes it in, loaded already).
 */
export function cliContext(
  flags: ClientFlags & { group?: unknown; secret?: unknown; secretFile?: unknown; force?: unknown },
  connect?: (flags: ClientFlags) => Promise<Client>,
): Ctx & { close(): void } {
  let conn: Promise<Client> | undefined;
  let open: Client | undefined;
  let kv: Promise<Kv> | undefined;
  const client = () => (conn ??= (connect ? connect(flags) : import("./common.ts").then((m) => m.openClient(flags))).then((c) => (open = c)));
  return {
    // Asked only by the commands that print tables: node:tty is not free to load.
    get interactive() {
      return isatty(1);
    },
    client,
    kv: () =>
      (kv ??= import("./common.ts").then(async (m) => {
        const gs = m.groupAndSecret(flags); // a usage error before connecting
        return (await client()).kv(gs);
      })),
    write: out,
    value: (m, label) => bodyToStdout(m, label, { force: flags.force === true }),
    stdout: true,
    close: () => open?.close(),
  };
}
