import { createHash } from 'node:crypto';
import type { DerivedService, DesiredState } from '../derive/types.js';
import { z } from 'zod';
import { DistctlError } from '../errors/index.js';
import { renderTemplate } from '../mongo/render.js';
import { serviceDatabaseEnv } from '../mongo/users.js';
import type { SecretStore } from '../secrets/store.js';

/** Where the pushed Node runtime lives in every app container. */
export const CONTAINER_NODE_PATH = '/usr/local/bin/node';

/** Names of the service secrets in a deployment's secret store. */
export const ServiceSecretNames = {
  jwt: 'jwt-secret',
  appAdminPassword: 'app-admin-password',
} as const;

/** The first application admin the auth service ensures (its password is the `app-admin-password` secret). */
export const APP_ADMIN_USERNAME = 'admin';

/** Where one service's files live inside its container. */
export interface ServicePaths {
  readonly dir: string;
  readonly main: string;
  /** The deployed-state marker: part hashes of what was last deployed. */
  readonly marker: string;
  readonly envFile: string;
  readonly unitFile: string;
}

/** The file layout of a deployed service. */
export function servicePaths(service: Pick<DerivedService, 'name' | 'unitName'>): ServicePaths {
  const dir = `/opt/distctl/${service.name}`;
  return {
    dir,
    main: `${dir}/main.mjs`,
    marker: `${dir}/.deployed`,
    envFile: `/etc/distctl/${service.name}.env`,
    unitFile: `/etc/systemd/system/${service.unitName}`,
  };
}

/**
 * The unprivileged system user a service runs as: `distctl-<name>`. Linux
 * user names stop at 32 characters; a longer service name is cut and given a
 * short digest so two long names cannot collide.
 */
export function serviceUser(serviceName: string): string {
  const full = `distctl-${serviceName.toLowerCase()}`;
  if (full.length <= 32) return full;
  const digest = createHash('sha256').update(serviceName).digest('hex').slice(0, 6);
  return `${full.slice(0, 25)}-${digest}`;
}

/**
 * The complete environment of a service: the derived, secret-free part plus
 * the secrets (JWT key, credentialed connection strings, and for an auth
 * service the first admin's password).
 */
export async function serviceEnvironment(
  desired: DesiredState,
  service: DerivedService,
  secrets: SecretStore,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    ...service.env,
    ...(await serviceDatabaseEnv(desired, service, secrets)),
    JWT_SECRET: await secrets.get(ServiceSecretNames.jwt),
  };
  if (service.kind === 'auth') {
    env.ADMIN_USERNAME = APP_ADMIN_USERNAME;
    env.ADMIN_PASSWORD = await secrets.get(ServiceSecretNames.appAdminPassword);
  }
  return env;
}

/**
 * Renders a systemd EnvironmentFile. Every value is double-quoted with `\`,
 * `"`, `$` and backtick escaped, which systemd reads back verbatim (SHARD_MAP
 * is JSON full of quotes). Keys are sorted so the same environment always
 * gives the same bytes, and therefore the same hash.
 */
export function renderEnvFile(serviceName: string, env: Readonly<Record<string, string>>): string {
  const lines = Object.keys(env)
    .sort()
    .map((key) => {
      const value = env[key] ?? '';
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
        throw new Error(`environment variable name ${JSON.stringify(key)} of ${serviceName} is not valid`);
      if (/[\n\r\0]/.test(value)) {
        throw new DistctlError(
          'SERVICE_ENV_INVALID',
          `environment variable ${key} of service ${serviceName} contains a line break`,
          {
            hint: 'Environment values are single lines; check the topology value that produces it.',
          },
        );
      }
      return `${key}="${value.replace(/[\\"$`]/g, (character) => `\\${character}`)}"`;
    });
  return [
    `# Managed by distctl: environment of ${serviceName}, with secrets (mode 0600). Local edits are lost.`,
    ...lines,
    '',
  ].join('\n');
}

/** Renders the service's systemd unit from `templates/service.service`. */
export function renderServiceUnit(service: DerivedService): Promise<string> {
  const paths = servicePaths(service);
  return renderTemplate('service.service', {
    service: service.name,
    kind: service.kind,
    user: serviceUser(service.name),
    workingDirectory: paths.dir,
    envFile: paths.envFile,
    nodeBin: CONTAINER_NODE_PATH,
    main: paths.main,
    hasDependencies: service.after.length > 0,
    dependencies: service.after.join(' '),
  });
}

/** The parts of a deployed service, each hashed: only the parts whose hash changed are pushed. */
export interface ArtifactHashes {
  readonly bundle: string;
  readonly unit: string;
  readonly env: string;
  /** sha256 of the Node binary the service runs on. */
  readonly node: string;
}

/** sha256 of a text, hex. */
export function sha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/** One hash over all parts: it changes exactly when the service must be restarted. */
export function artifactHash(parts: ArtifactHashes): string {
  return sha256(`bundle ${parts.bundle}\nunit ${parts.unit}\nenv ${parts.env}\nnode ${parts.node}\n`);
}

/** The marker file's content: the part hashes as JSON (hashes only, never the secrets themselves). */
export function renderMarker(parts: ArtifactHashes): string {
  return `${JSON.stringify({ ...parts, artifact: artifactHash(parts) })}\n`;
}

/** The marker file's shape: every part hash and the artifact hash, all strings. */
const Marker = z.object({
  bundle: z.string(),
  unit: z.string(),
  env: z.string(),
  node: z.string(),
  artifact: z.string(),
});

/** Reads a marker back; anything unreadable counts as "nothing deployed". */
export function parseMarker(text: string | undefined): (ArtifactHashes & { artifact: string }) | null {
  if (text === undefined || text.trim() === '') return null;
  try {
    return Marker.safeParse(JSON.parse(text)).data ?? null;
  } catch {
    return null;
  }
}
