// The release version, shown by --version and status.
export const VERSION = "0.2.0";
