// Installing applications on clusters: where they live, the playbook variables, and the
// environment a job that names one runs with.
import type { Application, ApplicationSpec } from '../domain/types';

/** Matches playbooks/roles/app/defaults (app_root / name-version). */
export const APPLICATION_ROOT = '/opt/metascheduler/apps';

/** "@" is in neither a name nor a version, so no two (name, version) pairs share a prefix. */
export function applicationPrefix(spec: Pick<ApplicationSpec, 'name' | 'version'>): string {
  return `${APPLICATION_ROOT}/${spec.name}${spec.version ? `@${spec.version}` : ''}`;
}

export function applicationExtraVars(app: Application): Record<string, unknown> {
  return {
    app_id: app.applicationId,
    app_name: app.spec.name,
    app_version: app.spec.version ?? '',
    app_prefix: app.prefix,
    app_deb_packages: app.spec.debPackages ?? [],
    app_archive_url: app.spec.archiveUrl ?? '',
    app_archive_sha256: app.spec.archiveSha256 ?? '',
    app_install_commands: app.spec.installCommands ?? [],
  };
}

/** A job's environment: the application's, then the job's own on top, and where the app lives. */
export function jobEnvironment(app: Application | undefined, own: Record<string, string> | undefined): Record<string, string> {
  return { ...(app ? { APP_PREFIX: app.prefix, ...app.spec.environment } : {}), ...own };
}
