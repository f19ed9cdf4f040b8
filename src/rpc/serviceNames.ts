// The names under which the three services are multiplexed on one port; clients use exactly these.
export const SERVICE_NAMES = {
  cluster: 'ClusterService',
  job: 'JobService',
  provisioning: 'ProvisioningService',
} as const;
