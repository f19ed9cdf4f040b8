// Applications installed on clusters.
import type { Application, ApplicationSpec, ApplicationState } from '../domain/types';
import type { Queryable } from './db';

interface ApplicationRow {
  id: string;
  cluster_id: string;
  gateway_id: string;
  spec: ApplicationSpec;
  state: ApplicationState;
  state_reason: string | null;
  prefix: string;
}

function toApplication(row: ApplicationRow): Application {
  return {
    applicationId: row.id,
    clusterId: row.cluster_id,
    gatewayId: row.gateway_id,
    spec: row.spec,
    state: row.state,
    prefix: row.prefix,
    ...(row.state_reason === null ? {} : { stateReason: row.state_reason }),
  };
}

export class ApplicationStore {
  async insert(db: Queryable, app: Application, now: number): Promise<void> {
    await db('applications').insert({
      id: app.applicationId, cluster_id: app.clusterId, gateway_id: app.gatewayId, name: app.spec.name,
      version: app.spec.version ?? null, spec: JSON.stringify(app.spec), state: app.state, prefix: app.prefix,
      created_at: now, updated_at: now,
    });
  }

  /** The application (not FAILED) that holds this install directory on the cluster, if any. */
  async liveAt(db: Queryable, clusterId: string, prefix: string): Promise<Application | undefined> {
    const row = await db('applications').where({ cluster_id: clusterId, prefix }).whereNot({ state: 'FAILED' })
      .first<ApplicationRow | undefined>();
    return row ? toApplication(row) : undefined;
  }

  async get(db: Queryable, applicationId: string): Promise<Application | undefined> {
    const row = await db('applications').where({ id: applicationId }).first<ApplicationRow | undefined>();
    return row ? toApplication(row) : undefined;
  }

  async ofClusters(db: Queryable, clusterIds: readonly string[]): Promise<Application[]> {
    if (clusterIds.length === 0) return [];
    const rows = await db('applications').whereIn('cluster_id', [...clusterIds]).orderBy(['created_at', 'id']) as ApplicationRow[];
    return rows.map(toApplication);
  }

  async setState(db: Queryable, applicationId: string, state: ApplicationState, reason: string | null, now: number): Promise<void> {
    await db('applications').update({ state, state_reason: reason, updated_at: now }).where({ id: applicationId });
  }
}
