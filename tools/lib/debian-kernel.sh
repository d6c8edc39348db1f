# Debian's amd64 kernel for the images fleetboot's tools build (the test ISOs, the deploy
# agent). Sourced, not run:
#   source tools/lib/debian-kernel.sh
#   debian_kernel CACHE DEST MODULE...
# writes DEST/vmlinuz and DEST/modules/NAME.ko for every MODULE and every module it needs
# (`depends=`, and `softdep=` ones the package has), with DEST/modules/order listing them
# dependencies first, ready for busybox `insmod` in a loop. Modules built into the kernel are
# skipped. The kernel comes from the package linux-image-amd64 depends on, downloaded (never
# installed) once into CACHE/debian-kernel/ and unpacked from there, so every caller gets the
# same kernel and modules that match it. Callers hold their own lock on CACHE.

# The linux-image-<version>-amd64 package that the meta package points at.
concrete_kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# The cached kernel package, downloaded on first use; prints its path.
debian_kernel_deb() {
  local cache=$1/debian-kernel deb sudo="" pkg
  deb=$(find "$cache" -maxdepth 1 -name 'linux-image-*.deb' -print -quit 2>/dev/null || true)
  if [[ -n $deb ]]; then
    echo "$deb"
    return
  fi
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  pkg=$(concrete_kernel_package)
  if [[ -z $pkg ]]; then
    $sudo apt-get update -qq >&2
    pkg=$(concrete_kernel_package)
  fi
  [[ -n $pkg ]] || { echo "debian-kernel: no package behind linux-image-amd64" >&2; return 1; }
  echo "debian-kernel: downloading $pkg" >&2
  rm -rf "$cache.part" && mkdir -p "$cache.part"
  # apt downloads as the user _apt when it can reach the directory (else it warns).
  chmod 0777 "$cache.part"
  (cd "$cache.part" && apt-get download -qq "$pkg" >&2)
  rm -rf "$cache" && mv "$cache.part" "$cache"
  find "$cache" -maxdepth 1 -name 'linux-image-*.deb' -print -quit
}

# A module's field (`depends` or `softdep`) from its .modinfo strings, as names, one a line.
module_field() {
  tr '\0' '\n' <"$1" | sed -n "s/^$2=//p" | tr ', ' '\n\n' |
    grep -v -E '^(pre:|post:)?$' | sed 's/^\(pre\|post\)://' || true
}

# The path of module $1 in the package listing $2 (names use - and _ alike); empty if none.
module_path() {
  grep -E "/${1//_/[-_]}\.ko\$" "$2" | head -n 1 || true
}

debian_kernel() {
  local cache=$1 dest=$2 deb tmp
  shift 2
  deb=$(debian_kernel_deb "$cache") || return 1
  tmp=$(mktemp -d)
  # Decompressed once; only the kernel and the modules needed are unpacked from it (all
  # modules are hundreds of MB), one pass per level of dependencies.
  dpkg-deb --fsys-tarfile "$deb" >"$tmp/data.tar"
  tar -t -f "$tmp/data.tar" >"$tmp/list"
  tar -x -f "$tmp/data.tar" -C "$tmp" --wildcards './boot/vmlinuz-*' './lib/modules/*/modules.builtin'
  local -A file=() kind=()
  local level=() next=() paths=() m dep
  for m in "$@"; do level+=("${m//-/_}"); kind[${m//-/_}]=hard; done
  while ((${#level[@]})); do
    paths=()
    for m in "${level[@]}"; do
      [[ -z ${file[$m]:-} ]] || continue
      file[$m]=$(module_path "$m" "$tmp/list")
      if [[ -n ${file[$m]} ]]; then
        paths+=("${file[$m]}")
      elif grep -q -E "/${m//_/[-_]}\.ko\$" "$tmp"/lib/modules/*/modules.builtin; then
        file[$m]=builtin
      elif [[ ${kind[$m]} == soft ]]; then
        # A soft dependency may name an alias (crct10dif) rather than a module file.
        file[$m]=none
      else
        echo "debian-kernel: $(basename "$deb") has no module $m" >&2
        rm -rf "$tmp"
        return 1
      fi
    done
    ((${#paths[@]} == 0)) || tar -x -f "$tmp/data.tar" -C "$tmp" "${paths[@]}"
    next=()
    for m in "${level[@]}"; do
      [[ ${file[$m]} == ./* ]] || continue
      for dep in $(module_field "$tmp/${file[$m]#./}" depends); do
        dep=${dep//-/_}
        [[ -n ${file[$dep]:-} ]] || { kind[$dep]=hard; next+=("$dep"); }
      done
      for dep in $(module_field "$tmp/${file[$m]#./}" softdep); do
        dep=${dep//-/_}
        [[ -n ${file[$dep]:-} || -n ${kind[$dep]:-} ]] || { kind[$dep]=soft; next+=("$dep"); }
      done
    done
    level=("${next[@]}")
  done
  # Load order: each module after everything it needs (depth first).
  rm -rf "$dest.part" && mkdir -p "$dest.part/modules"
  install -m 0644 "$tmp"/boot/vmlinuz-* "$dest.part/vmlinuz"
  local -A placed=()
  place() {
    local m=$1 ko dep
    [[ ${file[$m]:-} == ./* && -z ${placed[$m]:-} ]] || return 0
    placed[$m]=1
    ko="$tmp/${file[$m]#./}"
    for dep in $(module_field "$ko" depends) $(module_field "$ko" softdep); do place "${dep//-/_}"; done
    install -m 0644 "$ko" "$dest.part/modules/$m.ko"
    echo "$m" >>"$dest.part/modules/order"
  }
  for m in "$@"; do place "${m//-/_}"; done
  rm -rf "$tmp" "$dest"
  mv "$dest.part" "$dest"
}
