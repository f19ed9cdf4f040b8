# MariaDB databases, the RabbitMQ vhost and the schema migrations (sourced). MariaDB (root through
# its unix socket) and RabbitMQ (guest/guest) are the machine's own, already running.

ensure_database_and_vhost() {
  mysqladmin -u root status >/dev/null 2>&1 || fail "MariaDB does not answer root on its unix socket (mysqladmin -u root status)"
  local db host
  {
    for db in "${DATABASES[@]}"; do echo "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4;"; done
    for host in localhost 127.0.0.1; do
      echo "CREATE USER IF NOT EXISTS '$DB_USER'@'$host' IDENTIFIED BY '$DB_PASSWORD';"
      echo "ALTER USER '$DB_USER'@'$host' IDENTIFIED BY '$DB_PASSWORD';"
      for db in "${DATABASES[@]}"; do echo "GRANT ALL PRIVILEGES ON \`$db\`.* TO '$DB_USER'@'$host';"; done
    done
  } | mysql -u root || fail "could not create the databases and their user in MariaDB"

  # Logging in to the vhost proves it is there and guest may use it; rabbitmqctl starts an Erlang
  # VM per call (seconds), so it only runs to make the vhost.
  rabbit_vhost_usable && return 0
  if ! rabbitmqctl -q list_vhosts 2>/dev/null | grep -qxF "$RABBIT_VHOST"; then
    rabbitmqctl -q add_vhost "$RABBIT_VHOST" >/dev/null || fail "could not add the RabbitMQ vhost $RABBIT_VHOST (is rabbitmq-server running?)"
  fi
  rabbitmqctl -q set_permissions -p "$RABBIT_VHOST" guest '.*' '.*' '.*' >/dev/null \
    || fail "could not give guest the RabbitMQ vhost $RABBIT_VHOST"
  say "RabbitMQ vhost $RABBIT_VHOST ready"
}

# Whether guest can open a channel on the vhost (python3-amqp comes with oslo.messaging).
rabbit_vhost_usable() {
  RABBIT_VHOST=$RABBIT_VHOST "$DEBIAN_PYTHON" - <<'PY' 2>/dev/null
import os, amqp
connection = amqp.Connection('127.0.0.1:5672', userid='guest', password='guest',
                             virtual_host=os.environ['RABBIT_VHOST'], connect_timeout=5)
connection.connect()
connection.channel().close()
connection.close()
PY
}

mysql_value() { mysql -u root -N -B -e "$1" 2>/dev/null || true; }

# What the migrations depend on: the packages' versions and what the databases hold. The same
# stamp as after the last successful sync means there is nothing to migrate.
schema_stamp() {
  local names
  names=$(printf "'%s'," "${DATABASES[@]}")
  dpkg-query -W python3-keystone python3-glance python3-placement python3-nova python3-neutron python3-heat 2>/dev/null
  mysql_value "SELECT table_schema, COUNT(*) FROM information_schema.tables WHERE table_schema IN (${names%,})
    GROUP BY table_schema ORDER BY table_schema"
  echo "cell1 $(mysql_value "SELECT COUNT(*) FROM nova_api.cell_mappings WHERE name = 'cell1'")"
  [[ -e /etc/keystone/fernet-keys/0 ]] && echo "fernet keys"
  [[ -e /etc/keystone/credential-keys/0 ]] && echo "credential keys"
  return 0
}

# run_logged LOG COMMAND...: output to logs/LOG.log; on failure its tail and the end of the script.
run_logged() {
  local log=$1
  shift
  printf '==== %s %s\n' "$(date -Is)" "$*" >>"$LOG_DIR/$log.log"
  "$@" >>"$LOG_DIR/$log.log" 2>&1 || service_failed "$log" "failed: $*"
}

# Every migration takes seconds even with nothing to do (~40 s together), so they run only when
# the stamp differs from the last successful run's. OPENSTACK_TEST_CLOUD_FORCE_DB_SYNC=1 forces them.
sync_schemas() {
  local stamp_file=$STATE_DIR/db-sync.stamp started=$SECONDS
  if [[ ${OPENSTACK_TEST_CLOUD_FORCE_DB_SYNC:-0} != 1 && -f $stamp_file && "$(schema_stamp)" == "$(cat "$stamp_file")" ]]; then
    say "database schemas unchanged since the last sync: migrations skipped"
    return 0
  fi
  rm -f "$stamp_file"
  say "migrating the database schemas (log: $LOG_DIR/db-sync.log)"
  run_logged db-sync keystone-manage db_sync
  [[ -e /etc/keystone/fernet-keys/0 ]] ||
    run_logged db-sync keystone-manage fernet_setup --keystone-user root --keystone-group root
  [[ -e /etc/keystone/credential-keys/0 ]] ||
    run_logged db-sync keystone-manage credential_setup --keystone-user root --keystone-group root
  # The admin user, project and role, the identity endpoints. The password comes from the
  # environment, not the command line.
  OS_BOOTSTRAP_PASSWORD=$ADMIN_PASSWORD run_logged db-sync keystone-manage bootstrap \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-admin-url "$AUTH_URL/" --bootstrap-internal-url "$AUTH_URL/" \
    --bootstrap-public-url "$AUTH_URL/" --bootstrap-region-id "$REGION"
  run_logged db-sync glance-manage db_sync
  run_logged db-sync placement-manage db sync
  run_logged db-sync nova-manage api_db sync
  # cell0 (where servers that could not be scheduled go) is the nova database's name + "_cell0".
  run_logged db-sync nova-manage cell_v2 map_cell0
  if [[ $(mysql_value "SELECT COUNT(*) FROM nova_api.cell_mappings WHERE name = 'cell1'") != 1 ]]; then
    run_logged db-sync nova-manage cell_v2 create_cell --name cell1
  fi
  run_logged db-sync nova-manage db sync
  run_logged db-sync neutron-db-manage --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
  run_logged db-sync heat-manage db_sync
  schema_stamp >"$stamp_file"
  say "database schemas migrated in $((SECONDS - started)) s"
}

drop_database_and_vhost() {
  local db
  for db in "${DATABASES[@]}"; do echo "DROP DATABASE IF EXISTS \`$db\`;"; done | mysql -u root
  mysql -u root -e "DROP USER IF EXISTS '$DB_USER'@'localhost', '$DB_USER'@'127.0.0.1';"
  say "dropped the databases ${DATABASES[*]} and their user $DB_USER"
  if rabbitmqctl -q list_vhosts 2>/dev/null | grep -qxF "$RABBIT_VHOST"; then
    rabbitmqctl -q delete_vhost "$RABBIT_VHOST" >/dev/null && say "deleted the RabbitMQ vhost $RABBIT_VHOST"
  fi
}
