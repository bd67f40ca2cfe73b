// clip serve ... --print-systemd-unit: the same command as a systemd user
// service, so that "run it for real" is one redirect away. Paths become
// absolute (a unit has no working directory of the user's), and a token
// given in argv is refused: a unit file is world-readable more often than not.

import { shellWord, unitArgs, unitWord } from "./unitfile.ts";

const PATH_FLAGS = new Set(["--data", "--token-file", "--tls-cert", "--tls-key", "--tls-ca", "--socket"]);
const DROP = new Set(["--print-systemd-unit"]);

/** The serve arguments as given, minus this flag, paths made absolute. */
export const serveArgs = (argv: string[]): string[] => unitArgs(argv, DROP, PATH_FLAGS);

export function systemdUnit(argv: string[], exe = process.execPath): string {
  const args = serveArgs(argv);
  const cmd = [exe, "serve", ...args].map(unitWord).join(" ");
  return `# clip as a systemd user service. Install with:
#   mkdir -p ~/.config/systemd/user
#   clip serve ${args.map(shellWord).join(" ")}${args.length ? " " : ""}--print-systemd-unit > ~/.config/systemd/user/clip.service
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
