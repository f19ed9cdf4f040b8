// The AWS SDK clients of one region. Endpoints and credentials are the SDK's business: it reads
// AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_EC2 (a local double in tests) and the default credential
// chain itself, so no endpoint or key ever passes through this service's own configuration.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';

export interface AwsClients {
  ec2: EC2Client;
  cloudFormation: CloudFormationClient;
  quotas: ServiceQuotasClient;
}

/** New clients for a region, configured from the environment as the SDK reads it now. */
export function createAwsClients(region: string): AwsClients {
  return {
    ec2: new EC2Client({ region }),
    cloudFormation: new CloudFormationClient({ region }),
    quotas: new ServiceQuotasClient({ region }),
  };
}

const byRegion = new Map<string, AwsClients>();

/** One set of clients per region for the process: they keep their connections and credentials. */
export function awsClientsFor(region: string): AwsClients {
  let clients = byRegion.get(region);
  if (!clients) {
    clients = createAwsClients(region);
    byRegion.set(region, clients);
  }
  return clients;
}

/** Closes the clients' connections (tests, shutdown). */
export function destroyAwsClients(clients: AwsClients): void {
  clients.ec2.destroy();
  clients.cloudFormation.destroy();
  clients.quotas.destroy();
}
