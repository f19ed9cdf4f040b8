# The Debian 12 (OpenStack Zed) packages of the test cloud and their quiet installation (sourced).

# nova-compute depends on "nova-compute-kvm | nova-compute-hypervisor"; nova-compute-ironic is the
# lightest provider of the latter (no libvirt, no qemu). Its compute_driver is replaced by the fake
# driver in our nova-compute.conf. Keystone and Placement ship only WSGI scripts: uwsgi serves them.
# memcached is Keystone's cache (see configs.sh); curl and jq are what this script talks HTTP with.
CLOUD_PACKAGES=(
  keystone glance-api placement-api
  nova-api nova-conductor nova-scheduler nova-compute nova-compute-ironic
  neutron-server heat-api heat-engine
  python3-openstacksdk uwsgi-core uwsgi-plugin-python3 memcached curl jq
  python3-openstackclient # not used here: the `openstack` CLI, for looking at the cloud by hand
)

# The packages' postinst scripts offer (debconf, via openstack-pkg-tools) to set up databases,
# RabbitMQ, keystone_authtoken and Keystone endpoints themselves. We do all of that, so every offer is
# declined up front. A question belongs to the binary package but carries the source package's
# prefix: "nova-api novaapi/configure_db", "heat-common heat/configure_with_debconf".
preseed_debconf() {
  debconf-set-selections <<'SELECTIONS'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/configure_api-endpoint boolean false
placement-common placement/configure_db boolean false
placement-common placement/configure_ksat boolean false
placement-api placement/configure_api-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-common nova/configure_neutron boolean false
nova-common nova/configure_placement boolean false
nova-api novaapi/configure_db boolean false
nova-api nova/configure_api-endpoint boolean false
neutron-common neutron/configure_db boolean false
neutron-common neutron/configure_rabbit boolean false
neutron-common neutron/configure_ksat boolean false
neutron-common neutron/configure_nova boolean false
neutron-api neutron/configure_api-endpoint boolean false
heat-common heat/configure_with_debconf boolean false
heat-common heat/configure_db boolean false
heat-common heat/configure_rabbit boolean false
heat-common heat/configure_ksat boolean false
heat-api heat/configure_api-endpoint boolean false
SELECTIONS
}

# The packages' maintainer scripts would start every daemon through invoke-rc.d with the packaged
# configs; a policy-rc.d answering 101 forbids that. Ours is marked so that only ours is removed.
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_MARK='# openstack-test-cloud: no daemon starts while packages install'
remove_our_policy_rc() {
  if grep -qxF "$POLICY_RC_MARK" "$POLICY_RC" 2>/dev/null; then rm -f "$POLICY_RC"; fi
  return 0
}

# Prints the packages dpkg does not report installed, in one dpkg-query (quick re-runs).
missing_cloud_packages() {
  local line installed=' ' package
  while IFS= read -r line; do
    # Status-Abbrev: wanted, state, error flag. State "i" without an error: installed.
    [[ ${line:1:2} == 'i ' ]] && installed+="${line:3} "
  done < <(dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' "${CLOUD_PACKAGES[@]}" 2>/dev/null || true)
  for package in "${CLOUD_PACKAGES[@]}"; do
    [[ $installed == *" $package "* ]] || echo "$package"
  done
  return 0
}

# Installs what is missing, and runs apt-get update only then. scripts/bootstrap (npm test's
# pretest) or another install may hold dpkg's lock: both apt-get calls wait for it.
ensure_packages() {
  local missing
  mapfile -t missing < <(missing_cloud_packages)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  say "installing ${#missing[@]} Debian packages and their dependencies (log: $LOG_DIR/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -o DPkg::Lock::Timeout=900) started=$SECONDS
  if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_RC_MARK" >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    trap remove_our_policy_rc EXIT
  fi
  : >"$LOG_DIR/apt.log"
  # DPkg::Lock::Timeout covers dpkg's lock only: debconf's database and apt's lists lock, held by
  # an install or update running beside us, are waited for here.
  local deadline=$((SECONDS + 900))
  until preseed_debconf 2>>"$LOG_DIR/apt.log"; do
    ((SECONDS < deadline)) || fail "debconf's database stayed locked for 15 minutes (log: $LOG_DIR/apt.log)"
    sleep 5
  done
  until "${apt[@]}" update >>"$LOG_DIR/apt.log" 2>&1; do
    if ! tail -n 5 "$LOG_DIR/apt.log" | grep -q 'Could not get lock' || ((SECONDS >= deadline)); then
      tail -n 20 "$LOG_DIR/apt.log" >&2
      fail "apt-get update failed"
    fi
    sleep 5
  done
  if ! "${apt[@]}" install -y --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1; then
    tail -n 40 "$LOG_DIR/apt.log" >&2
    fail "apt-get install failed"
  fi
  remove_our_policy_rc
  trap - EXIT
  mapfile -t missing < <(missing_cloud_packages)
  ((${#missing[@]} == 0)) || fail "still not installed after apt-get: ${missing[*]}"
  say "packages installed in $((SECONDS - started)) s"
}
