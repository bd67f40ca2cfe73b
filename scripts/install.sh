#!/bin/sh
# Installs clip for the user who runs it: builds dist/clip when it is missing
# or older than the sources, copies it to $PREFIX/bin (default ~/.local/bin,
# no root needed) and the man page to $PREFIX/share/man/man1, then says where
# they went and, in one line, what to add to the shell's profile when that
# folder is not on PATH. Never asks anything (safe with no stdin); running it
# again replaces what it installed, with the same result.
#
#   scripts/install.sh [--prefix DIR]      (or: npm run install-bin)
#   PREFIX=/opt/clip DESTDIR=/tmp/stage scripts/install.sh
#
# DESTDIR stages the files for a package (they go to $DESTDIR$PREFIX/bin, and
# the PATH advice is about $PREFIX/bin); BINDIR and MANDIR override the two
# folders. A copy, not a link: the binary is self-contained, keeps working
# when the checkout moves or is rebuilt mid-way, and replacing it by rename
# leaves a running `clip serve` undisturbed.

set -eu

prefix=${PREFIX:-${HOME:?HOME is not set}/.local}
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || { echo "install: --prefix needs a folder" >&2; exit 2; }; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install: unknown argument \"$1\" (see scripts/install.sh --help)" >&2; exit 2 ;;
  esac
done
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$(pwd)/$1" ;; esac; }
prefix=$(abs "$prefix")
bindir=$(abs "${BINDIR:-$prefix/bin}")
mandir=$(abs "${MANDIR:-$prefix/share/man}")
stage=${DESTDIR:-}

cd "$(dirname "$0")/.."

# Build when dist/clip is missing or any source is newer than it.
if [ ! -x dist/clip ] || [ -n "$(find src package.json package-lock.json -newer dist/clip -print 2>/dev/null | head -n 1)" ]; then
  if [ ! -x node_modules/.bin/bun ]; then
    echo "install: installing the build's dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error </dev/null
  fi
  echo "install: building dist/clip"
  npm run --silent build </dev/null >/dev/null
fi
version=$(./dist/clip --version </dev/null) || { echo "install: dist/clip does not run; not installed" >&2; exit 1; }

# Copy beside the target, then rename over it: a reader (or a running server) sees the old file or the new, whole.
put() { # put SOURCE FOLDER NAME MODE
  mkdir -p "$2"
  tmp="$2/.$3.install.$$"
  cp "$1" "$tmp"
  chmod "$4" "$tmp"
  mv -f "$tmp" "$2/$3"
}
put dist/clip "$stage$bindir" clip 755
echo "install: $version -> $stage$bindir/clip"
if [ -f docs/clip.1 ]; then
  put docs/clip.1 "$stage$mandir/man1" clip.1 644
  echo "install: man page -> $stage$mandir/man1/clip.1"
fi

# Where the user's shell will look, compared folder by folder (a trailing slash or a symlinked folder is the same one).
canon() { (cd "$1" 2>/dev/null && pwd -P) || printf '%s\n' "${1%/}"; }
want=$(canon "$bindir")
found=
old_ifs=$IFS
IFS=:
for d in ${PATH:-}; do
  [ -n "$d" ] || continue
  if [ "$(canon "$d")" = "$want" ]; then found=yes; break; fi
done
IFS=$old_ifs

if [ -z "$found" ]; then
  # The folder as the profile should name it: under the home folder, by $HOME (or ~ for fish).
  case $bindir in "$HOME"/*) home_rel=${bindir#"$HOME"/} ;; *) home_rel= ;; esac
  sh_dir=${home_rel:+\$HOME/$home_rel}
  fish_dir=${home_rel:+\~/$home_rel}
  case ${SHELL:-} in
    */fish) echo "install: $bindir is not on your PATH: run this once in fish: fish_add_path ${fish_dir:-$bindir}" ;;
    *)
      case ${SHELL:-} in */zsh) profile="~/.zshrc" ;; */bash) profile="~/.bashrc" ;; *) profile="your shell's profile" ;; esac
      echo "install: $bindir is not on your PATH: add this line to $profile and open a new shell: export PATH=\"${sh_dir:-$bindir}:\$PATH\""
      ;;
  esac
else
  # On PATH, but an earlier folder may hold another clip that would run instead.
  first=$(command -v clip 2>/dev/null || true)
  if [ -n "$first" ] && [ -z "$stage" ] && [ "$(canon "$(dirname "$first")")" != "$want" ]; then
    echo "install: note: $first comes first on your PATH and runs instead; remove it, or put $bindir before it"
  fi
fi
