#!/usr/bin/python3
"""What the OpenStack test cloud holds besides its services; every step is idempotent.

  bootstrap.py identity   projects, users, roles, Heat's domain, the service catalog
  bootstrap.py resources  the image, the flavors, demo's quotas, demo's network
  (or both, in that order, in one run)

Run by scripts/openstack-test-cloud with Debian's /usr/bin/python3, whose openstacksdk comes with
the cloud's packages. Ports and passwords come from the environment that script exports. Prints a
line for what it creates or repairs only, so a run over a complete cloud is quiet.
"""
import json
import os
import sys
import urllib.error
import urllib.request

import openstack

ENV = os.environ
HOST = ENV['HOST']
REGION = ENV['REGION']
AUTH_URL = ENV['AUTH_URL']

# name -> (project, password variable, roles in the project)
USERS = {
    'demo': ('demo', 'DEMO_PASSWORD', ('member', 'heat_stack_owner')),
    'tight': ('tight', 'TIGHT_PASSWORD', ('member', 'heat_stack_owner')),
}
SERVICE_USERS = ('glance', 'placement', 'nova', 'neutron', 'heat')

# service name -> (type, URL); the catalog has the same URL for all three interfaces.
CATALOG = {
    'glance': ('image', 'http://%s:%s' % (HOST, ENV['GLANCE_PORT'])),
    'placement': ('placement', 'http://%s:%s' % (HOST, ENV['PLACEMENT_PORT'])),
    'nova': ('compute', 'http://%s:%s/v2.1' % (HOST, ENV['NOVA_PORT'])),
    'neutron': ('network', 'http://%s:%s' % (HOST, ENV['NEUTRON_PORT'])),
    'heat': ('orchestration', 'http://%s:%s/v1/%%(tenant_id)s' % (HOST, ENV['HEAT_PORT'])),
}

# name -> (vCPUs, RAM MB, disk GB). The fake hypervisor reports 600000 GB of disk to Placement:
# m1.nohost asks for more, so no host can take a server of it ("No valid host was found").
FLAVORS = {
    'm1.tiny': (1, 512, 1),
    'm1.small': (2, 2048, 10),
    'm1.nohost': (1, 512, 900000),
}
IMAGE = 'tiny-raw'
DEMO_QUOTAS = {'instances': 100, 'cores': 200, 'ram': 409600}
NETWORK, SUBNET, CIDR = 'test-net', 'test-subnet', '10.77.0.0/24'


def say(message):
    print('openstack-test-cloud: ' + message, flush=True)


def connect():
    # Only what is given here: neither OS_* variables nor a clouds.yaml of the caller's may mix in.
    return openstack.connect(
        load_yaml_config=False, load_envvars=False,
        auth_url=AUTH_URL, username='admin', password=ENV['ADMIN_PASSWORD'],
        project_name='admin', user_domain_id='default', project_domain_id='default',
        region_name=REGION, interface='public', identity_api_version='3')


def first(resources):
    # Listing with a filter rather than find_*(): find_* first GETs the name as an ID, and the
    # services log every such 404 as an error with a traceback.
    return next(iter(resources), None)


def password_works(user_id, password):
    """Whether Keystone takes this password (an unscoped token, thrown away)."""
    body = {'auth': {'identity': {'methods': ['password'],
                                  'password': {'user': {'id': user_id, 'password': password}}}}}
    request = urllib.request.Request(AUTH_URL + '/auth/tokens', data=json.dumps(body).encode(),
                                     headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status == 201
    except urllib.error.HTTPError as error:
        if error.code == 401:
            return False
        raise


# ------------------------------------------------------------------------------------ identity

class Identity:
    """Keystone's objects, each kind listed once: a complete cloud costs a dozen requests."""

    def __init__(self, conn):
        self.conn = conn
        self.roles = {r.name: r for r in conn.identity.roles()}
        self.domains = {d.name: d for d in conn.identity.domains()}
        self.projects = {(p.domain_id, p.name): p for p in conn.identity.projects()}
        self.users = {(u.domain_id, u.name): u for u in conn.identity.users()}
        self.services = list(conn.identity.services())
        self.all_endpoints = list(conn.identity.endpoints())
        self.assignments = set()
        for a in conn.identity.get('/role_assignments').json()['role_assignments']:
            scope = a['scope'].get('project') or a['scope'].get('domain') or {}
            if 'user' in a:
                self.assignments.add((scope.get('id'), a['user']['id'], a['role']['id']))

    def role(self, name):
        if name not in self.roles:
            self.roles[name] = self.conn.identity.create_role(name=name)
            say('created role %s' % name)
        return self.roles[name]

    def domain(self, name, description):
        if name not in self.domains:
            self.domains[name] = self.conn.identity.create_domain(name=name, description=description)
            say('created domain %s' % name)
        return self.domains[name]

    def project(self, name, description, domain_id='default'):
        if (domain_id, name) not in self.projects:
            self.projects[domain_id, name] = self.conn.identity.create_project(
                name=name, domain_id=domain_id, description=description)
            say('created project %s' % name)
        return self.projects[domain_id, name]

    def user(self, name, password, domain_id='default', project=None):
        user = self.users.get((domain_id, name))
        if user is None:
            fields = {'name': name, 'password': password, 'domain_id': domain_id}
            if project is not None:
                fields['default_project_id'] = project.id
            user = self.users[domain_id, name] = self.conn.identity.create_user(**fields)
            say('created user %s' % name)
        elif not password_works(user.id, password):
            # Only when it differs: a password change revokes the user's tokens, which tests running
            # against the cloud at this moment would see fail.
            self.conn.identity.update_user(user, password=password)
            say('reset the password of user %s' % name)
        return user

    def grant(self, user, role_name, project=None, domain=None):
        role = self.role(role_name)
        target = project if project is not None else domain
        if (target.id, user.id, role.id) in self.assignments:
            return
        if project is not None:
            self.conn.identity.assign_project_role_to_user(project, user, role)
        else:
            self.conn.identity.assign_domain_role_to_user(domain, user, role)
        self.assignments.add((target.id, user.id, role.id))
        say('gave user %s the role %s in %s' % (user.name, role_name, target.name))

    def endpoints(self, name, service_type, url):
        service = first(s for s in self.services if s.type == service_type)
        if service is None:
            service = self.conn.identity.create_service(name=name, type=service_type, is_enabled=True)
            say('created service %s (%s)' % (name, service_type))
        existing = {e.interface: e for e in self.all_endpoints if e.service_id == service.id}
        for interface in ('public', 'internal', 'admin'):
            endpoint = existing.get(interface)
            if endpoint is None:
                self.conn.identity.create_endpoint(service_id=service.id, interface=interface, url=url,
                                                   region_id=REGION)
                say('created the %s %s endpoint %s' % (interface, service_type, url))
            elif endpoint.url != url:
                self.conn.identity.update_endpoint(endpoint, url=url)
                say('moved the %s %s endpoint to %s' % (interface, service_type, url))


def identity(conn):
    keystone = Identity(conn)
    for name in ('admin', 'member', 'reader', 'heat_stack_owner', 'heat_stack_user'):
        keystone.role(name)

    for name, (project_name, password_variable, role_names) in USERS.items():
        project = keystone.project(project_name, 'test project of the meta-scheduler')
        user = keystone.user(name, ENV[password_variable], project=project)
        for role_name in role_names:
            keystone.grant(user, role_name, project=project)

    service_project = keystone.project('service', 'the OpenStack services')
    for name in SERVICE_USERS:
        keystone.grant(keystone.user(name, ENV['SERVICE_PASSWORD']), 'admin', project=service_project)

    # Heat creates a project and a user per stack where needed, inside a domain of their own.
    heat_domain = keystone.domain('heat', "Heat's stack projects and users")
    domain_admin = keystone.user('heat_domain_admin', ENV['HEAT_DOMAIN_ADMIN_PASSWORD'], domain_id=heat_domain.id)
    keystone.grant(domain_admin, 'admin', domain=heat_domain)

    for name, (service_type, url) in CATALOG.items():
        keystone.endpoints(name, service_type, url)


# ----------------------------------------------------------------------------------- resources

def ensure_image(conn):
    images = list(conn.image.images(name=IMAGE))
    for image in images:
        if image.status != 'active':
            conn.image.delete_image(image)
            say('deleted image %s, left %s by an earlier upload' % (image.id, image.status))
    if any(image.status == 'active' for image in images):
        return
    path = os.path.join(ENV['STATE_DIR'], IMAGE + '.img')
    with open(path, 'wb') as f:
        f.write(b'\0' * (1024 * 1024))
    image = conn.image.create_image(name=IMAGE, filename=path, disk_format='raw', container_format='bare',
                                    visibility='public', wait=True, timeout=120)
    say('uploaded image %s (%s)' % (IMAGE, image.id))


def ensure_flavors(conn):
    existing = {f.name: f for f in conn.compute.flavors()}
    for name, (vcpus, ram, disk) in FLAVORS.items():
        flavor = existing.get(name)
        if flavor is not None and (flavor.vcpus, flavor.ram, flavor.disk) == (vcpus, ram, disk):
            continue
        if flavor is not None:
            # Flavors cannot be changed; servers keep a copy of theirs, so replacing one is safe.
            conn.compute.delete_flavor(flavor)
        flavor = conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
        say('created flavor %s (%d vCPU, %d MB RAM, %d GB disk)' % (name, vcpus, ram, disk))


def ensure_demo_quotas(conn, demo):
    path = '/os-quota-sets/%s' % demo.id
    current = conn.compute.get(path).json()['quota_set']
    if all(current.get(key) == value for key, value in DEMO_QUOTAS.items()):
        return
    conn.compute.put(path, json={'quota_set': DEMO_QUOTAS}).raise_for_status()
    say("raised project demo's compute quotas to %s" % ', '.join('%s %d' % kv for kv in DEMO_QUOTAS.items()))


def ensure_demo_network(conn, demo):
    network = first(conn.network.networks(name=NETWORK, project_id=demo.id))
    if network is None:
        network = conn.network.create_network(name=NETWORK, project_id=demo.id)
        say('created network %s in project demo' % NETWORK)
    if first(conn.network.subnets(name=SUBNET, network_id=network.id)) is None:
        conn.network.create_subnet(name=SUBNET, network_id=network.id, project_id=demo.id,
                                   ip_version=4, cidr=CIDR)
        say('created subnet %s (%s) in project demo' % (SUBNET, CIDR))


def resources(conn):
    demo = first(conn.identity.projects(name='demo', domain_id='default'))
    if demo is None:
        sys.exit('project demo is missing: run the identity step first')
    ensure_image(conn)
    ensure_flavors(conn)
    ensure_demo_quotas(conn, demo)
    ensure_demo_network(conn, demo)


if __name__ == '__main__':
    STEPS = {'identity': identity, 'resources': resources}
    if len(sys.argv) < 2 or any(step not in STEPS for step in sys.argv[1:]):
        sys.exit(__doc__)
    connection = connect()
    for step in sys.argv[1:]:
        STEPS[step](connection)
