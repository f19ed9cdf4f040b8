// airavata-ms clusters ...: ClusterService calls, and the watcher for builds and teardowns.
import type { Command } from 'commander';
import { withSession, type CliContext, type CommandScope } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { clusterDetails, clusterTable, eventTable } from '../format';
import { addCommonOptions } from '../options';
import { nonNegativeInt, seconds } from '../parsers';
import { clusterSpecFrom, readSpecFile } from '../specFile';
import { clusterView } from '../views';
import { watchRenderer } from '../watch/render';
import { sessionSource, watchCluster, type WatchMode } from '../watch/watcher';

const INTERVAL_HELP = 'seconds between polls';

async function follow(ctx: CliContext, scope: CommandScope, clusterId: string, mode: WatchMode, intervalS: number): Promise<void> {
  const renderer = watchRenderer(scope.out.json, ctx.stdout, ctx.stderr, ctx.env);
  const { summary, exitCode } = await watchCluster(sessionSource(scope.session, clusterId), {
    mode, intervalMs: Math.round(intervalS * 1000), renderer,
  });
  // Text output was drawn by the renderer as it went; JSON is the summary alone.
  scope.out.result(summary, () => '');
  if (exitCode !== ExitCode.Ok) {
    throw new CliError(exitCode, `cluster ${JSON.stringify(clusterId)} ${summary.state}${summary.stateReason ? `: ${summary.stateReason}` : ''}`);
  }
}

export function registerClusters(program: Command, ctx: CliContext): void {
  const clusters = program.command('clusters').description('create, inspect, follow and delete clusters');

  addCommonOptions(clusters.command('create'))
    .description('create a cluster from a spec file (YAML or JSON, ClusterSpec field names) and print its id')
    .requiredOption('-f, --file <spec>', 'spec file: name, kind (SLURM), provider (STATIC), hosts [{address, sshUser, sshPort, roles}], clusterOptions, providerOptions, clientToken')
    .option('--watch', 'follow the build until READY (exit 0) or FAILED (exit 1)')
    .option('--interval <seconds>', INTERVAL_HELP, seconds, 1)
    .action(async (opts: { file: string; watch?: boolean; interval: number }, cmd: Command) => {
      const spec = clusterSpecFrom(await readSpecFile(opts.file), `spec file ${opts.file}`);
      await withSession(ctx, cmd, async (scope) => {
        const clusterId = await scope.session.call((c, authz) => c.cluster.createCluster(authz, spec));
        if (!opts.watch) {
          scope.out.result({ clusterId }, () => clusterId);
          return;
        }
        scope.out.line(clusterId);
        await follow(ctx, scope, clusterId, 'build', opts.interval);
      });
    });

  addCommonOptions(clusters.command('list'))
    .description("list the gateway's clusters")
    .action(async (_opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const views = (await session.call((c, authz) => c.cluster.listClusters(authz))).map(clusterView);
        out.result(views, () => clusterTable(views));
      });
    });

  addCommonOptions(clusters.command('show'))
    .description('show a cluster: state, nodes, failures')
    .argument('<id>', 'cluster id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const view = clusterView(await session.call((c, authz) => c.cluster.getCluster(authz, id)));
        out.result(view, () => clusterDetails(view));
      });
    });

  addCommonOptions(clusters.command('events'))
    .description("print a cluster's events in order (state changes, steps, every Ansible task per host)")
    .argument('<id>', 'cluster id')
    .option('--after <seq>', 'only events after this sequence number', nonNegativeInt, 0)
    .action(async (id: string, opts: { after: number }, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const events = await sessionSource(session, id).events(opts.after);
        out.result(events, () => eventTable(events));
      });
    });

  addCommonOptions(clusters.command('scale'))
    .description('set the number of workers of a cluster')
    .argument('<id>', 'cluster id')
    .argument('<workers>', 'worker count', nonNegativeInt)
    .action(async (id: string, workers: number, _opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        await session.call((c, authz) => c.cluster.scaleCluster(authz, id, workers));
        out.result({ clusterId: id, workerCount: workers }, () => `cluster ${id}: scaling to ${workers} worker(s)`);
      });
    });

  addCommonOptions(clusters.command('delete'))
    .description('delete a cluster (TEARING_DOWN at once, TERMINATED once torn down)')
    .argument('<id>', 'cluster id')
    .option('--wait', 'follow the teardown until TERMINATED (exit 0) or FAILED (exit 1)')
    .option('--interval <seconds>', INTERVAL_HELP, seconds, 1)
    .action(async (id: string, opts: { wait?: boolean; interval: number }, cmd: Command) => {
      await withSession(ctx, cmd, async (scope) => {
        await scope.session.call((c, authz) => c.cluster.deleteCluster(authz, id));
        if (opts.wait) {
          await follow(ctx, scope, id, 'delete', opts.interval);
          return;
        }
        const view = clusterView(await scope.session.call((c, authz) => c.cluster.getCluster(authz, id)));
        scope.out.result({ clusterId: id, state: view.state }, () => `cluster ${id}: ${view.state}`);
      });
    });

  addCommonOptions(clusters.command('watch'))
    .description('follow a build live (per host: current task, done/total) until READY (0) or FAILED (1)')
    .argument('<id>', 'cluster id')
    .option('--interval <seconds>', INTERVAL_HELP, seconds, 1)
    .action(async (id: string, opts: { interval: number }, cmd: Command) => {
      await withSession(ctx, cmd, (scope) => follow(ctx, scope, id, 'build', opts.interval));
    });

  addCommonOptions(clusters.command('ssh-key'))
    .description("print the gateway's SSH public key, to authorize on static hosts")
    .action(async (_opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const publicKey = await session.call((c, authz) => c.cluster.getGatewaySSHPublicKey(authz));
        out.result({ gatewayId: session.credentials.gatewayId, publicKey }, () => publicKey.trimEnd());
      });
    });
}
