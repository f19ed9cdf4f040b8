// airavata-ms allocations ...: ProvisioningService: pilots on HPC systems (request, release) and
// the gateway's allocations (list, show).
import type { Command } from 'commander';
import { withSession, type CliContext } from '../context';
import { allocationDetails, allocationTable } from '../format';
import { addCommonOptions } from '../options';
import { positiveInt } from '../parsers';
import { ms } from '../../rpc/wire';
import { allocationView } from '../views';

export function registerAllocations(program: Command, ctx: CliContext): void {
  const allocations = program.command('allocations').description('pilots on HPC systems: request, inspect, release');

  addCommonOptions(allocations.command('request'))
    .description('request a pilot: a placeholder job holding nodes of an HPC system, where jobs then start at once')
    .requiredOption('--cluster <id>', 'the registered HPC system (cluster id)')
    .requiredOption('--nodes <n>', 'nodes to hold', positiveInt)
    .requiredOption('--wall <minutes>', 'how long to hold them', positiveInt)
    .option('--partition <name>', "the system's partition (default: its first)")
    .option('--client-token <token>', 'idempotency key: a retry returns the same pilot')
    .action(async (opts: { cluster: string; nodes: number; wall: number; partition?: string; clientToken?: string }, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const options = new Map([['clusterId', opts.cluster], ['wallTimeMinutes', String(opts.wall)]]);
        if (opts.partition !== undefined) options.set('partition', opts.partition);
        const request = new ms.ResourceRequest({
          provider: ms.ProviderType.HPC_PILOT, count: opts.nodes, providerOptions: options,
          ...(opts.clientToken !== undefined ? { clientToken: opts.clientToken } : {}),
        });
        const allocationId = await session.call((c, authz) => c.provisioning.provisionResources(authz, request));
        out.result({ allocationId }, () => allocationId);
      });
    });

  addCommonOptions(allocations.command('release'))
    .description("release a pilot: its placeholder job is cancelled, jobs still inside end CANCELED")
    .argument('<id>', 'allocation id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        await session.call((c, authz) => c.provisioning.releaseResources(authz, id));
        out.result({ allocationId: id, released: true }, () => `allocation ${id}: release requested`);
      });
    });

  addCommonOptions(allocations.command('list'))
    .description("list the gateway's allocations")
    .action(async (_opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const views = (await session.call((c, authz) => c.provisioning.listAllocations(authz))).map(allocationView);
        out.result(views, () => allocationTable(views));
      });
    });

  addCommonOptions(allocations.command('show'))
    .description('show an allocation and its nodes')
    .argument('<id>', 'allocation id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const view = allocationView(await session.call((c, authz) => c.provisioning.getAllocation(authz, id)));
        out.result(view, () => allocationDetails(view));
      });
    });
}
