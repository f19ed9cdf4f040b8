# Settings of the OpenStack test cloud, sourced by scripts/openstack-test-cloud and its helpers.
# A throw-away cloud for tests on 127.0.0.1: fixed, simple passwords on purpose.

# The OpenStack programs are Debian's and run on Debian's interpreter; a pyenv or virtualenv
# python3 earlier on PATH has none of their modules.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DEBIAN_PYTHON=/usr/bin/python3

CLOUD_DIR=${OPENSTACK_TEST_CLOUD_DIR:-/tmp/metascheduler-openstack}
LOG_DIR=$CLOUD_DIR/logs    # one log per service and per maintenance command
RUN_DIR=$CLOUD_DIR/run     # <service>.pid / .start (process start time) / .cmd
STATE_DIR=$CLOUD_DIR/state # db-sync stamp, the image file
CLOUDS_YAML=$CLOUD_DIR/clouds.yaml

HOST=127.0.0.1
REGION=RegionOne
# The name every Nova service registers under; the fake hypervisor is reported by this host.
COMPUTE_HOST=test-compute-1

KEYSTONE_PORT=5000
GLANCE_PORT=9292
PLACEMENT_PORT=8778
NOVA_PORT=8774
NEUTRON_PORT=9696
HEAT_PORT=8004
MEMCACHED_PORT=11211

IDENTITY_URL=http://$HOST:$KEYSTONE_PORT
AUTH_URL=$IDENTITY_URL/v3
MEMCACHED=$HOST:$MEMCACHED_PORT

ADMIN_PASSWORD=admin
DEMO_PASSWORD=demo
TIGHT_PASSWORD=tight
SERVICE_PASSWORD=service           # the glance, placement, nova, neutron and heat users
HEAT_DOMAIN_ADMIN_PASSWORD=heatdomain

DB_USER=ms_openstack
DB_PASSWORD=ms_openstack
DATABASES=(keystone glance placement nova_api nova nova_cell0 neutron heat)

# A vhost of our own on the machine's RabbitMQ; guest may log in because we come from loopback.
# The vhost's leading "/" must be written %2F inside the URL.
RABBIT_VHOST=/metascheduler-openstack
TRANSPORT_URL="rabbit://guest:guest@$HOST:5672/%2Fmetascheduler-openstack"

# Debug logging of every service (restarts the services whose config changes).
SERVICE_DEBUG=${OPENSTACK_TEST_CLOUD_DEBUG:-false}

db_url() { echo "mysql+pymysql://$DB_USER:$DB_PASSWORD@$HOST/$1?charset=utf8"; }

say() { echo "openstack-test-cloud: $*"; }
fail() { echo "openstack-test-cloud: $*" >&2; exit 1; }
