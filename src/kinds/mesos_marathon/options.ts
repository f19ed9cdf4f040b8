// Which clusterOptions a Mesos + Marathon cluster takes, and how they reach the playbook. Only the
// tunables named here pass (as the role variables of the same name); anything else is refused at
// createCluster, naming the option.
import type { FieldError } from '../../domain/errors';
import type { Cluster, ClusterSpec } from '../../domain/types';
import { tunableErrors } from '../tunables';

const PORT = /^([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;
/**
 * Where Mesos, Marathon and Metronome come from: an apt source line ("deb [trusted=yes] URL suite
 * component"), or a .deb by http(s) URL or by a path on the hosts; Marathon and Metronome also as a
 * tarball (.tgz, .tar.gz), which their roles unpack (Mesos is compiled: no tarball). They have no
 * public archive any more, so the operator names their own; nothing is fetched without it. One line
 * of URL characters: it reaches the roles as a variable, never a shell.
 */
const URL_CHARS = "[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]";
function packageSource(suffixes: string): RegExp {
  return new RegExp(
    `^(deb (\\[[A-Za-z0-9=_,./ -]{1,200}\\] )?https?://${URL_CHARS}{1,300}( [A-Za-z0-9._/-]{1,64}){1,8}`
    + `|(https?://${URL_CHARS}{1,400}|/[A-Za-z0-9._/-]{1,400})\\.(${suffixes}))$`,
  );
}

export const MESOS_TUNABLES: Record<string, RegExp> = {
  mesos_package_source: packageSource('deb'),
  marathon_package_source: packageSource('deb|tgz|tar\\.gz'),
  metronome_package_source: packageSource('deb|tgz|tar\\.gz'),
  zookeeper_client_port: PORT,
  mesos_master_port: PORT,
  marathon_http_port: PORT,
  metronome_http_port: PORT,
  // What each agent offers Mesos, in Mesos' own resource syntax ("cpus:4;mem:8192").
  mesos_agent_resources: /^[a-z_]{1,32}:[0-9.]{1,12}(;[a-z_]{1,32}:[0-9.]{1,12}){0,15}$/,
  mesos_cluster_name: /^[A-Za-z0-9_.-]{1,64}$/,
};

/** The ports the service reaches on the masters, with the roles' defaults. */
export interface MesosPorts {
  zookeeper: number;
  master: number;
  marathon: number;
  metronome: number;
}

const DEFAULT_PORTS: MesosPorts = { zookeeper: 2181, master: 5050, marathon: 8080, metronome: 9000 };

export function mesosPorts(cluster: Pick<Cluster, 'spec'>): MesosPorts {
  const options = cluster.spec.clusterOptions ?? {};
  const port = (key: string, fallback: number) => (options[key] !== undefined ? Number(options[key]) : fallback);
  return {
    zookeeper: port('zookeeper_client_port', DEFAULT_PORTS.zookeeper),
    master: port('mesos_master_port', DEFAULT_PORTS.master),
    marathon: port('marathon_http_port', DEFAULT_PORTS.marathon),
    metronome: port('metronome_http_port', DEFAULT_PORTS.metronome),
  };
}

export function mesosOptionErrors(spec: Pick<ClusterSpec, 'clusterOptions'>): FieldError[] {
  return tunableErrors(MESOS_TUNABLES, spec);
}

/** The kind's extra vars: the Mesos cluster name and the tunables it was given. */
export function mesosExtraVars(cluster: Cluster): Record<string, unknown> {
  const vars: Record<string, unknown> = {
    mesos_cluster_name: cluster.name.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'metascheduler',
  };
  for (const [key, value] of Object.entries(cluster.spec.clusterOptions ?? {})) {
    if (Object.hasOwn(MESOS_TUNABLES, key)) vars[key] = PORT.test(value) && key.endsWith('_port') ? Number(value) : value;
  }
  return vars;
}
