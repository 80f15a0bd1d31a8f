import type { DesiredState } from '../derive/types.js';

/**
 * What each container of a topology stores: the MongoDB databases its mongod
 * processes hold (`rsA member :27017 (products_db)`). Containers without a
 * mongod hold no data distctl knows of (the services are stateless).
 */
export function dataHeldBy(desired: DesiredState): Map<string, string[]> {
  const held = new Map<string, string[]>();
  const add = (container: string, what: string): void => {
    held.set(container, [...(held.get(container) ?? []), what]);
  };
  for (const set of desired.replicaSets)
    for (const member of set.members)
      add(member.container, `replica set ${set.name} member :${member.port} (database ${set.database})`);
  for (const standalone of desired.standalones)
    add(
      standalone.process.container,
      `standalone ${standalone.name} :${standalone.process.port} (database ${standalone.database})`,
    );
  return held;
}

/**
 * One line per container about to be deleted that holds data, naming its
 * databases; a container the topology no longer declares may hold data too,
 * and says so, since distctl cannot tell from the topology.
 */
export function dataLoss(containers: readonly string[], desired: DesiredState): string[] {
  const held = dataHeldBy(desired);
  const declared = new Set(desired.containers.map((container) => container.name));
  return containers.flatMap((name) => {
    const databases = held.get(name);
    if (databases) return [`${name}: ${databases.join(', ')}`];
    if (!declared.has(name))
      return [
        `${name}: no longer in the topology, so distctl cannot tell which databases it held; whatever it stores is lost`,
      ];
    return [];
  });
}
