import type { IncusClient, IncusScope } from '../incus/client.js';
import type { DerivedContainer, DerivedProxy } from '../derive/types.js';
import type { IncusClusterMember, IncusInstance, IncusNetwork, IncusProject } from '../incus/types.js';

/** What Incus reports about everything a deployment could touch. */
export interface ObservedIncus {
  /** The deployment's project, or null when it does not exist. */
  readonly project: IncusProject | null;
  /** Every network Incus knows (the deployment's bridge is among them when it exists). */
  readonly networks: readonly IncusNetwork[];
  /** Instances in the deployment's project (empty when the project does not exist). */
  readonly instances: readonly IncusInstance[];
  /**
   * The cluster behind the remote, read when the deployment addresses a remote or places containers:
   * `members` null when that server is not clustered. Absent: not asked (one server, no placement).
   */
  readonly cluster?: { readonly members: readonly IncusClusterMember[] | null };
}

/** What observation needs to know of the deployment: where it lives, and whether it places containers. */
export interface ObserveScope extends IncusScope {
  readonly containers?: readonly Pick<DerivedContainer, 'target'>[];
  readonly spreadSets?: readonly unknown[];
}

/** Whether a deployment needs the cluster's members: it talks to a remote, or pins or spreads containers. */
export function usesCluster(scope: ObserveScope): boolean {
  return (
    scope.remote !== null ||
    (scope.spreadSets?.length ?? 0) > 0 ||
    (scope.containers ?? []).some((container) => container.target !== null)
  );
}

/**
 * Reads the observed state in at most four `incus` calls, however many containers and members there are
 * (the fourth, the cluster's members, only when the deployment addresses a remote or places containers).
 * A bare project name observes it on the default remote, without the cluster.
 */
export async function observeIncus(client: IncusClient, scope: ObserveScope | string): Promise<ObservedIncus> {
  const where: ObserveScope = typeof scope === 'string' ? { project: scope, remote: null } : scope;
  // The instances are listed beside the other reads, not after them: one round trip instead of two. When the
  // project turns out not to exist, the listing's answer (a refusal) is not looked at.
  const [projects, networks, members, listed] = await Promise.all([
    client.listProjects(where.remote),
    client.listNetworks(where.remote),
    usesCluster(where) ? client.listClusterMembers(where.remote) : undefined,
    client.listInstances(where).then(
      (instances) => ({ instances }),
      (error: unknown) => ({ error }),
    ),
  ]);
  const project = projects.find((candidate) => candidate.name === where.project) ?? null;
  const cluster = members === undefined ? {} : { cluster: { members } };
  if (project === null) return { project, networks, instances: [], ...cluster };
  if ('error' in listed) throw listed.error;
  return { project, networks, instances: listed.instances, ...cluster };
}

/** The IPv4 addresses an instance reports on a NIC. */
export function instanceAddresses(instance: IncusInstance, nic = 'eth0'): string[] {
  return (instance.state?.network?.[nic]?.addresses ?? [])
    .filter((address) => address.family === 'inet')
    .map((address) => address.address);
}

/** Whether an instance carries the declared proxy device exactly (listen and connect as derived). */
export function proxyInPlace(instance: IncusInstance | undefined, proxy: DerivedProxy): boolean {
  const device = instance?.devices[proxy.device];
  return device?.type === 'proxy' && device.listen === proxy.listen && device.connect === proxy.connect;
}

/** The cluster member an instance runs on; null off a cluster (Incus says `none`) or when it does not exist. */
export function instanceMember(instance: IncusInstance | undefined): string | null {
  const location = instance?.location;
  return location === undefined || location === '' || location === 'none' ? null : location;
}
