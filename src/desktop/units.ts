// `clip desktop ... --print-systemd-unit` and `--print-autostart`: the same
// bridge as a systemd user service tied to the graphical session, or as an
// XDG autostart entry (for desktops whose session does not run systemd user
// units). Text only: nothing is installed. Paths become absolute (neither
// has the user's working directory) and a token in argv is refused, as for
// `clip serve --print-systemd-unit`.

import { SAFE_WORD, shellWord, unitArgs, unitWord } from "../cli/unitfile.ts";

const PATH_FLAGS = new Set(["--token-file", "--tls-ca", "--key-file"]);
const PRINT_FLAGS = new Set(["--print-systemd-unit", "--print-autostart"]);

/** The desktop arguments as given, minus the print flags, paths made absolute. */
export const desktopArgs = (argv: string[]): string[] => unitArgs(argv, PRINT_FLAGS, PATH_FLAGS);

/** One Exec word (Desktop Entry Specification): quoted, then string-escaped, % doubled. */
function entryWord(s: string): string {
  const pct = s.replace(/%/g, "%%");
  if (SAFE_WORD.test(s)) return pct;
  const quoted = `"${pct.replace(/[`"$\\]/g, (c) => `\\${c}`)}"`;
  return quoted.replace(/\\/g, "\\\\");
}


export function desktopUnit(argv: string[], exe = process.execPath): string {
  const args = desktopArgs(argv);
  const cmd = [exe, "desktop", ...args].map(unitWord).join(" ");
  return `# clip desktop as a systemd user service, running while you are logged in
# to a graphical session. Install with:
#   mkdir -p ~/.config/systemd/user
#   clip desktop ${args.map(shellWord).join(" ")}${args.length ? " " : ""}--print-systemd-unit > ~/.config/systemd/user/clip-desktop.service
#   systemctl --user daemon-reload && systemctl --user enable --now clip-desktop
# It needs DISPLAY or WAYLAND_DISPLAY in the user manager's environment:
# GNOME, KDE and sway (with its systemd include) put them there; elsewhere run
#   systemctl --user import-environment DISPLAY WAYLAND_DISPLAY XAUTHORITY
# from the session's startup. Logs: journalctl --user -u clip-desktop.

[Unit]
Description=clip desktop: the desktop clipboard, shared through clip
PartOf=graphical-session.target
After=graphical-session.target clip.service

[Service]
Type=simple
ExecStart=${cmd}
# SIGTERM ends the bridge (exit 0); what it last put on the desktop stays pasteable.
KillSignal=SIGTERM
# The programs it starts to hold the clipboard (xclip, wl-copy) outlive it on purpose.
KillMode=process
Restart=on-failure
RestartSec=2
Environment=NO_COLOR=1

[Install]
WantedBy=graphical-session.target
`;
}

export function autostartEntry(argv: string[], exe = process.execPath): string {
  const args = desktopArgs(argv);
  return `# clip desktop, started with your desktop session (XDG autostart). Install with:
#   mkdir -p ~/.config/autostart
#   clip desktop ${args.map(shellWord).join(" ")}${args.length ? " " : ""}--print-autostart > ~/.config/autostart/clip-desktop.desktop
[Desktop Entry]
Type=Application
Name=clip desktop
Comment=The desktop clipboard, shared through clip
Exec=${[exe, "desktop", ...args].map(entryWord).join(" ")}
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
`;
}
