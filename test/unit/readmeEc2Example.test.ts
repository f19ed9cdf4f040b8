// The README's EC2 example is what an operator copies first: its spec file must be read by the CLI
// and accepted by the EC2 provider as it stands.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { clusterSpecFrom, readSpecFile } from '../../src/cli/specFile';
import { Ec2Provider } from '../../src/providers/ec2/ec2Provider';
import { ms } from '../../src/rpc/wire';

describe("the README's EC2 cluster spec", () => {
  it('is read by the CLI and accepted by the EC2 provider', async () => {
    const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const yaml = /cat > burst\.yaml <<'YAML'\n([\s\S]*?)\nYAML\n/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ms-readme-')), 'burst.yaml');
    writeFileSync(file, `${yaml}\n`);
    const spec = clusterSpecFrom(await readSpecFile(file), file);
    expect(spec.provider).toBe(ms.ProviderType.EC2);
    const errors = new Ec2Provider({ defaultRegion: 'us-east-1' }).validate({
      name: spec.name, kind: 'SLURM', provider: 'EC2', workerCount: spec.workerCount ?? undefined,
      providerOptions: Object.fromEntries(spec.providerOptions ?? new Map<string, string>()),
    });
    expect(errors).toEqual([]);
  });
});
