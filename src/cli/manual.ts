// What the user reference says beyond the command table: the environment
// clip reads (and sets for `kv watch --exec`), its files and its exit
// statuses. Declared once, here, beside the table; docs/REFERENCE.md and
// docs/clip.1 are rendered from both (src/cli/reference.ts). Data only.
// tests/unit/reference.test.ts fails when the code reads a CLIP_ variable
// that is not listed here, or exits with a ClipError status not listed.

export interface EnvVar {
  readonly name: string;
  readonly about: string;
}

/** Read by clip. */
export const ENVIRONMENT: readonly EnvVar[] = [
  { name: "CLIP_SERVER", about: "the server a client command talks to, as -s/--server takes it (default: the local socket)" },
  { name: "CLIP_SOCKET", about: "the local socket: where serve listens and clients look (default: $XDG_RUNTIME_DIR/clip/clip.sock, else /tmp/clip-UID/clip.sock)" },
  { name: "CLIP_TOKEN", about: "the cluster token, for TCP servers (after --token-file, before --token)" },
  { name: "CLIP_GROUP", about: "the group kv commands work in (-g/--group)" },
  { name: "CLIP_SECRET", about: "the group's secret (--secret, which other users can see in ps)" },
  { name: "CLIP_KEY_FILE", about: "the key for sealed values (--key-file; default $XDG_CONFIG_HOME/clip/key, else ~/.config/clip/key)" },
  { name: "CLIP_ENCRYPT", about: "1 (or true, yes, on) seals every copy and kv put as --encrypt does; 0 (or false, no, off, empty) does not" },
  { name: "CLIP_HANDOFF", about: "0: values always stream over the socket, never handed over by file name on the local socket (read by the client and the server)" },
  { name: "CLIP_MAX_CONNECTIONS", about: "serve: the most connections at once (default: what the open-file limit allows)" },
  { name: "CLIP_HTTP_IDLE_SECONDS", about: "serve --http: how long a connection may stay quiet mid-request, 1 to 255 seconds" },
  { name: "CLIP_TREE_STALL_MS", about: "serve --connect: drop the link to a parent silent this long, in ms, and join again (default 10000)" },
  { name: "XDG_RUNTIME_DIR", about: "holds the default socket (clip/clip.sock)" },
  { name: "XDG_STATE_HOME", about: "holds the server's state and the shell's history (clip/; default ~/.local/state)" },
  { name: "XDG_CONFIG_HOME", about: "holds the default key file (clip/key; default ~/.config)" },
  { name: "WAYLAND_DISPLAY", about: "desktop: bridge the Wayland clipboard (else DISPLAY: X11; else macOS's)" },
  { name: "DISPLAY", about: "desktop: bridge the X11 clipboard" },
  { name: "NO_COLOR", about: "no colour in any output (also TERM=dumb; colour is only ever used on a terminal)" },
];

/** Set by `clip kv watch --exec CMD` for each run of CMD. */
export const EXEC_ENVIRONMENT: readonly EnvVar[] = [
  { name: "CLIP_KEY", about: "the key that changed" },
  { name: "CLIP_EVENT", about: "put, del or expire" },
  { name: "CLIP_GROUP", about: "the group" },
  { name: "CLIP_REV", about: "the change's revision" },
];

export interface FileEntry {
  readonly path: string;
  readonly about: string;
}

export const FILES: readonly FileEntry[] = [
  { path: "$XDG_RUNTIME_DIR/clip/clip.sock, /tmp/clip-UID/clip.sock", about: "the local socket (CLIP_SOCKET, serve --socket)" },
  { path: "$XDG_STATE_HOME/clip, ~/.local/state/clip", about: "the server's state (serve --data): state.db (SQLite) and large values as files" },
  { path: "~/.local/state/clip/shell_history", about: "the history of clip shell" },
  { path: "~/.config/clip/key", about: "the key for end-to-end encryption, made by clip keygen (CLIP_KEY_FILE, --key-file)" },
];

export interface ExitStatus {
  readonly status: number;
  readonly about: string;
}

/** Every status clip exits with (a ClipError's comes from its code: src/protocol/errors.ts). */
export const EXIT_STATUS: readonly ExitStatus[] = [
  { status: 0, about: "done" },
  { status: 1, about: "any other failure (a value over --max-size, no desktop clipboard, a watcher cut off for falling behind...)" },
  { status: 2, about: "usage: a bad command, flag, region, name or address" },
  { status: 3, about: "no server at the address, or the connection was lost" },
  { status: 4, about: "refused: bad token, unknown group or wrong secret, an admin command without the rights, the group deleted" },
  { status: 5, about: "not found: a key or group, or a revision no longer held" },
  { status: 6, about: "a condition (--if-rev) did not hold: the value is at another revision" },
  { status: 124, about: "--timeout passed first" },
  { status: 141, about: "stdout was closed by its reader (as after SIGPIPE); quietly" },
];

/** The project's other documents, as a reader of the reference finds them. */
export const SEE_ALSO: readonly FileEntry[] = [
  { path: "README.md", about: "an introduction, with examples" },
  { path: "docs/PROTOCOL.md", about: "the wire protocol, for other clients" },
  { path: "docs/TREE.md", about: "how servers join into a tree" },
  { path: "docs/HTTP.md", about: "the HTTP door and the web page" },
  { path: "docs/ENCRYPTION.md", about: "end-to-end encryption" },
  { path: "docs/DESKTOP.md", about: "the desktop clipboard bridge" },
  { path: "docs/systemd.md", about: "running clip as a service" },
];
