# Sourced by the image builds that assemble a root filesystem from this
# machine's files (no registry to pull a base image from).

# copy_shared_libs ROOT FILE...: every shared library FILE loads (as ldd
# resolves it, symlinks followed) and the dynamic loader, at the same paths
# under ROOT.
copy_shared_libs() {
  local root="$1"; shift
  local file lib
  for file in "$@"; do
    while read -r lib; do
      [ -n "$lib" ] && [ -e "$lib" ] || continue
      [ -e "$root$lib" ] || install -D -m 644 "$(readlink -f "$lib")" "$root$lib"
    done < <(ldd "$file" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
  done
  if [ -e "$root/lib64/ld-linux-x86-64.so.2" ]; then
    chmod 755 "$root/lib64/ld-linux-x86-64.so.2"
  fi
}
