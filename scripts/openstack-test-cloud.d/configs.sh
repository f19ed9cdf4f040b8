# The services' config files (sourced). They go where the packages look for them (/etc/<project>);
# the packaged original of each is kept once beside it as <file>.debian-orig.

CHANGED_PROJECTS=() # projects whose config this run changed: their running services restart

# write_config PROJECT FILE < content. Replaces the file only when the content differs, so an
# unchanged cloud is not restarted.
write_config() {
  local project=$1 file=$2 content current=''
  content=$(cat)
  [[ -e $file ]] && current=$(<"$file")
  [[ $content == "$current" ]] && return 0
  mkdir -p "$(dirname "$file")"
  if [[ -e $file && ! -e $file.debian-orig ]]; then cp -p "$file" "$file.debian-orig"; fi
  printf '%s\n' "$content" >"$file.new"
  chmod 0640 "$file.new"
  mv -f "$file.new" "$file"
  CHANGED_PROJECTS+=("$project")
  say "wrote $file"
}

project_changed() {
  local project
  for project in "${CHANGED_PROJECTS[@]}"; do [[ $project == "$1" ]] && return 0; done
  return 1
}

# Password auth of a service user against Keystone, as [keystone_authtoken] and the client
# sections ([placement], [neutron] in nova.conf) take it.
service_auth() {
  cat <<AUTH
auth_url = $IDENTITY_URL
auth_type = password
user_domain_name = Default
project_domain_name = Default
project_name = service
username = $1
password = $SERVICE_PASSWORD
region_name = $REGION
AUTH
}

# [keystone_authtoken] of an API service. memcached_servers lets keystonemiddleware cache the tokens
# it validated instead of asking Keystone on every request.
authtoken_section() {
  cat <<AUTH
[keystone_authtoken]
www_authenticate_uri = $IDENTITY_URL
memcached_servers = $MEMCACHED
$(service_auth "$1")
AUTH
}

write_keystone_config() {
  write_config keystone /etc/keystone/keystone.conf <<CONF
[DEFAULT]
debug = $SERVICE_DEBUG
[database]
connection = $(db_url keystone)
[token]
provider = fernet
expiration = 14400
[fernet_tokens]
key_repository = /etc/keystone/fernet-keys/
[credential]
key_repository = /etc/keystone/credential-keys/
[identity]
# The lowest bcrypt cost there is: password auth in milliseconds. Acceptable in a test cloud only.
password_hash_rounds = 4
[cache]
# Uncached, Keystone runs ~180 ORM queries per token validation: about a second each on two cores,
# which every API call of every service pays. With memcached it is ~15 ms.
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = $MEMCACHED
CONF
}

write_glance_config() {
  write_config glance /etc/glance/glance-api.conf <<CONF
[DEFAULT]
debug = $SERVICE_DEBUG
bind_host = $HOST
bind_port = $GLANCE_PORT
workers = 1
[database]
connection = $(db_url glance)
$(authtoken_section glance)
[paste_deploy]
flavor = keystone
[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = /var/lib/glance/images/
[oslo_concurrency]
lock_path = /var/lib/glance/tmp
[oslo_messaging_notifications]
driver = noop
CONF
}

write_placement_config() {
  write_config placement /etc/placement/placement.conf <<CONF
[DEFAULT]
debug = $SERVICE_DEBUG
[placement_database]
connection = $(db_url placement)
[api]
auth_strategy = keystone
$(authtoken_section placement)
CONF
}

# nova.conf serves nova-api, -conductor and -scheduler. nova-compute gets its own file without the
# database sections: with database credentials in sight it refuses to start ("No DB access allowed
# in nova-compute"), since a compute host is meant to reach the database through the conductor only.
nova_config() {
  local with_database=$1
  cat <<CONF
[DEFAULT]
debug = $SERVICE_DEBUG
host = $COMPUTE_HOST
my_ip = $HOST
state_path = /var/lib/nova
instances_path = /var/lib/nova/instances
transport_url = $TRANSPORT_URL
enabled_apis = osapi_compute
osapi_compute_listen = $HOST
osapi_compute_listen_port = $NOVA_PORT
osapi_compute_workers = 1
# Servers are entries in nova-compute's memory; the driver reports a big hypervisor to Placement.
compute_driver = fake.FakeDriver
# Fake servers have no interfaces worth refreshing from Neutron every minute.
heal_instance_info_cache_interval = -1
[api]
auth_strategy = keystone
CONF
  if [[ $with_database == yes ]]; then
    cat <<CONF
[api_database]
connection = $(db_url nova_api)
[database]
connection = $(db_url nova)
CONF
  fi
  cat <<CONF
[conductor]
workers = 1
[scheduler]
workers = 1
$(authtoken_section nova)
[placement]
$(service_auth placement)
[neutron]
$(service_auth neutron)
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
CONF
}

write_nova_configs() {
  # Process substitution, not a pipe: write_config must run in this shell to record the change.
  write_config nova /etc/nova/nova.conf < <(nova_config yes)
  write_config nova /etc/nova/nova-compute.conf < <(nova_config no)
}

# Nova cannot go without Neutron: showing a server reads its security groups from Neutron and
# deleting one deallocates its network, so without Neutron every GET of a server answers 500 and
# every delete ends in ERROR. neutron-server runs with ML2 but no mechanism driver and no agent:
# networks, subnets, ports, security groups and routers are database rows, which is all the API
# needs. (A server booted onto a port fails to bind it: boot with "networks": "none".)
write_neutron_configs() {
  write_config neutron /etc/neutron/neutron.conf <<CONF
[DEFAULT]
debug = $SERVICE_DEBUG
core_plugin = ml2
# The router API; without an L3 agent a router is only a row.
service_plugins = router
auth_strategy = keystone
transport_url = $TRANSPORT_URL
bind_host = $HOST
bind_port = $NEUTRON_PORT
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
[database]
connection = $(db_url neutron)
$(authtoken_section neutron)
[oslo_concurrency]
lock_path = /var/lib/neutron/tmp
[oslo_messaging_notifications]
driver = noop
CONF
  write_config neutron /etc/neutron/plugins/ml2/ml2_conf.ini <<CONF
[ml2]
type_drivers = flat,vlan,vxlan
# A project network needs a segment type to allocate from, agents or not; without one, creating a
# network fails with "No tenant network is available for allocation".
tenant_network_types = vxlan
mechanism_drivers =
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vlan]
network_vlan_ranges = physnet1:100:199
[ml2_type_vxlan]
vni_ranges = 1:1000
CONF
}

# Heat keeps the users it makes for stacks in a domain of its own ("heat", administered by
# heat_domain_admin; bootstrap.py creates both).
write_heat_config() {
  write_config heat /etc/heat/heat.conf <<CONF
[DEFAULT]
debug = $SERVICE_DEBUG
transport_url = $TRANSPORT_URL
# No heat-api-cfn runs; these only have to be set.
heat_metadata_server_url = http://$HOST:8000
heat_waitcondition_server_url = http://$HOST:8000/v1/waitcondition
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $HEAT_DOMAIN_ADMIN_PASSWORD
num_engine_workers = 1
# A failed resource fails its stack at once instead of after five more tries (a test waits for it).
action_retry_limit = 0
region_name_for_services = $REGION
[database]
connection = $(db_url heat)
$(authtoken_section heat)
[trustee]
auth_type = password
auth_url = $IDENTITY_URL
username = heat
password = $SERVICE_PASSWORD
user_domain_name = Default
[clients_keystone]
auth_uri = $IDENTITY_URL
[ec2authtoken]
auth_uri = $AUTH_URL
[heat_api]
bind_host = $HOST
bind_port = $HEAT_PORT
workers = 1
[oslo_messaging_notifications]
driver = noop
CONF
}

write_configs() {
  write_keystone_config
  write_glance_config
  write_placement_config
  write_nova_configs
  write_neutron_configs
  write_heat_config
  mkdir -p /var/lib/nova/instances /var/lib/nova/tmp /var/lib/glance/images /var/lib/glance/tmp /var/lib/neutron/tmp
}
