// airavata-ms allocations ...: ProvisioningService reads (bare resources outside clusters).
import type { Command } from 'commander';
import { withSession, type CliContext } from '../context';
import { allocationDetails, allocationTable } from '../format';
import { addCommonOptions } from '../options';
import { allocationView } from '../views';

export function registerAllocations(program: Command, ctx: CliContext): void {
  const allocations = program.command('allocations').description('inspect bare resource allocations');

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
