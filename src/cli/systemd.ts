// clip serve ... --print-systemd-unit: the same command as a systemd user
// service, so that "run it for real" is one redirect away. Paths become
// absolute (a unit has no working directory of the user's), and a token
// given in argv is refused: a unit file is world-readable more often than not.

import { resolve } from "node:path";
import { ClipError } from "../protocol/errors.ts";

const PATH_FLAGS = new Set(["--data", "--token-file", "--tls-cert", "--tls-key", "--tls-ca", "--socket"]);

/** One ExecStart word: quoted when needed; % and $ escaped for systemd. */
function word(s: string): string {
  const esc = s.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(esc) ? esc : `"${esc.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** A word as a POSIX shell reads it back. */
const sh = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The serve arguments as given, minus this flag, paths made absolute. */
export function serveArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--print-systemd-unit") continue;
    const [flag, inline] = a.startsWith("--") ? (a.split(/=(.*)/s, 2) as [string, string | undefined]) : [a, undefined];
    if (flag === "--token") throw new ClipError("USAGE", "a unit file should not hold the token: use --token-file FILE (mode 0600) instead of --token");
    if (PATH_FLAGS.has(flag)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ClipError("USAGE", `${flag} needs a value`);
      out.push(flag, resolve(v));
      continue;
    }
    out.push(a);
  }
  return out;
}

export function systemdUnit(argv: string[], exe = process.execPath): string {
  const args = serveArgs(argv);
  const cmd = [exe, "serve", ...args].map(word).join(" ");
  return `# clip as a systemd user service. Install with:
#   mkdir -p ~/.config/systemd/user
#   clip serve ${args.map(sh).join(" ")}${args.length ? " " : ""}--print-systemd-unit > ~/.config/systemd/user/clip.service
#   systemctl --user daemon-reload && systemctl --user enable --now clip
# Logs: journalctl --user -u clip. To keep it running when you are logged
# out: loginctl enable-linger $USER. See docs/systemd.md.

[Unit]
Description=clip server: distributed clipboard and key-value store
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${cmd}
# SIGTERM: stop accepting, tell clients and children, flush, remove the socket, exit 0.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
# The default socket is $XDG_RUNTIME_DIR/clip/clip.sock (%t/clip/clip.sock);
# state goes to $XDG_STATE_HOME/clip (%S/clip) unless --data says otherwise.
Environment=NO_COLOR=1
UMask=0077
NoNewPrivileges=yes

[Install]
WantedBy=default.target
`;
}
