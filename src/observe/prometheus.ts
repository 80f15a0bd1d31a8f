import { Gauge, Registry } from 'prom-client';
import type { DeploymentStatus } from './deployment.js';

/**
 * The deployment's state as Prometheus metrics (text exposition format), for
 * `distctl status --format prometheus`: written to a node-exporter textfile
 * collector by cron, or served by any static file server. prom-client
 * renders the text, so escaping and the format's rules are its, not ours.
 * Every series carries the `project` label, so several deployments can share
 * one collector directory.
 */
export async function deploymentMetrics(status: DeploymentStatus): Promise<string> {
  const registry = new Registry();
  registry.setDefaultLabels({ project: status.project });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
    new Gauge({ name, help, labelNames, registers: [registry] });

  const ok = gauge('distctl_deployment_ok', '1 when everything is as declared in the topology, else 0', []);
  const differences = gauge(
    'distctl_deployment_differences',
    'How many differences from the topology status found',
    [],
  );
  ok.set(status.differences.length === 0 ? 1 : 0);
  differences.set(status.differences.length);

  const networkUp = gauge('distctl_network_present', '1 when the declared bridge exists with its declared address', [
    'network',
  ]);
  networkUp.set(
    { network: status.network.name },
    status.network.exists && status.network.address === status.network.declared ? 1 : 0,
  );

  const containerUp = gauge('distctl_container_running', '1 when the container is running', ['container']);
  const cpu = gauge('distctl_container_cpu_seconds', 'CPU time the container has used since it started', ['container']);
  const memory = gauge('distctl_container_memory_bytes', 'Memory the container uses', ['container']);
  const memoryLimit = gauge('distctl_container_memory_limit_bytes', 'The container memory limit (absent without one)', [
    'container',
  ]);
  const disk = gauge(
    'distctl_container_disk_bytes',
    'Root disk used (absent where the storage driver does not report it)',
    ['container'],
  );
  const processes = gauge('distctl_container_processes', 'Processes in the container', ['container']);
  const unitActive = gauge('distctl_unit_active', '1 when the systemd unit is active', ['container', 'unit']);
  const portServed = gauge(
    'distctl_port_served',
    '1 when something listens on the declared port (absent when unknown)',
    ['container', 'unit', 'port'],
  );
  const proxyPresent = gauge('distctl_proxy_present', '1 when the declared proxy device is in place', [
    'container',
    'listen',
  ]);
  for (const container of status.containers) {
    const labels = { container: container.name };
    containerUp.set(labels, container.state === 'Running' ? 1 : 0);
    if (container.resources !== null) {
      cpu.set(labels, container.resources.cpuSeconds);
      memory.set(labels, container.resources.memoryBytes);
      processes.set(labels, container.resources.processes);
      if (container.resources.memoryLimitBytes !== null) memoryLimit.set(labels, container.resources.memoryLimitBytes);
      if (container.resources.diskBytes !== null) disk.set(labels, container.resources.diskBytes);
    }
    for (const unit of container.units)
      unitActive.set({ container: container.name, unit: unit.name }, unit.active === 'active' ? 1 : 0);
    for (const port of container.ports) {
      if (port.served !== null)
        portServed.set({ container: container.name, unit: port.unit, port: String(port.port) }, port.served ? 1 : 0);
    }
    for (const proxy of container.proxies)
      proxyPresent.set({ container: container.name, listen: proxy.listen }, proxy.present ? 1 : 0);
  }

  const healthy = gauge('distctl_service_healthy', '1 when the service answers /health with success', ['service']);
  const ready = gauge('distctl_service_ready', '1 when the service answers /ready with success', ['service']);
  for (const service of status.services) {
    healthy.set({ service: service.name }, service.health.ok ? 1 : 0);
    ready.set({ service: service.name }, service.ready.ok ? 1 : 0);
  }

  const setReachable = gauge('distctl_replica_set_reachable', '1 when distctl could read the replica set status', [
    'replica_set',
  ]);
  const hasPrimary = gauge('distctl_replica_set_has_primary', '1 when the replica set has a PRIMARY', ['replica_set']);
  const memberState = gauge('distctl_replica_set_member_state', '1 for the state the member is in', [
    'replica_set',
    'member',
    'state',
  ]);
  const memberHealth = gauge(
    'distctl_replica_set_member_health',
    "The member's health as the set reports it (1 up, 0 down)",
    ['replica_set', 'member'],
  );
  const lag = gauge('distctl_replica_set_member_lag_seconds', 'How far the member is behind the PRIMARY', [
    'replica_set',
    'member',
  ]);
  for (const set of status.databases.replicaSets) {
    setReachable.set({ replica_set: set.name }, set.reachable ? 1 : 0);
    if (!set.reachable) continue;
    hasPrimary.set({ replica_set: set.name }, set.primary === null ? 0 : 1);
    for (const member of set.members) {
      memberState.set({ replica_set: set.name, member: member.host, state: member.state }, 1);
      if (member.health !== null) memberHealth.set({ replica_set: set.name, member: member.host }, member.health);
      if (member.lagSeconds !== null) lag.set({ replica_set: set.name, member: member.host }, member.lagSeconds);
    }
  }
  const standaloneReachable = gauge('distctl_database_reachable', '1 when the standalone database answers', [
    'database',
  ]);
  for (const standalone of status.databases.standalones) {
    standaloneReachable.set({ database: standalone.name }, standalone.reachable ? 1 : 0);
  }
  return registry.metrics();
}
