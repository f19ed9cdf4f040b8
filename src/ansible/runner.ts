// What the rest of the service needs from Ansible: run one of our playbooks against a set of hosts
// and hear about every task on every host as it happens. Implemented by AnsibleRunnerBridge
// (ansible-runner subprocess); workflows depend only on this interface.

export interface AnsibleHost {
  /** Inventory name of the host (the node's address, or "localhost"). */
  name: string;
  /** "local" for this machine (no ssh), "ssh" otherwise. */
  connection: 'local' | 'ssh';
  address?: string;
  sshUser?: string;
  sshPort?: number;
  /** Further host variables (e.g. slurm_node_name). */
  vars?: Record<string, string | number | boolean>;
}

export interface AnsibleInventory {
  hosts: AnsibleHost[];
  /** Group name -> inventory names of its hosts (e.g. slurm_controller, slurm_workers). */
  groups: Record<string, string[]>;
}

export type AnsibleEventKind =
  | 'play_start' | 'task_start' | 'task_ok' | 'task_changed' | 'task_skipped' | 'task_failed' | 'host_unreachable'
  | 'stats';

/** One thing that happened in a run, in order; task results are one per task per host. */
export interface AnsibleEvent {
  kind: AnsibleEventKind;
  time: number;
  host?: string;
  play?: string;
  task?: string;
  /** A short, human line: the task's own message for failures, "ok"/"changed" otherwise. */
  message: string;
}

export interface AnsibleFailure {
  host?: string;
  task?: string;
  message: string;
  unreachable: boolean;
}

export interface HostStats {
  ok: number;
  changed: number;
  failures: number;
  unreachable: number;
  skipped: number;
}

export interface PlaybookRun {
  /** File name under playbooks/, e.g. "slurm.yml". */
  playbook: string;
  inventory: AnsibleInventory;
  extraVars: Record<string, unknown>;
  tags?: string[];
  /** Private key for ssh hosts: written 0600 into the run's env/, never argv or logs; removed after. */
  sshPrivateKey?: string;
  /**
   * known_hosts lines of the ssh hosts (the service's pins). Given: OpenSSH checks every host
   * against them strictly, and a host presenting another key is unreachable. Absent: ansible-runner's
   * default, no host key checking.
   */
  knownHosts?: string[];
  timeoutMs: number;
  signal?: AbortSignal;
  /** Awaited in order, so a slow sink slows the reading, never reorders or drops events. */
  onEvent?: (event: AnsibleEvent) => void | Promise<void>;
}

export interface PlaybookResult {
  status: 'successful' | 'failed' | 'timeout' | 'canceled';
  rc: number;
  failures: AnsibleFailure[];
  hostStats: Record<string, HostStats>;
  /** Sum of changed over all hosts (0 on an idempotent re-run). */
  changed: number;
  durationMs: number;
}

export interface AnsibleRunner {
  run(run: PlaybookRun): Promise<PlaybookResult>;
}
