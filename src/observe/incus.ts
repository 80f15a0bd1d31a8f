import type { IncusClient } from '../incus/client.js';
import type { DerivedProxy } from '../derive/types.js';
import type { IncusInstance, IncusNetwork, IncusProject } from '../incus/types.js';

/** What Incus reports about everything a deployment could touch. */
export interface ObservedIncus {
  /** The deployment's project, or null when it does not exist. */
  readonly project: IncusProject | null;
  /** Every network Incus knows (the deployment's bridge is among them when it exists). */
  readonly networks: readonly IncusNetwork[];
  /** Instances in the deployment's project (empty when the project does not exist). */
  readonly instances: readonly IncusInstance[];
}

/** Reads the observed state in at most three `incus` calls, however many containers there are. */
export async function observeIncus(client: IncusClient, projectName: string): Promise<ObservedIncus> {
  const [projects, networks] = await Promise.all([client.listProjects(), client.listNetworks()]);
  const project = projects.find((candidate) => candidate.name === projectName) ?? null;
  const instances = project === null ? [] : await client.listInstances(projectName);
  return { project, networks, instances };
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
