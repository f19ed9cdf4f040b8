// Building and tearing down clusters: a sequence of idempotent steps whose progress is the cluster's
// state in Postgres. A run that is interrupted (the service killed mid-create) is re-queued and
// continues from the state it finds: REQUESTED -> PROVISIONING -> CONFIGURING -> READY.
import type { AnsibleEvent, AnsibleHost, AnsibleInventory, AnsibleRunner, PlaybookResult } from '../ansible/runner';
import { InvalidRequestError } from '../domain/errors';
import { IllegalTransitionError } from '../domain/stateMachines';
import type { Cluster, ClusterFailure, ClusterState } from '../domain/types';
import type { Logger } from '../log';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { JobStore } from '../store/jobStore';
import type { QueueStore } from '../store/queueStore';
import { clusterExtraVars } from './clusterOptions';
import { applicationExtraVars } from './applications';
import type { ApplicationStore } from '../store/applicationStore';
import { activeNodes, nativeNodeName, servingWorkers, type ClusterAccess } from './clusterAccess';
import { isThisMachine, mayUseThisMachine, systemProbe, type LocalClusterPolicy, type ThisMachineProbe } from '../net/thisMachine';

export interface ClusterWorkflowDeps {
  db: Db;
  applications: ApplicationStore;
  clusters: ClusterStore;
  jobs: JobStore;
  queue: QueueStore;
  ansible: AnsibleRunner;
  access: ClusterAccess;
  log: Logger;
  /** Longest a playbook may run. */
  playbookTimeoutMs: number;
  /** Gateways that may have hosts on this machine; checked again before every playbook run. */
  localClusterGateways: LocalClusterPolicy;
  thisMachine?: ThisMachineProbe;
  /** On the nodes, the root of every gateway's job directories. */
  jobRoot: string;
  /** Aborted when the service stops: a playbook in progress is canceled and its run resumes later. */
  shutdown?: AbortSignal;
  now?: () => number;
}

export type ClusterAction = 'create' | 'delete' | 'install' | 'scale';

export interface ClusterWorkflowPayload {
  clusterId: string;
  action: ClusterAction;
  /** With action "install". */
  applicationId?: string;
  /** With action "scale": how many of the worker pool serve. */
  workerCount?: number;
}

/** A step failed in a way that ends the cluster FAILED with these reasons (not retried). */
class StepFailed extends Error {
  constructor(readonly failures: ClusterFailure[]) {
    super(failures.map((f) => f.message).join('; '));
  }
}

export class ClusterWorkflow {
  private readonly now: () => number;

  constructor(private readonly deps: ClusterWorkflowDeps) {
    this.now = deps.now ?? Date.now;
  }

  async run(payload: ClusterWorkflowPayload): Promise<void> {
    const cluster = await this.deps.clusters.getById(this.deps.db, payload.clusterId);
    if (!cluster) return; // gone: nothing to do
    if (payload.action === 'delete') await this.delete(cluster);
    else if (payload.action === 'install') await this.install(cluster, payload.applicationId ?? '');
    else if (payload.action === 'scale') await this.scale(cluster, payload.workerCount);
    else await this.create(cluster);
  }

  /** Runs the app role on every node; the application ends INSTALLED or FAILED with the reason. */
  private async install(cluster: Cluster, applicationId: string): Promise<void> {
    const { applications, db } = this.deps;
    const app = await applications.get(db, applicationId);
    if (!app || app.state === 'INSTALLED') return;
    if (cluster.state !== 'READY') {
      await applications.setState(db, applicationId, 'FAILED', `cluster is ${cluster.state}`, this.now());
      return;
    }
    await applications.setState(db, applicationId, 'INSTALLING', null, this.now());
    let result: PlaybookResult;
    try {
      result = await this.playbook(cluster, 'app.yml', `install ${app.spec.name}`, applicationExtraVars(app));
    } catch (error) {
      if (!(error instanceof StepFailed)) throw error;
      await applications.setState(db, applicationId, 'FAILED', error.message.slice(0, 2000), this.now());
      return;
    }
    if (result.status === 'successful') {
      await applications.setState(db, applicationId, 'INSTALLED', `on ${activeNodes(cluster.nodes).length} node(s) under ${app.prefix}`, this.now());
    } else {
      const [first] = this.failuresOf('install', result);
      await applications.setState(db, applicationId, 'FAILED',
        `${first.task ? `task "${first.task}"` : 'install'}${first.host ? ` on ${first.host}` : ''}: ${first.message}`.slice(0, 2000), this.now());
    }
  }

  private async create(cluster: Cluster): Promise<void> {
    const { clusterId } = cluster;
    let state = cluster.state;
    try {
      if (state === 'REQUESTED') state = await this.move(clusterId, 'PROVISIONING', `provisioning ${cluster.provider} resources`);
      if (state === 'PROVISIONING') {
        await this.provision(cluster);
        state = await this.move(clusterId, 'CONFIGURING', 'running the Slurm playbook');
      }
      if (state === 'CONFIGURING') {
        await this.configure(cluster);
        await this.verify(cluster);
        await this.deps.db.transaction(async (tx) => {
          await this.deps.clusters.transition(tx, clusterId, 'READY', 'every host configured and verified', this.now());
          await this.deps.clusters.setOperation(tx, clusterId, null, this.now());
          await this.deps.queue.enqueue(tx, 'cluster_monitor', { clusterId }, { jobKey: `monitor:${clusterId}` });
          await this.deps.queue.enqueue(tx, 'place_waiting', { gatewayId: cluster.gatewayId }, { jobKey: `place:${cluster.gatewayId}` });
        });
      }
    } catch (error) {
      if (error instanceof IllegalTransitionError) {
        // Deleted while being built: the delete run, queued behind this one, takes over.
        const now = await this.deps.clusters.getById(this.deps.db, clusterId);
        if (now && (now.state === 'TEARING_DOWN' || now.state === 'TERMINATED')) return;
      }
      if (!(error instanceof StepFailed)) throw error; // transient: the queue retries the run
      await this.fail(clusterId, error.failures);
    }
  }

  /**
   * Sets the serving workers to the first workerCount of the pool. Leaving workers are drained
   * (their jobs end first), dropped from slurm.conf and their slurmd stopped; joining workers are
   * configured with the whole new inventory, get every installed application, and are verified.
   */
  private async scale(cluster: Cluster, workerCount: number | undefined): Promise<void> {
    const { clusterId } = cluster;
    if (cluster.state !== 'SCALING') return; // deleted meanwhile, or a run already finished it
    const { db, clusters } = this.deps;
    const target = workerCount ?? (await clusters.targetWorkers(db, clusterId));
    try {
      if (target === undefined) throw new StepFailed([this.failure('scale', 'no worker count recorded for this scale')]);
      const serving = new Set(servingWorkers(cluster.nodes, target).map((n) => n.nodeId));
      const workers = cluster.nodes.filter((n) => n.roles.includes('worker'));
      const leaving = workers.filter((n) => !serving.has(n.nodeId) && n.state !== 'RELEASED');
      const joining = workers.filter((n) => serving.has(n.nodeId) && n.state !== 'CONFIGURED');
      await this.event(clusterId, {
        kind: 'step', time: this.now(),
        message: `scale to ${target} worker(s): ${leaving.length > 0 ? `leaving ${leaving.map((n) => n.address).join(', ')}` : 'none leaving'}; ${joining.length > 0 ? `joining ${joining.map((n) => n.address).join(', ')}` : 'none joining'}`,
      });
      let current = cluster;
      if (leaving.length > 0) {
        const names = leaving.map((n) => nativeNodeName(n));
        // Drain while they are still in slurm.conf: the play waits for their jobs to end.
        const drained = await this.playbook(current, 'slurm.yml', 'scale: drain', { slurm_drain_nodes: names });
        if (drained.status !== 'successful') throw new StepFailed(this.failuresOf('scale', drained));
        await clusters.setNodeStates(db, clusterId, 'RELEASING', this.now(), leaving.map((n) => n.nodeId));
        const withoutThem = { ...current, nodes: current.nodes.map((n) => (leaving.includes(n) ? { ...n, state: 'RELEASED' as const } : n)) };
        const reconfigured = await this.playbook(withoutThem, 'slurm.yml', 'scale: reconfigure');
        if (reconfigured.status !== 'successful') throw new StepFailed(this.failuresOf('scale', reconfigured));
        // Only the leaving hosts: their slurmd stops; what other hosts still use stays.
        const addresses = new Set(leaving.map((n) => n.address));
        const teardown = await this.playbook(current, 'slurm_teardown.yml', 'scale: release', {}, {
          hosts: inventoryOf(current).hosts.filter((h) => addresses.has(h.name)),
          groups: { slurm_controller: [], slurm_workers: [...addresses] },
        });
        if (teardown.status !== 'successful') throw new StepFailed(this.failuresOf('scale', teardown));
        await clusters.setNodeStates(db, clusterId, 'RELEASED', this.now(), leaving.map((n) => n.nodeId));
        current = withoutThem;
      }
      if (joining.length > 0) {
        const ids = joining.map((n) => n.nodeId);
        await clusters.setNodeStates(db, clusterId, 'RUNNING', this.now(), ids);
        current = (await clusters.getById(db, clusterId)) ?? current;
        const configured = await this.playbook(current, 'slurm.yml', 'scale: configure');
        if (configured.status !== 'successful') throw new StepFailed(this.failuresOf('scale', configured));
        await clusters.setNodeStates(db, clusterId, 'CONFIGURED', this.now(), ids);
        for (const app of current.applications ?? []) {
          if (app.state !== 'INSTALLED') continue;
          const installed = await this.playbook(current, 'app.yml', `scale: install ${app.spec.name}`, applicationExtraVars(app));
          if (installed.status !== 'successful') throw new StepFailed(this.failuresOf('scale', installed));
        }
      }
      current = (await clusters.getById(db, clusterId)) ?? current;
      await this.verify(current);
      await db.transaction(async (tx) => {
        await clusters.transition(tx, clusterId, 'READY', `${target} worker(s) serving, verified`, this.now());
        await clusters.setOperation(tx, clusterId, null, this.now());
        await clusters.setTargetWorkers(tx, clusterId, null, this.now());
        await this.deps.queue.enqueue(tx, 'place_waiting', { gatewayId: cluster.gatewayId }, { jobKey: `place:${cluster.gatewayId}` });
      });
    } catch (error) {
      if (error instanceof IllegalTransitionError) {
        const now = await clusters.getById(db, clusterId);
        if (now && (now.state === 'TEARING_DOWN' || now.state === 'TERMINATED')) return;
      }
      if (!(error instanceof StepFailed)) throw error; // transient: the queue retries the run
      await this.fail(clusterId, error.failures);
    }
  }

  /** STATIC: the hosts exist already; a cloud provider would buy and tag them here. */
  private async provision(cluster: Cluster): Promise<void> {
    if (cluster.provider !== 'STATIC') {
      throw new StepFailed([this.failure('provision', `${cluster.provider} provisioning is not available in this version`)]);
    }
    const now = this.now();
    const active = activeNodes(cluster.nodes);
    await this.deps.clusters.setNodeStates(this.deps.db, cluster.clusterId, 'RUNNING', now, active.map((n) => n.nodeId));
    await this.event(cluster.clusterId, {
      kind: 'provider', time: now, message: `STATIC: ${active.length} existing host(s): ${active.map((n) => n.address).join(', ')}`,
    });
  }

  private async configure(cluster: Cluster): Promise<void> {
    const result = await this.playbook(cluster, 'slurm.yml', 'configure');
    if (result.status !== 'successful') throw new StepFailed(this.failuresOf('configure', result));
    await this.deps.clusters.setNodeStates(this.deps.db, cluster.clusterId, 'CONFIGURED', this.now(), activeNodes(cluster.nodes).map((n) => n.nodeId));
  }

  /** READY needs proof: every node idle in the scheduler and a one-task job run on each. */
  private async verify(cluster: Cluster): Promise<void> {
    const probe = await this.deps.access.verify(cluster);
    if (probe.failures.length > 0) {
      throw new StepFailed(probe.failures.map((f) => this.failure('verify', f.message, f.host)));
    }
    const now = this.now();
    const active = activeNodes(cluster.nodes);
    for (const node of active) {
      const capacity = probe.capacity.get(node.nodeId);
      if (capacity) await this.deps.clusters.setNodeCapacity(this.deps.db, node.nodeId, capacity, now);
    }
    await this.event(cluster.clusterId, {
      kind: 'verify', time: now, message: `all ${active.length} node(s) idle; a test job ran on each`,
    });
  }

  private async delete(cluster: Cluster): Promise<void> {
    const { clusterId } = cluster;
    if (cluster.state === 'TERMINATED') return;
    if (cluster.state !== 'TEARING_DOWN') {
      await this.move(clusterId, 'TEARING_DOWN', 'delete requested');
    }
    await this.endJobsOf(cluster);
    // A cluster that never reached CONFIGURING installed nothing; otherwise undo what the playbook did.
    const configured = cluster.nodes.some((n) => n.state !== 'REQUESTED' && n.state !== 'RUNNING')
      || await this.deps.clusters.hasEvent(this.deps.db, clusterId, 'task');
    if (configured) {
      await this.deps.clusters.setNodeStates(this.deps.db, clusterId, 'RELEASING', this.now(), activeNodes(cluster.nodes).map((n) => n.nodeId));
      let result: PlaybookResult;
      try {
        result = await this.playbook(cluster, 'slurm_teardown.yml', 'teardown');
      } catch (error) {
        if (!(error instanceof StepFailed)) throw error;
        await this.fail(clusterId, error.failures);
        return;
      }
      if (result.status !== 'successful') {
        await this.fail(clusterId, this.failuresOf('teardown', result));
        return;
      }
    }
    await this.deps.db.transaction(async (tx) => {
      await this.deps.clusters.setNodeStates(tx, clusterId, 'RELEASED', this.now());
      await this.deps.clusters.transition(tx, clusterId, 'TERMINATED', configured ? 'daemons stopped and our files removed' : 'nothing had been installed', this.now());
      await this.deps.clusters.setOperation(tx, clusterId, null, this.now());
    });
  }

  /** Jobs cannot outlive their cluster: cancel what runs there and say so in each history. */
  private async endJobsOf(cluster: Cluster): Promise<void> {
    const live = await this.deps.jobs.liveOnCluster(this.deps.db, cluster.clusterId);
    const scheduler = live.length > 0 ? this.deps.access.scheduler(cluster) : undefined;
    for (const job of live) {
      if (job.nativeJobId) await scheduler?.cancel(job.nativeJobId).catch(() => undefined);
    }
    const pending = await this.deps.jobs.undispatched(this.deps.db, cluster.clusterId);
    const now = this.now();
    for (const jobId of [...live.map((j) => j.jobId), ...pending]) {
      await this.deps.db.transaction(async (tx) => {
        const locked = await this.deps.jobs.lockWork(tx, jobId);
        if (!locked || ['COMPLETE', 'FAILED', 'CANCELED'].includes(locked.state)) return;
        await this.deps.jobs.append(tx, jobId, [{ state: 'CANCELED', time: now, reason: `cluster ${cluster.name} was deleted` }], now);
      });
    }
  }

  private async playbook(
    cluster: Cluster, playbook: string, step: string, moreVars: Record<string, unknown> = {},
    inventory: AnsibleInventory = inventoryOf(cluster),
  ): Promise<PlaybookResult> {
    // Tearing down what was built stays possible after the operator withdrew the permission.
    if (playbook !== 'slurm_teardown.yml') await this.refuseThisMachine(cluster, inventory);
    const started = this.now();
    await this.event(cluster.clusterId, { kind: 'step', time: started, message: `${step}: ${playbook} started` });
    const result = await this.deps.ansible.run({
      playbook,
      inventory,
      extraVars: { ...clusterExtraVars(cluster, this.deps.jobRoot), ...moreVars },
      sshPrivateKey: await this.deps.access.sshPrivateKey(cluster),
      timeoutMs: this.deps.playbookTimeoutMs,
      signal: this.deps.shutdown,
      onEvent: (event) => this.onAnsibleEvent(cluster.clusterId, event),
    }).catch((error: unknown) => {
      // The bridge refused the run itself (an inventory value it will not pass): no retry can
      // change that, so the step fails with the reason instead of being retried for days.
      if (error instanceof InvalidRequestError) throw new StepFailed([this.failure(step, `${playbook}: ${error.message}`)]);
      throw error;
    });
    if (result.status === 'canceled') {
      // Not the cluster's fault: the queue runs this step again after the service is back.
      throw new Error(`${step}: ${playbook} interrupted by the service stopping`);
    }
    await this.event(cluster.clusterId, {
      kind: 'step', time: this.now(),
      message: `${step}: ${playbook} ${result.status} in ${Math.round(result.durationMs / 1000)} s, ${result.changed} changed`,
    });
    return result;
  }

  /**
   * The request-time check again, at the moment it matters: a name may resolve to this machine now
   * that did not when the cluster was created, and the operator may have withdrawn the permission.
   */
  private async refuseThisMachine(cluster: Cluster, inventory: AnsibleInventory): Promise<void> {
    if (mayUseThisMachine(this.deps.localClusterGateways, cluster.gatewayId)) return;
    for (const host of inventory.hosts) {
      if (host.connection === 'local' || await isThisMachine(host.address ?? host.name, this.deps.thisMachine ?? systemProbe)) {
        throw new StepFailed([this.failure('authorize', `${host.name} is the service's own machine, which gateway ${cluster.gatewayId} may not use as a cluster host (LOCAL_CLUSTER_GATEWAYS)`, host.name)]);
      }
    }
  }

  private async onAnsibleEvent(clusterId: string, event: AnsibleEvent): Promise<void> {
    // One event per task per host with its result; task starts show progress too.
    if (event.kind === 'play_start' || event.kind === 'stats') return;
    await this.event(clusterId, {
      kind: event.kind === 'task_start' ? 'task_start' : 'task',
      time: event.time,
      host: event.host,
      task: event.task,
      message: event.kind === 'task_start' ? 'started' : `${event.kind.replace('task_', '').replace('host_', '')}: ${event.message}`,
    });
  }

  private failuresOf(step: string, result: PlaybookResult): ClusterFailure[] {
    if (result.failures.length === 0) {
      return [this.failure(step, `playbook ${result.status} (rc ${result.rc}) without a failed task`)];
    }
    return result.failures.map((f) => ({
      step, host: f.host, task: f.task, time: this.now(),
      message: f.unreachable ? `host unreachable: ${f.message}` : f.message,
    }));
  }

  private failure(step: string, message: string, host?: string): ClusterFailure {
    return { step, message, time: this.now(), ...(host ? { host } : {}) };
  }

  private async fail(clusterId: string, failures: ClusterFailure[]): Promise<void> {
    const first = failures[0];
    const reason = `${first.step} failed${first.task ? ` at task "${first.task}"` : ''}${first.host ? ` on ${first.host}` : ''}: ${first.message}`;
    await this.deps.db.transaction(async (tx) => {
      for (const failure of failures) await this.deps.clusters.addFailure(tx, clusterId, failure);
      await this.deps.clusters.transition(tx, clusterId, 'FAILED', reason.slice(0, 2000), this.now());
      await this.deps.clusters.setOperation(tx, clusterId, null, this.now());
    });
    this.deps.log.warn({ clusterId, reason }, 'cluster failed');
  }

  private async move(clusterId: string, to: ClusterState, reason: string): Promise<ClusterState> {
    await this.deps.db.transaction((tx) => this.deps.clusters.transition(tx, clusterId, to, reason, this.now()));
    return to;
  }

  private async event(clusterId: string, event: Parameters<ClusterStore['appendEvent']>[2]): Promise<void> {
    await this.deps.clusters.appendEvent(this.deps.db, clusterId, event);
  }
}

/**
 * The Slurm controller is the first node with the controller role (always in the inventory);
 * every active (not RELEASED) node with "worker" runs jobs. Hosts reached over ssh are Slurm nodes
 * named by nativeNodeName at their own address; the controller's address for the other hosts is
 * the clusterOptions slurm_controller_addr when given.
 */
export function inventoryOf(cluster: Cluster): AnsibleInventory {
  const controller = cluster.nodes.find((n) => n.roles.includes('controller')) ?? cluster.nodes[0];
  const controllerAddr = cluster.spec.clusterOptions?.slurm_controller_addr;
  const members = cluster.nodes.filter((n) => n === controller || n.state !== 'RELEASED');
  const hosts: AnsibleHost[] = members.map((node) => {
    const spec = cluster.spec.hosts?.find((h) => h.address === node.address);
    const local = node.address === 'localhost';
    const vars: Record<string, string> = { slurm_node_name: nativeNodeName(node) };
    if (!local) vars.slurm_node_addr = node.address;
    if (node === controller && controllerAddr) vars.slurm_node_addr = controllerAddr;
    return {
      name: node.address,
      connection: local ? 'local' : 'ssh',
      ...(local ? {} : { address: node.address, sshUser: spec?.sshUser ?? 'root', sshPort: spec?.sshPort ?? 22 }),
      vars,
    };
  });
  return {
    hosts,
    groups: {
      slurm_controller: controller ? [controller.address] : [],
      slurm_workers: members.filter((n) => n.roles.includes('worker') && n.state !== 'RELEASED').map((n) => n.address),
    },
  };
}
