// Building, scaling and tearing down clusters: a sequence of idempotent steps whose progress is the
// cluster's state in Postgres. A run that is interrupted (the service killed mid-create) is
// re-queued and continues from the state it finds: REQUESTED -> PROVISIONING -> CONFIGURING ->
// READY. The workflow only sequences: where nodes come from is the cluster's provider, what runs on
// them is its kind, both looked up in their registries.
import type { AnsibleEvent, AnsibleInventory, AnsibleRunner, PlaybookResult } from '../ansible/runner';
import { InvalidRequestError } from '../domain/errors';
import { gatewayAccount } from '../domain/gatewayAccount';
import { IllegalTransitionError } from '../domain/stateMachines';
import type { Cluster, ClusterFailure, ClusterNode, ClusterState } from '../domain/types';
import { activeNodes, servingWorkers } from '../domain/workerPool';
import type { ClusterKindDriver, KindPlaybooks } from '../kinds/kind';
import type { KindRegistry } from '../kinds/registry';
import type { Logger } from '../log';
import { isThisMachine, mayUseThisMachine, systemProbe, type LocalClusterPolicy, type ThisMachineProbe } from '../net/thisMachine';
import { SshCommandError } from '../exec/sshErrors';
import { ProviderError } from '../providers/provider';
import type { ProviderRegistry } from '../providers/registry';
import type { ApplicationStore } from '../store/applicationStore';
import type { ClusterStore } from '../store/clusterStore';
import type { Db } from '../store/db';
import type { JobStore } from '../store/jobStore';
import type { QueueStore } from '../store/queueStore';
import { workflowQueue } from '../services/clusterService';
import { applicationExtraVars } from './applications';
import { driverFor, type ClusterAccess } from './clusterAccess';

export interface ClusterWorkflowDeps {
  db: Db;
  applications: ApplicationStore;
  clusters: ClusterStore;
  jobs: JobStore;
  queue: QueueStore;
  ansible: AnsibleRunner;
  access: ClusterAccess;
  kinds: KindRegistry;
  providers: ProviderRegistry;
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
  /** Each cloud cluster's own SSH key pair (providers that buy nodes give them its public half). */
  clusterKeys?: { publicKey(clusterId: string): Promise<string>; forget(clusterId: string): Promise<void> };
  /** Longest a bought node may take to answer SSH (default 10 min). */
  reachTimeoutMs?: number;
  now?: () => number;
}

/** "rollback": a create failed; give back what it bought. "repair": replace nodes found lost. */
export type ClusterAction = 'create' | 'delete' | 'install' | 'scale' | 'rollback' | 'repair';

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
    else if (payload.action === 'rollback') await this.rollback(cluster);
    else if (payload.action === 'repair') await this.repair(cluster);
    else await this.create(cluster);
  }

  /**
   * The run failed on its last attempt: the cluster (or the application being installed) ends
   * FAILED with the reason instead of staying where nothing will move it.
   */
  async giveUp(payload: ClusterWorkflowPayload, error: unknown): Promise<void> {
    const reason = `given up after repeated failures: ${errorText(error)}`;
    if (payload.action === 'install') {
      const app = await this.deps.applications.get(this.deps.db, payload.applicationId ?? '');
      if (app && app.state !== 'INSTALLED') await this.deps.applications.setState(this.deps.db, app.applicationId, 'FAILED', reason, this.now());
      return;
    }
    const cluster = await this.deps.clusters.getById(this.deps.db, payload.clusterId);
    if (!cluster || cluster.state === 'TERMINATED' || cluster.state === 'FAILED') return;
    await this.fail(cluster, [this.failure(payload.action, reason)], payload.action === 'create');
  }

  /** Runs the kind's application playbook; the application ends INSTALLED or FAILED with the reason. */
  private async install(cluster: Cluster, applicationId: string): Promise<void> {
    const { applications, db } = this.deps;
    const app = await applications.get(db, applicationId);
    if (!app || app.state === 'INSTALLED') return;
    if (cluster.state !== 'READY') {
      await applications.setState(db, applicationId, 'FAILED', `cluster is ${cluster.state}`, this.now());
      return;
    }
    await applications.setState(db, applicationId, 'INSTALLING', null, this.now());
    try {
      await this.playbook(cluster, 'application', `install ${app.spec.name}`, applicationExtraVars(app));
    } catch (error) {
      if (!(error instanceof StepFailed)) throw error;
      const [first] = error.failures;
      await applications.setState(db, applicationId, 'FAILED',
        `${first.task ? `task "${first.task}"` : first.step}${first.host ? ` on ${first.host}` : ''}: ${first.message}`.slice(0, 2000), this.now());
      return;
    }
    await applications.setState(db, applicationId, 'INSTALLED', `on ${activeNodes(cluster.nodes).length} node(s) under ${app.prefix}`, this.now());
  }

  private async create(cluster: Cluster): Promise<void> {
    const { clusterId } = cluster;
    let state = cluster.state;
    await this.failingSteps(cluster, async () => {
      if (state === 'REQUESTED') state = await this.move(clusterId, 'PROVISIONING', `provisioning ${cluster.provider} resources`);
      let current = cluster;
      if (state === 'PROVISIONING') {
        current = await this.provision(cluster, activeNodes(cluster.nodes));
        state = await this.move(clusterId, 'CONFIGURING', `configuring the ${cluster.kind} cluster`);
      }
      if (state === 'CONFIGURING') {
        // A site that runs its own scheduler is used as it is: proven, never configured.
        const siteRun = this.siteRun(current);
        if (!siteRun) await this.playbook(current, 'configure', 'configure');
        await this.deps.clusters.setNodeStates(this.deps.db, clusterId, 'CONFIGURED', this.now(), activeNodes(current.nodes).map((n) => n.nodeId));
        await this.verify(current);
        await this.deps.db.transaction(async (tx) => {
          await this.deps.clusters.transition(tx, clusterId, 'READY',
            siteRun ? "the site's scheduler proven over SSH (sinfo, sbatch --test-only per partition)" : 'every host configured and verified', this.now());
          await this.deps.clusters.setOperation(tx, clusterId, null, this.now());
          await this.deps.queue.enqueue(tx, 'cluster_monitor', { clusterId }, { jobKey: `monitor:${clusterId}` });
          await this.deps.queue.enqueue(tx, 'place_waiting', { gatewayId: cluster.gatewayId }, { jobKey: `place:${cluster.gatewayId}` });
        });
      }
    }, { rollback: true });
  }

  /**
   * Sets the serving workers to the first workerCount of the pool. Leaving workers are drained
   * (their jobs end first), dropped from the cluster's configuration, torn down and released;
   * joining workers are acquired, configured with the whole new inventory, get every installed
   * application, and are verified.
   */
  private async scale(cluster: Cluster, workerCount: number | undefined): Promise<void> {
    const { clusterId } = cluster;
    if (cluster.state !== 'SCALING') return; // deleted meanwhile, or a run already finished it
    const { db, clusters } = this.deps;
    const target = workerCount ?? (await clusters.targetWorkers(db, clusterId));
    await this.failingSteps(cluster, async () => {
      if (target === undefined) throw new StepFailed([this.failure('scale', 'no worker count recorded for this scale')]);
      const { leaving, joining } = scalePlan(cluster.nodes, target);
      await this.event(clusterId, { kind: 'step', time: this.now(), message: describeScale(target, leaving, joining) });
      let current = cluster;
      if (leaving.length > 0) current = await this.release(current, leaving);
      if (joining.length > 0) {
        current = await this.provision(current, joining);
        await this.playbook(current, 'configure', 'scale: configure');
        const ids = joining.map((n) => n.nodeId);
        await clusters.setNodeStates(db, clusterId, 'CONFIGURED', this.now(), ids);
        for (const app of current.applications ?? []) {
          if (app.state === 'INSTALLED') await this.playbook(current, 'application', `scale: install ${app.spec.name}`, applicationExtraVars(app));
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
    });
  }

  /**
   * Drains the leaving workers and reconfigures the rest without them, in one configure run (the
   * kind drains them before it applies the configuration that drops them: see KindPlaybooks),
   * tears them down, gives them back. A bought node is not torn down (its machine goes with it),
   * and one whose machine is gone already (a run that died after giving it back) is only marked
   * RELEASED.
   */
  private async release(cluster: Cluster, leavingNodes: readonly ClusterNode[]): Promise<Cluster> {
    const { db, clusters } = this.deps;
    const kind = this.kindOf(cluster);
    const buys = this.deps.providers.get(cluster.provider).buysNodes;
    const current = buys ? await this.forgetGone(cluster, leavingNodes) : cluster;
    const leaving = leavingNodes.filter((n) => current.nodes.some((c) => c.nodeId === n.nodeId && c.state !== 'RELEASED'));
    const ids = new Set(leaving.map((n) => n.nodeId));
    const without = { ...current, nodes: current.nodes.map((n) => (ids.has(n.nodeId) ? { ...n, state: 'RELEASED' as const } : n)) };
    if (leaving.length === 0) return without;
    // RELEASING from here on: no longer a node the cluster counts on (the node health watch reads
    // only CONFIGURED ones), though its jobs still run until the drain below has waited for them.
    await clusters.setNodeStates(db, cluster.clusterId, 'RELEASING', this.now(), leaving.map((n) => n.nodeId));
    // One run, not a drain run and then a reconfigure run: each is a whole configure playbook on
    // every host, and a rerun after a crash finds the leaving nodes drained or already dropped.
    await this.playbook(without, 'configure', 'scale: drain and reconfigure', kind.drainVars(leaving));
    if (!buys) await this.playbook(current, 'teardown', 'scale: release', {}, kind.leavingInventory(current, leaving));
    await this.giveBack(current, leaving);
    await clusters.setNodeStates(db, cluster.clusterId, 'RELEASED', this.now(), leaving.map((n) => n.nodeId));
    return without;
  }

  /**
   * Of these bought nodes, those whose machine the provider says is gone are marked RELEASED (no
   * playbook can reach them, nothing is left to give back); returns the cluster as it is then.
   */
  private async forgetGone(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<Cluster> {
    const provider = this.deps.providers.get(cluster.provider);
    const states = new Map((await this.providerStep('release', () => provider.describe(cluster))).map((d) => [d.nodeId, d.state]));
    const gone = nodes.filter((n) => n.state !== 'RELEASED' && (states.get(n.nodeId) ?? 'gone') === 'gone');
    if (gone.length === 0) return cluster;
    await this.giveBack(cluster, gone); // idempotent: its proof says what was found
    await this.deps.clusters.setNodeStates(this.deps.db, cluster.clusterId, 'RELEASED', this.now(), gone.map((n) => n.nodeId));
    return (await this.deps.clusters.getById(this.deps.db, cluster.clusterId)) ?? cluster;
  }

  /**
   * The provider makes the nodes exist (STATIC: they do already) and says where they are. Bought
   * nodes are PENDING while bought, RUNNING once the provider has them, and REACHABLE once SSH
   * answers on each.
   */
  private async provision(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<Cluster> {
    const { db, clusters } = this.deps;
    const provider = this.deps.providers.get(cluster.provider);
    const ids = nodes.map((n) => n.nodeId);
    if (provider.buysNodes) await clusters.setNodeStates(db, cluster.clusterId, 'PENDING', this.now(), ids);
    const context = {
      sshPublicKey: provider.buysNodes ? await this.clusterPublicKey(cluster) : '',
      note: this.providerNote(cluster),
      signal: this.deps.shutdown,
    };
    const acquired = await this.providerStep('provision', () => provider.acquire(cluster, nodes, context));
    const now = this.now();
    for (const node of acquired) await clusters.setNodeAddress(db, node.nodeId, node.address, node.providerResourceId, now);
    await clusters.setNodeStates(db, cluster.clusterId, 'RUNNING', now, ids);
    await this.event(cluster.clusterId, {
      kind: 'provider', time: now, message: `${cluster.provider}: ${acquired.length} node(s): ${acquired.map((n) => n.address).join(', ')}`,
    });
    const current = (await clusters.getById(db, cluster.clusterId)) ?? cluster;
    if (provider.buysNodes) await this.reach(current, current.nodes.filter((n) => ids.includes(n.nodeId)));
    return current;
  }

  /** Waits until SSH answers on each new node (a booted VM starts sshd a while after "running"). */
  private async reach(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<void> {
    const deadline = this.now() + (this.deps.reachTimeoutMs ?? 10 * 60_000);
    await Promise.all(nodes.map(async (node) => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          await this.deps.access.knownHosts?.(cluster, [node]);
          break;
        } catch (error) {
          if (this.deps.shutdown?.aborted) throw error;
          if (this.now() >= deadline) {
            throw new StepFailed([this.failure('reach', `SSH did not answer within ${Math.round((this.deps.reachTimeoutMs ?? 600_000) / 1000)} s: ${errorText(error)}`, node.address)]);
          }
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
        }
      }
      await this.deps.clusters.setNodeStates(this.deps.db, cluster.clusterId, 'REACHABLE', this.now(), [node.nodeId]);
    }));
    await this.event(cluster.clusterId, { kind: 'provider', time: this.now(), message: `SSH answers on ${nodes.length} node(s)` });
  }

  /** What a provider says while it works (a fallback, a stack event) goes into the cluster's events. */
  private providerNote(cluster: Cluster): (message: string) => Promise<void> {
    return (message) => this.event(cluster.clusterId, { kind: 'provider', time: this.now(), message: `${cluster.provider}: ${message}` });
  }

  private async clusterPublicKey(cluster: Cluster): Promise<string> {
    if (!this.deps.clusterKeys) throw new Error(`no cluster key pairs configured for ${cluster.provider} clusters`);
    return this.deps.clusterKeys.publicKey(cluster.clusterId);
  }

  /**
   * The provider gives the nodes back; its proof for each goes into the cluster's events. Bought
   * nodes' host key pins go with them: their addresses will be another machine's.
   */
  private async giveBack(cluster: Cluster, nodes: readonly ClusterNode[]): Promise<void> {
    const provider = this.deps.providers.get(cluster.provider);
    const note = this.providerNote(cluster);
    const proofs = await this.providerStep('release', () => provider.release(cluster, nodes, { note, signal: this.deps.shutdown }));
    for (const proof of proofs) await this.event(cluster.clusterId, { kind: 'provider', time: this.now(), message: `released: ${proof.proof}` });
    if (provider.buysNodes) await this.deps.access.forgetHostKeys?.(cluster, nodes);
  }

  /** Every node given back, then what the cluster held beside them (key pair, stack), then its key. */
  private async giveBackAll(cluster: Cluster): Promise<void> {
    await this.giveBack(cluster, cluster.nodes);
    const provider = this.deps.providers.get(cluster.provider);
    if (!provider.releaseCluster) return;
    const note = this.providerNote(cluster);
    const proofs = await this.providerStep('release', () => provider.releaseCluster?.(cluster, { note, signal: this.deps.shutdown }) ?? Promise.resolve([]));
    for (const proof of proofs) await this.event(cluster.clusterId, { kind: 'provider', time: this.now(), message: `released: ${proof}` });
  }

  /**
   * A create failed: everything it bought goes back (unless keepOnFailure=true, where the fail
   * reason already says it was kept). The cluster stays FAILED; its reason says what was released.
   */
  private async rollback(cluster: Cluster): Promise<void> {
    // Deleted meanwhile (the delete releases everything), or rolled back already (a rerun).
    if (cluster.state !== 'FAILED' || cluster.operation !== 'rollback') return;
    const { db, clusters } = this.deps;
    await clusters.setNodeStates(db, cluster.clusterId, 'RELEASING', this.now(), activeNodes(cluster.nodes).map((n) => n.nodeId));
    await this.giveBackAll(cluster);
    await db.transaction(async (tx) => {
      await clusters.setNodeStates(tx, cluster.clusterId, 'RELEASED', this.now());
      await clusters.appendEvent(tx, cluster.clusterId, { kind: 'rollback', time: this.now(), message: 'the failed create was rolled back: everything it bought is released' });
      const failed = (cluster.stateReason ?? 'create failed').replace(/; rolling back$/, '');
      await clusters.setStateReason(tx, cluster.clusterId, `${failed}; rolled back: everything it bought is released`.slice(0, 2000), this.now());
      await clusters.setOperation(tx, cluster.clusterId, null, this.now());
    });
    await this.deps.clusterKeys?.forget(cluster.clusterId);
  }

  /**
   * Some bought nodes were lost (a spot interruption, a terminated instance): each lost node is
   * given back, bought again, reached, and configured with the whole inventory; the cluster goes
   * from DEGRADED back to READY.
   */
  private async repair(cluster: Cluster): Promise<void> {
    // Only what the sweep marked for repair: a cluster the node health watch made DEGRADED (a node
    // not answering Slurm, still CONFIGURED, no operation) is the watch's to return to READY, never
    // rebuilt or given back here (see nodeHealth.ts).
    if (cluster.state !== 'DEGRADED' || cluster.operation !== 'repair') return;
    const { db, clusters } = this.deps;
    // The lost nodes, and any a run that died part way through had begun to replace.
    const lost = activeNodes(cluster.nodes).filter((n) => n.state !== 'CONFIGURED');
    await this.failingSteps(cluster, async () => {
      if (lost.length > 0) {
        await this.event(cluster.clusterId, { kind: 'step', time: this.now(), message: `repair: replacing ${lost.length} lost node(s): ${lost.map((n) => n.address).join(', ')}` });
        await this.giveBack(cluster, lost.filter((n) => n.state === 'FAILED'));
        let current = await this.provision(cluster, lost);
        await this.playbook(current, 'configure', 'repair: configure');
        await clusters.setNodeStates(db, cluster.clusterId, 'CONFIGURED', this.now(), lost.map((n) => n.nodeId));
        // A replaced node is a new machine: what the health watch said of the old one goes.
        await clusters.setNodeLost(db, cluster.clusterId, lost.map((n) => n.nodeId), null, this.now());
        for (const app of current.applications ?? []) {
          if (app.state === 'INSTALLED') await this.playbook(current, 'application', `repair: install ${app.spec.name}`, applicationExtraVars(app));
        }
        current = (await clusters.getById(db, cluster.clusterId)) ?? current;
        await this.verify(current);
      }
      await db.transaction(async (tx) => {
        await clusters.transition(tx, cluster.clusterId, 'READY', `${lost.length} lost node(s) replaced, verified`, this.now());
        await clusters.setOperation(tx, cluster.clusterId, null, this.now());
        await this.deps.queue.enqueue(tx, 'place_waiting', { gatewayId: cluster.gatewayId }, { jobKey: `place:${cluster.gatewayId}` });
      });
    });
  }

  /** READY needs proof: the kind's check on the controller (Slurm: every node idle, a test job on each). */
  private async verify(cluster: Cluster): Promise<void> {
    const probe = await this.deps.access.verify(cluster).catch((error: unknown) => {
      // A refused key or a changed host key needs someone to look: no retry can change it.
      if (error instanceof SshCommandError && !error.transient) throw new StepFailed([this.failure('verify', error.message)]);
      throw error;
    });
    if (probe.failures.length > 0) {
      throw new StepFailed(probe.failures.map((f) => this.failure('verify', f.message, f.host)));
    }
    const now = this.now();
    const active = activeNodes(cluster.nodes);
    for (const node of active) {
      const capacity = probe.capacity.get(node.nodeId);
      if (capacity) await this.deps.clusters.setNodeCapacity(this.deps.db, node.nodeId, capacity, now);
    }
    if (probe.site) {
      await this.deps.clusters.setSite(this.deps.db, cluster.clusterId, probe.site, now);
      const partitions = probe.site.partitions.map((p) => `${p.name} (${p.nodes} nodes x ${p.cpusPerNode} cpus, ${p.memoryMbPerNode} MB, `
        + `MaxTime ${p.maxTimeMinutes === undefined ? 'unlimited' : `${p.maxTimeMinutes} min`})`);
      await this.event(cluster.clusterId, {
        kind: 'verify', time: now,
        message: `partitions proven: ${partitions.join('; ')}; final states from ${probe.site.accounting ? 'sacct' : 'our exit-status files (no accounting)'}`,
      });
      return;
    }
    await this.event(cluster.clusterId, { kind: 'verify', time: now, message: `all ${active.length} node(s) proven to take work` });
  }

  private async delete(cluster: Cluster): Promise<void> {
    const { clusterId } = cluster;
    if (cluster.state === 'TERMINATED') return;
    if (cluster.state !== 'TEARING_DOWN') await this.move(clusterId, 'TEARING_DOWN', 'delete requested');
    await this.endJobsOf(cluster);
    // A cluster that never reached CONFIGURING installed nothing; otherwise undo what the playbook
    // did (on the nodes still there: a failed create may have given them back already).
    const unconfigured: readonly string[] = ['REQUESTED', 'PENDING', 'RUNNING', 'REACHABLE', 'RELEASED', 'FAILED'];
    const configured = cluster.nodes.some((n) => !unconfigured.includes(n.state))
      || (cluster.nodes.some((n) => n.state !== 'RELEASED') && await this.deps.clusters.hasEvent(this.deps.db, clusterId, 'task'));
    // Bought nodes are not torn down: their machines go with them (and may be gone already when a
    // delete that died after giving them back runs again).
    const buys = this.deps.providers.get(cluster.provider).buysNodes;
    const siteRun = this.siteRun(cluster);
    const ended = await this.failingSteps(cluster, async () => {
      await this.deps.clusters.setNodeStates(this.deps.db, clusterId, 'RELEASING', this.now(), activeNodes(cluster.nodes).map((n) => n.nodeId));
      if (configured && !buys && !siteRun) await this.playbook(cluster, 'teardown', 'teardown');
      await this.giveBackAll(cluster);
    });
    if (!ended) return;
    await this.deps.clusterKeys?.forget(clusterId);
    await this.deps.db.transaction(async (tx) => {
      await this.deps.clusters.setNodeStates(tx, clusterId, 'RELEASED', this.now());
      const reason = buys ? 'every machine bought for it released'
        : siteRun ? 'unregistered: our jobs there cancelled, nothing else at the site touched'
          : configured ? 'daemons stopped, our files removed, nodes released' : 'nothing had been installed';
      await this.deps.clusters.transition(tx, clusterId, 'TERMINATED', reason, this.now());
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

  /**
   * Runs steps; a step that failed for good ends the cluster FAILED (true: the steps all ran). A
   * cluster deleted meanwhile is left to the delete run queued behind this one; anything else is
   * transient and rethrown, so the queue runs the whole sequence again from the state it finds.
   */
  private async failingSteps(cluster: Cluster, steps: () => Promise<void>, options: { rollback?: boolean } = {}): Promise<boolean> {
    const { clusterId } = cluster;
    try {
      await steps();
      return true;
    } catch (error) {
      if (error instanceof IllegalTransitionError) {
        const now = await this.deps.clusters.getById(this.deps.db, clusterId);
        if (now && (now.state === 'TEARING_DOWN' || now.state === 'TERMINATED')) return false;
      }
      if (!(error instanceof StepFailed)) throw error;
      await this.fail(cluster, error.failures, options.rollback ?? false);
      return false;
    }
  }

  /** A provider call: a permanent failure (quota, auth, bad request) fails the step; the rest retry. */
  private async providerStep<T>(step: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ProviderError && !error.retryable) {
        throw new StepFailed([this.failure(step, `${error.category}${error.code ? ` (${error.code})` : ''}: ${error.message}`)]);
      }
      throw error;
    }
  }

  private kindOf(cluster: Cluster): ClusterKindDriver {
    return driverFor(this.deps.kinds, this.deps.providers, cluster);
  }

  /** The cluster is a site running its own scheduler (an HPC system): no playbook runs there. */
  private siteRun(cluster: Cluster): boolean {
    return this.deps.providers.has(cluster.provider) && this.deps.providers.get(cluster.provider).siteDriver?.(cluster.kind) !== undefined;
  }

  /** The variables every playbook of every kind gets: the owner, and the gateway's account. */
  private commonVars(cluster: Cluster): Record<string, unknown> {
    const account = gatewayAccount(cluster.gatewayId);
    return { ms_cluster_id: cluster.clusterId, ms_job_user: account.name, ms_job_uid: account.uid, ms_job_root: this.deps.jobRoot };
  }

  /** Runs one of the kind's playbooks with its events streamed; anything but success fails the step. */
  private async playbook(
    cluster: Cluster, which: keyof KindPlaybooks, step: string, moreVars: Record<string, unknown> = {},
    inventory?: AnsibleInventory,
  ): Promise<PlaybookResult> {
    const kind = this.kindOf(cluster);
    const playbook = kind.playbooks[which];
    const hosts = inventory ?? kind.inventory(cluster);
    // Tearing down what was built stays possible after the operator withdrew the permission.
    if (which !== 'teardown') await this.refuseThisMachine(cluster, hosts);
    const knownHosts = await this.knownHosts(cluster, hosts, step);
    await this.event(cluster.clusterId, { kind: 'step', time: this.now(), message: `${step}: ${playbook} started` });
    const result = await this.deps.ansible.run({
      playbook,
      inventory: hosts,
      knownHosts,
      extraVars: { ...this.commonVars(cluster), ...kind.extraVars(cluster), ...moreVars },
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
    if (result.status !== 'successful') throw new StepFailed(this.failuresOf(step.split(':')[0], result));
    return result;
  }

  /**
   * Ansible's OpenSSH checks each ssh host against the service's pin of it: a host whose key
   * changed, or that refuses the gateway's key, fails the step for good (someone must look);
   * an unreachable one is transient and retried.
   */
  private async knownHosts(cluster: Cluster, inventory: AnsibleInventory, step: string): Promise<string[] | undefined> {
    const addresses = new Set(inventory.hosts.filter((h) => h.connection === 'ssh').map((h) => h.name));
    const nodes = cluster.nodes.filter((n) => addresses.has(n.address));
    try {
      return await this.deps.access.knownHosts?.(cluster, nodes);
    } catch (error) {
      if (error instanceof SshCommandError && !error.transient) throw new StepFailed([this.failure(step, error.message)]);
      throw error;
    }
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

  /**
   * Ends the cluster FAILED with its failures. A failed create of a provider that buys nodes is
   * rolled back (a durable rollback run queued in the same transaction) unless the spec says
   * keepOnFailure=true; the reason says which.
   */
  private async fail(cluster: Cluster, failures: ClusterFailure[], failedCreate: boolean): Promise<void> {
    const { clusterId } = cluster;
    const first = failures[0];
    let reason = `${first.step} failed${first.task ? ` at task "${first.task}"` : ''}${first.host ? ` on ${first.host}` : ''}: ${first.message}`;
    const bought = failedCreate && this.deps.providers.has(cluster.provider) && this.deps.providers.get(cluster.provider).buysNodes;
    const keep = bought && cluster.spec.providerOptions?.keepOnFailure === 'true';
    if (keep) reason = `${reason.slice(0, 1800)}; kept for inspection (keepOnFailure=true): delete the cluster to release it`;
    else if (bought) reason = `${reason.slice(0, 1800)}; rolling back`;
    await this.deps.db.transaction(async (tx) => {
      for (const failure of failures) await this.deps.clusters.addFailure(tx, clusterId, failure);
      await this.deps.clusters.transition(tx, clusterId, 'FAILED', reason.slice(0, 2000), this.now());
      await this.deps.clusters.setOperation(tx, clusterId, bought && !keep ? 'rollback' : null, this.now());
      if (bought && !keep) {
        await this.deps.queue.enqueue(tx, 'cluster_workflow', { clusterId, action: 'rollback' }, {
          queueName: workflowQueue(clusterId).queueName, jobKey: `rollback:${clusterId}`,
        });
      }
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

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 1000);
}

/** Which workers leave and which join when the first `target` of the pool are to serve. */
export function scalePlan(nodes: readonly ClusterNode[], target: number): { leaving: ClusterNode[]; joining: ClusterNode[] } {
  const serving = new Set(servingWorkers(nodes, target).map((n) => n.nodeId));
  const workers = nodes.filter((n) => n.roles.includes('worker'));
  return {
    leaving: workers.filter((n) => !serving.has(n.nodeId) && n.state !== 'RELEASED'),
    joining: workers.filter((n) => serving.has(n.nodeId) && n.state !== 'CONFIGURED'),
  };
}

function describeScale(target: number, leaving: readonly ClusterNode[], joining: readonly ClusterNode[]): string {
  const list = (nodes: readonly ClusterNode[], verb: string): string =>
    (nodes.length > 0 ? `${verb} ${nodes.map((n) => n.address).join(', ')}` : `none ${verb}`);
  return `scale to ${target} worker(s): ${list(leaving, 'leaving')}; ${list(joining, 'joining')}`;
}
