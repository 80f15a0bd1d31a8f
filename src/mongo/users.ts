import { randomBytes } from 'node:crypto';
import type { Document } from 'mongodb';
import type { DerivedReplicaSet, DerivedService, DerivedStandalone, DesiredState } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { SecretStore } from '../secrets/store.js';
import {
  describeMongoError,
  hasCode,
  isTransition,
  MongoErrorCode,
  type Credentials,
  type MongoAdmin,
  type MongoTarget,
} from './admin.js';
import type { LocalhostAccess } from './bootstrap.js';

/** The user distctl itself administers MongoDB as (created through the localhost exception). */
export const ADMIN_USERNAME = 'distctl-admin';

/** Names of the MongoDB secrets in a deployment's secret store. */
export const MongoSecretNames = {
  keyFile: 'mongodb-keyfile',
  adminPassword: 'mongodb-admin-password',
  servicePassword: (service: string): string => `mongodb-user-${service}`,
} as const;

/** A replica-set keyfile: 756 random bytes as base64 (1008 characters, within mongod's 6–1024 limit). */
export function generateKeyFile(): string {
  return `${randomBytes(756).toString('base64')}\n`;
}

/** The deployment's keyfile, generated on first use. */
export function deploymentKeyFile(secrets: SecretStore): Promise<string> {
  return secrets.get(MongoSecretNames.keyFile, generateKeyFile);
}

/** The credentials distctl administers this deployment's mongods with, generated on first use. */
export async function adminCredentials(secrets: SecretStore): Promise<Credentials> {
  return { username: ADMIN_USERNAME, password: await secrets.get(MongoSecretNames.adminPassword) };
}

/** The admin credentials if `up` ever created them, without creating them (for read-only and test commands). */
export async function existingAdminCredentials(secrets: SecretStore): Promise<Credentials | undefined> {
  const password = await secrets.peek(MongoSecretNames.adminPassword);
  return password === undefined ? undefined : { username: ADMIN_USERNAME, password };
}

/** Outcome of ensureAdminUser. */
export type AdminUserOutcome = 'existing' | 'created';

/**
 * Makes sure the admin user exists on `target` (the primary of a set, or a
 * standalone). On a fresh deployment no user exists and access control is on,
 * so the user is created through the localhost exception (see
 * LocalhostAccess), the only command sent that way. Afterwards distctl
 * authenticates over the network. A primary that changes meanwhile surfaces as
 * the server's own error, for onPrimary to retry.
 */
export async function ensureAdminUser(
  target: MongoTarget,
  channels: { admin: MongoAdmin; localhost: LocalhostAccess },
  credentials: Credentials,
): Promise<AdminUserOutcome> {
  try {
    await channels.admin.command(target, 'admin', { ping: 1 }, { credentials });
    return 'existing';
  } catch (error) {
    if (!hasCode(error, MongoErrorCode.AuthenticationFailed)) throw unreachableAdmin(target, error);
  }
  try {
    await channels.localhost.open(target, (channel) =>
      channel.command(target, 'admin', {
        createUser: credentials.username,
        pwd: credentials.password,
        roles: [{ role: 'root', db: 'admin' }],
      }),
    );
  } catch (error) {
    if (hasCode(error, MongoErrorCode.Unauthorized) || hasCode(error, MongoErrorCode.UserAlreadyExists)) {
      throw new DistctlError(
        'MONGO_ADMIN_CREDENTIALS_REJECTED',
        `mongod ${target.host} (container ${target.container}) already has users, and rejects distctl's admin ` +
          `password.`,
        {
          hint:
            "This deployment's secret store does not match its databases. Restore the secret store directory the " +
            'deployment was created with, or recreate the database containers.',
        },
      );
    }
    if (isTransition(error) || error instanceof DistctlError) throw error;
    throw unreachableAdmin(target, error);
  }
  await channels.admin.command(target, 'admin', { ping: 1 }, { credentials }).catch((error: unknown) => {
    throw unreachableAdmin(target, error);
  });
  return 'created';
}

function unreachableAdmin(target: MongoTarget, error: unknown): DistctlError {
  return new DistctlError(
    'MONGO_ADMIN_FAILED',
    `Could not administer mongod ${target.host} (container ${target.container}): ${describeMongoError(error)}.`,
    {
      hint: 'Check that the mongod unit is running (`distctl status`) and rerun `distctl up`.',
    },
  );
}

/** A database deployment a service uses: a replica set or a standalone. */
export type MongoDeployment = DerivedReplicaSet | DerivedStandalone;

/** Looks up a replica set or standalone by name in the desired state. */
export function findDeployment(desired: DesiredState, name: string): MongoDeployment {
  const found = [...desired.replicaSets, ...desired.standalones].find((deployment) => deployment.name === name);
  if (found === undefined) throw new Error(`no replica set or standalone named ${name} in the desired state`);
  return found;
}

/**
 * Inserts credentials into a deployment's connection string and names the
 * database they are defined in: `mongodb://user:pass@h1,h2/db?replicaSet=rsA&authSource=admin`.
 * Username and password are percent-encoded.
 */
export function withCredentials(url: string, credentials: Credentials): string {
  const match = /^mongodb:\/\/([^/?]+)\/([^?]*)(?:\?(.*))?$/.exec(url);
  if (match === null) throw new Error(`not a mongodb:// connection string: ${url}`);
  const [, hosts = '', database = '', query = ''] = match;
  const params = new URLSearchParams(query);
  params.set('authSource', 'admin');
  const userinfo = `${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}`;
  return `mongodb://${userinfo}@${hosts}/${database}?${params.toString()}`;
}

/** The MongoDB user a service connects as (its name), with its password from the secret store. */
export async function serviceCredentials(
  secrets: SecretStore,
  service: Pick<DerivedService, 'name'>,
): Promise<Credentials> {
  return { username: service.name, password: await secrets.get(MongoSecretNames.servicePassword(service.name)) };
}

/**
 * The credentialed connection strings a service receives, by environment
 * variable (e.g. `DB1_URL`), for every database it uses. These are secrets:
 * deliver them in a 0600 environment file, never on a command line.
 */
export async function serviceDatabaseEnv(
  desired: DesiredState,
  service: DerivedService,
  secrets: SecretStore,
): Promise<Record<string, string>> {
  const credentials = await serviceCredentials(secrets, service);
  return Object.fromEntries(
    service.databases.map((name) => {
      const deployment = findDeployment(desired, name);
      return [deployment.envVar, withCredentials(deployment.url, credentials)];
    }),
  );
}

/**
 * Runs an action on the member of a deployment that takes writes (a set's writable primary, retried across elections).
 */
export type OnWritable = <T>(deployment: MongoDeployment, action: (target: MongoTarget) => Promise<T>) => Promise<T>;

/**
 * Gives every service a user with readWrite on exactly the databases it uses,
 * on exactly the deployments that hold them. Creates missing users, corrects
 * roles or passwords that drifted, and leaves correct users alone. Returns
 * `user@deployment` for each user created or updated.
 */
export async function ensureServiceUsers(
  desired: DesiredState,
  admin: MongoAdmin,
  adminCreds: Credentials,
  secrets: SecretStore,
  onWritable: OnWritable,
): Promise<string[]> {
  const changed: string[] = [];
  for (const service of desired.services) {
    const credentials = await serviceCredentials(secrets, service);
    for (const name of service.databases) {
      const deployment = findDeployment(desired, name);
      const roles = [{ role: 'readWrite', db: deployment.database }];
      // Read and write on the same member, repeated as a whole if the primary changes in between.
      const wrote = await onWritable(deployment, async (target) => {
        const info = await admin.command(
          target,
          'admin',
          { usersInfo: { user: credentials.username, db: 'admin' } },
          { credentials: adminCreds },
        );
        const existing = (info.users as Document[] | undefined)?.[0];
        if (
          existing !== undefined &&
          sameRoles(existing.roles, roles) &&
          (await canAuthenticate(admin, target, credentials))
        )
          return false;
        const verb = existing === undefined ? 'createUser' : 'updateUser';
        await admin.command(
          target,
          'admin',
          { [verb]: credentials.username, pwd: credentials.password, roles },
          { credentials: adminCreds },
        );
        return true;
      });
      if (wrote) changed.push(`${credentials.username}@${deployment.name}`);
    }
  }
  return changed;
}

function sameRoles(actual: unknown, wanted: readonly { role: string; db: string }[]): boolean {
  if (!Array.isArray(actual) || actual.length !== wanted.length) return false;
  const key = (role: { role?: unknown; db?: unknown }): string => `${String(role.role)}@${String(role.db)}`;
  const have = new Set((actual as { role?: unknown; db?: unknown }[]).map(key));
  return wanted.every((role) => have.has(key(role)));
}

async function canAuthenticate(admin: MongoAdmin, target: MongoTarget, credentials: Credentials): Promise<boolean> {
  try {
    await admin.command(target, 'admin', { ping: 1 }, { credentials });
    return true;
  } catch (error) {
    if (hasCode(error, MongoErrorCode.AuthenticationFailed)) return false;
    throw error;
  }
}
