# Sourced by the scripts that install Debian packages (scripts/bootstrap for the test suite,
# scripts/ensure-runtime-packages for `npm start`), so both read the list and install the same way.

# Prints the packages of a list file (see scripts/runtime-packages): the first word of each line,
# with comments (#) and blank lines skipped. Fails on an unreadable file: no list is not an empty one.
package_list() {
  local line words
  [[ -r $1 ]] || { echo "cannot read the package list $1" >&2; return 1; }
  while IFS= read -r line || [[ -n $line ]]; do
    read -ra words <<<"${line%%#*}"
    ((${#words[@]} > 0)) && echo "${words[0]}"
  done <"$1"
  return 0
}

# Prints the programs a list file names for one package (the words after it), space-separated.
package_programs() {
  local line words
  while IFS= read -r line || [[ -n $line ]]; do
    read -ra words <<<"${line%%#*}"
    if ((${#words[@]} > 0)) && [[ ${words[0]} == "$2" ]]; then
      echo "${words[*]:1}"
      return 0
    fi
  done <"$1"
  return 0
}

# True when dpkg reports the package installed.
package_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

# Prints those of the given packages that dpkg does not report installed, one a line.
missing_packages() {
  local package
  for package in "$@"; do
    package_installed "$package" || echo "$package"
  done
  return 0
}

# Installs the given packages (as root): one apt-get update, then one noninteractive install.
install_packages() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's service scripts try to start daemons on install; on a machine without systemd they
  # would fail or linger. Our playbooks start what they need.
  local policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    # Whatever happens next (set -e ends the script on a failed install), ours goes with the script.
    trap "rm -f '$policy'" EXIT
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
