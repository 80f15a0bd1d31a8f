import { ROUTING_ALPHABET, letterIndex } from './alphabet.js';
import { formatIpv4, parseIpv4, parseSubnet, subnetContains, type Ipv4Subnet } from './ipv4.js';
import { problem, type TopologyPath, type TopologyProblem } from './problems.js';
import type { Topology } from './schema.js';

/**
 * Cross-field rules of a shape-valid topology. Every rule runs and every
 * problem is returned, so a user fixes the file in one pass.
 */
export function checkTopology(topology: Topology): TopologyProblem[] {
  const problems: TopologyProblem[] = [];
  const subnet = checkNetwork(topology, problems);
  const containers = checkContainers(topology, subnet, problems);
  const databases = checkDatabases(topology, containers, problems);
  checkSharding(topology, databases, problems);
  checkServices(topology, containers, databases, problems);
  checkPorts(topology, problems);
  checkExpose(topology, containers, problems);
  checkImages(topology, problems);
  checkPlacement(topology, problems);
  return problems;
}

/** Incus cluster member names are host names: letters, digits, "-" and ".", not starting or ending with "-". */
const MEMBER_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$/;

/**
 * Placement rules that need no Incus: member names, and `spread` sets that could
 * never be placed apart (two members in one container, or pinned to one member).
 * What needs the cluster (is the member there, is it online) is checked by `plan`.
 */
function checkPlacement(topology: Topology, problems: TopologyProblem[]): void {
  const targetOf = new Map<string, string>();
  topology.containers.forEach((container, index) => {
    if (container.target === undefined) return;
    targetOf.set(container.name, container.target);
    if (!MEMBER_NAME.test(container.target)) {
      problems.push(
        problem(
          'error',
          'invalid-target',
          ['containers', index, 'target'],
          `"${container.target}" is not a valid Incus cluster member name`,
          'Name a member as `incus cluster list` shows it: letters, digits, "-" and ".", e.g. node1.',
        ),
      );
    }
  });
  topology.mongodb.replicaSets.forEach((set, setIndex) => {
    if (!set.spread) return;
    const path = ['mongodb', 'replicaSets', setIndex, 'spread'];
    const firstMember = new Map<string, number>();
    set.members.forEach((member, index) => {
      const first = firstMember.get(member.container);
      if (first === undefined) firstMember.set(member.container, index);
      else
        problems.push(
          problem(
            'error',
            'spread-shared-container',
            path,
            `replica set ${set.name} cannot be spread: members[${first}] and members[${index}] both live in container ${member.container}`,
            'Give each member of a spread set its own container (one mongod per container), or remove `spread: true`.',
          ),
        );
    });
    const pinned = new Map<string, string>();
    for (const container of firstMember.keys()) {
      const target = targetOf.get(container);
      if (target === undefined) continue;
      const other = pinned.get(target);
      if (other === undefined) pinned.set(target, container);
      else
        problems.push(
          problem(
            'error',
            'spread-same-target',
            path,
            `replica set ${set.name} cannot be spread: containers ${other} and ${container} both have target ${target}`,
            'Give them different `target:` members, or drop one `target:` and let spread choose a free member.',
          ),
        );
    }
  });
  if (topology.incus === undefined) return;
  const built = (image: Topology['image'] | undefined): boolean => image !== undefined && typeof image !== 'string';
  const buildPaths: TopologyPath[] = [
    ...(built(topology.image) && topology.containers.some((container) => container.image === undefined)
      ? [['image']]
      : []),
    ...topology.containers.flatMap((container, index) =>
      built(container.image) ? [['containers', index, 'image']] : [],
    ),
  ];
  for (const path of buildPaths) {
    problems.push(
      problem(
        'error',
        'build-on-remote',
        path,
        `distctl builds images on the local Incus only, but incus.remote is ${topology.incus.remote}`,
        `Build it here (\`distctl image build --alias NAME\`), copy it (\`incus image copy NAME ${topology.incus.remote}: ` +
          '--alias NAME --mode relay`) and name the alias as the image.',
      ),
    );
  }
}

/**
 * An Incus image reference: `[remote:]alias` or a fingerprint. Aliases hold
 * letters, digits and `. _ - / +`; nothing may start with `-`, so a reference
 * can never be read by incus as an option (`--config=security.privileged=true`).
 */
const IMAGE_REFERENCE = /^([a-zA-Z0-9][a-zA-Z0-9._-]*:)?[a-zA-Z0-9][a-zA-Z0-9._/+-]*$/;

function checkImages(topology: Topology, problems: TopologyProblem[]): void {
  // `{ build: debian/SUITE }` is checked by the schema; only a named image is a reference incus reads.
  const check = (image: Topology['image'], path: TopologyPath): void => {
    if (typeof image === 'string' && !IMAGE_REFERENCE.test(image)) {
      problems.push(
        problem(
          'error',
          'invalid-image',
          path,
          `"${image}" is not an Incus image reference`,
          'Write [REMOTE:]ALIAS or a fingerprint: letters, digits and . _ - / +, starting with a letter or digit (e.g. images:debian/12).',
        ),
      );
    }
  };
  check(topology.image, ['image']);
  topology.containers.forEach((container, index) => {
    if (container.image !== undefined) check(container.image, ['containers', index, 'image']);
  });
}

/**
 * A MongoDB database name distctl accepts. MongoDB forbids `/ \ . " $`, space,
 * NUL (and on Windows `* < > : | ?`) and allows at most 63 bytes; distctl
 * further keeps to letters, digits, `_` and `-`, because the name also becomes
 * the path of the services' connection strings, where `?`, `&`, `#`, `%` or a
 * newline would change the URL's meaning.
 */
const DATABASE_NAME = /^[A-Za-z0-9_-]{1,63}$/;

function checkDatabaseName(database: string, path: TopologyPath, problems: TopologyProblem[]): void {
  if (DATABASE_NAME.test(database)) return;
  problems.push(
    problem(
      'error',
      'invalid-database-name',
      path,
      `database name ${JSON.stringify(database)} is not allowed`,
      'Use 1–63 letters, digits, "_" or "-" (MongoDB forbids / \\ . " $ space and NUL; ? & # % would rewrite connection strings).',
    ),
  );
}

/** Incus instance names double as hostnames: RFC 1123 labels that do not start with a digit. */
const INSTANCE_NAME = /^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

function checkNetwork(topology: Topology, problems: TopologyProblem[]): Ipv4Subnet | null {
  const { network } = topology;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(network.name)) {
    problems.push(
      problem(
        'error',
        'invalid-network-name',
        ['network', 'name'],
        `network name "${network.name}" is not a valid interface name`,
        'Use at most 15 letters, digits, "-", "_" or ".", e.g. incusbr0.',
      ),
    );
  }
  // Incus names the VXLAN interface BRIDGE-vx (see plan's TUNNEL_NAME); Linux allows 15 characters.
  if (network.tunnel !== undefined && network.name.length > 12) {
    problems.push(
      problem(
        'error',
        'network-name-too-long-for-tunnel',
        ['network', 'name'],
        `network name "${network.name}" is too long for a VXLAN tunnel (Incus names its interface ${network.name}-vx)`,
        'Use at most 12 characters, e.g. distclbr0.',
      ),
    );
  }
  const parsed = parseSubnet(network.subnet);
  if (parsed === null) {
    problems.push(
      problem(
        'error',
        'invalid-subnet',
        ['network', 'subnet'],
        `"${network.subnet}" is not a valid IPv4 network`,
        'Write it as a.b.c.d/n with octets 0–255, e.g. 10.10.10.0/24.',
      ),
    );
    return null;
  }
  const { subnet, hostBitsSet } = parsed;
  if (hostBitsSet) {
    problems.push(
      problem(
        'error',
        'subnet-host-bits',
        ['network', 'subnet'],
        `"${network.subnet}" has host bits set`,
        `Did you mean ${formatIpv4(subnet.network)}/${subnet.prefixLength}?`,
      ),
    );
  }
  if (subnet.prefixLength < 8 || subnet.prefixLength > 30) {
    problems.push(
      problem(
        'error',
        'subnet-size',
        ['network', 'subnet'],
        `prefix /${subnet.prefixLength} is not usable for a container bridge`,
        'Use a prefix between /8 and /30, e.g. /24.',
      ),
    );
  }
  checkHostAddress(network.gateway, subnet, ['network', 'gateway'], 'gateway', problems);
  return subnet;
}

/** An address a host can hold: parses, inside the subnet, not its network or broadcast address. */
function checkHostAddress(
  text: string,
  subnet: Ipv4Subnet,
  path: TopologyPath,
  what: string,
  problems: TopologyProblem[],
): number | null {
  const address = parseIpv4(text);
  const range = `${formatIpv4(subnet.network + 1)}–${formatIpv4(subnet.broadcast - 1)}`;
  if (address === null) {
    problems.push(
      problem(
        'error',
        'invalid-ip',
        path,
        `${what} "${text}" is not a valid IPv4 address`,
        'Each of the four numbers must be 0–255.',
      ),
    );
    return null;
  }
  if (!subnetContains(subnet, address)) {
    problems.push(
      problem(
        'error',
        'ip-outside-subnet',
        path,
        `${what} ${text} is outside the network's subnet ${formatIpv4(subnet.network)}/${subnet.prefixLength}`,
        `Pick an address in ${range}, or change network.subnet.`,
      ),
    );
    return null;
  }
  if (address === subnet.network || address === subnet.broadcast) {
    const which = address === subnet.network ? 'network' : 'broadcast';
    problems.push(
      problem(
        'error',
        'ip-reserved',
        path,
        `${what} ${text} is the subnet's ${which} address`,
        `Pick an address in ${range}.`,
      ),
    );
    return null;
  }
  return address;
}

function checkContainers(topology: Topology, subnet: Ipv4Subnet | null, problems: TopologyProblem[]): Set<string> {
  const names = new Map<string, number>();
  const ips = new Map<string, number>();
  const gateway = parseIpv4(topology.network.gateway);
  topology.containers.forEach((container, index) => {
    const path = ['containers', index];
    if (!INSTANCE_NAME.test(container.name)) {
      problems.push(
        problem(
          'error',
          'invalid-container-name',
          [...path, 'name'],
          `"${container.name}" is not a valid Incus instance name`,
          'Use 1–63 letters, digits and "-", starting with a letter and not ending with "-" (e.g. db1).',
        ),
      );
    }
    const first = names.get(container.name);
    if (first !== undefined) {
      problems.push(
        problem(
          'error',
          'duplicate-container',
          [...path, 'name'],
          `container name "${container.name}" is already used by containers[${first}]`,
          'Give every container a unique name.',
        ),
      );
    } else names.set(container.name, index);

    if (subnet !== null) {
      const address = checkHostAddress(
        container.ipv4,
        subnet,
        [...path, 'ipv4'],
        `container ${container.name}'s address`,
        problems,
      );
      if (address !== null && address === gateway) {
        problems.push(
          problem(
            'error',
            'ip-is-gateway',
            [...path, 'ipv4'],
            `container ${container.name}'s address ${container.ipv4} is the network gateway`,
            'The bridge itself holds the gateway address; pick another.',
          ),
        );
      }
    }
    const owner = ips.get(container.ipv4);
    if (owner !== undefined) {
      problems.push(
        problem(
          'error',
          'duplicate-ip',
          [...path, 'ipv4'],
          `address ${container.ipv4} is already assigned to ${topology.containers[owner]?.name ?? `containers[${owner}]`}`,
          'Give every container its own address.',
        ),
      );
    } else ips.set(container.ipv4, index);
  });
  return new Set(names.keys());
}

/** Databases by name: what kind each is, for reference checks. */
type DatabaseIndex = Map<string, 'replicaSet' | 'standalone'>;

function checkContainerRef(
  containers: Set<string>,
  name: string,
  path: TopologyPath,
  problems: TopologyProblem[],
): void {
  if (!containers.has(name)) {
    problems.push(
      problem(
        'error',
        'unknown-container',
        path,
        `container "${name}" is not defined`,
        `Define it under containers, or use one of: ${[...containers].join(', ') || '(none)'}.`,
      ),
    );
  }
}

function checkDatabases(topology: Topology, containers: Set<string>, problems: TopologyProblem[]): DatabaseIndex {
  const databases: DatabaseIndex = new Map();
  const envVars = new Map<string, string>();
  const claim = (dbName: string, kind: 'replicaSet' | 'standalone', env: string, path: TopologyPath): void => {
    if (databases.has(dbName)) {
      problems.push(
        problem(
          'error',
          'duplicate-database',
          [...path, 'name'],
          `database name "${dbName}" is used twice`,
          'Replica sets and standalones share one namespace; rename one.',
        ),
      );
    } else databases.set(dbName, kind);
    const envOwner = envVars.get(env);
    if (envOwner !== undefined) {
      problems.push(
        problem(
          'error',
          'duplicate-env',
          [...path, 'env'],
          `environment variable ${env} already carries ${envOwner}'s connection string`,
          'Give each database its own variable name.',
        ),
      );
    } else envVars.set(env, dbName);
  };

  topology.mongodb.replicaSets.forEach((set, index) => {
    const path = ['mongodb', 'replicaSets', index];
    claim(set.name, 'replicaSet', set.env, path);
    checkDatabaseName(set.database, [...path, 'database'], problems);
    if (!/^[a-zA-Z0-9_-]+$/.test(set.name)) {
      problems.push(
        problem(
          'error',
          'invalid-replica-set-name',
          [...path, 'name'],
          `replica set name "${set.name}" contains characters MongoDB does not allow`,
          'Use letters, digits, "-" and "_".',
        ),
      );
    }
    const seen = new Map<string, number>();
    set.members.forEach((member, memberIndex) => {
      const memberPath = [...path, 'members', memberIndex];
      checkContainerRef(containers, member.container, [...memberPath, 'container'], problems);
      const key = `${member.container}:${member.port}`;
      const first = seen.get(key);
      if (first !== undefined) {
        problems.push(
          problem(
            'error',
            'duplicate-member',
            memberPath,
            `member ${key} is listed twice in replica set ${set.name} (also members[${first}])`,
            'Each member needs its own container:port.',
          ),
        );
      } else seen.set(key, memberIndex);
    });
    if (set.members.length > 7) {
      problems.push(
        problem(
          'error',
          'too-many-voters',
          [...path, 'members'],
          `replica set ${set.name} has ${set.members.length} members; MongoDB allows at most 7 voting members`,
          'Use at most 7 members.',
        ),
      );
    }
    if (set.members.length > 0 && set.members.every((member) => member.priority === 0)) {
      problems.push(
        problem(
          'error',
          'no-electable-member',
          [...path, 'members'],
          `no member of ${set.name} has a priority above 0, so none can become PRIMARY`,
          'Give at least one member priority ≥ 1.',
        ),
      );
    }
    const hosts = new Set(set.members.map((member) => member.container));
    if (set.members.length > 1 && hosts.size === 1) {
      problems.push(
        problem(
          'warning',
          'members-share-container',
          [...path, 'members'],
          `all members of ${set.name} run in container ${[...hosts][0]}`,
          'This survives a mongod crash but not the loss of that container; spread members over containers for real redundancy.',
        ),
      );
    }
    if (set.members.length % 2 === 0) {
      problems.push(
        problem(
          'warning',
          'even-members',
          [...path, 'members'],
          `replica set ${set.name} has an even number of members (${set.members.length})`,
          'An odd count avoids split votes; add a member or an arbiter.',
        ),
      );
    }
  });

  topology.mongodb.standalones.forEach((standalone, index) => {
    const path = ['mongodb', 'standalones', index];
    claim(standalone.name, 'standalone', standalone.env, path);
    checkDatabaseName(standalone.database, [...path, 'database'], problems);
    checkContainerRef(containers, standalone.container, [...path, 'container'], problems);
  });
  return databases;
}

function checkSharding(topology: Topology, databases: DatabaseIndex, problems: TopologyProblem[]): void {
  const { sharding } = topology;
  if (sharding === undefined) {
    const webIndex = topology.services.findIndex((service) => service.kind === 'web');
    if (webIndex >= 0) {
      problems.push(
        problem(
          'error',
          'missing-sharding',
          ['services', webIndex],
          'a web service needs a sharding section to know where products live',
          'Add sharding.ranges (e.g. A–M on one replica set, N–Z on another).',
        ),
      );
    }
    return;
  }
  const setNames = [...databases].filter(([, kind]) => kind === 'replicaSet').map(([name]) => name);
  const checkShardRef = (name: string, path: TopologyPath): void => {
    if (databases.get(name) !== 'replicaSet') {
      const what = databases.has(name)
        ? `"${name}" is a standalone, not a replica set`
        : `replica set "${name}" is not defined`;
      problems.push(
        problem(
          'error',
          'unknown-replica-set',
          path,
          what,
          `Shards are replica sets; use one of: ${setNames.join(', ') || '(none defined under mongodb.replicaSets)'}.`,
        ),
      );
    }
  };
  if (sharding.defaultShard !== undefined) checkShardRef(sharding.defaultShard, ['sharding', 'defaultShard']);

  const owner = new Map<number, number>();
  sharding.ranges.forEach((range, index) => {
    const path = ['sharding', 'ranges', index];
    checkShardRef(range.replicaSet, [...path, 'replicaSet']);
    const from = letterIndex(range.from);
    const to = letterIndex(range.to);
    if (from > to) {
      problems.push(
        problem(
          'error',
          'range-reversed',
          path,
          `range ${range.from}–${range.to} runs backwards`,
          `Write it as ${range.to}–${range.from}.`,
        ),
      );
      return;
    }
    const clashes = new Set<number>();
    for (let letter = from; letter <= to; letter++) {
      const previous = owner.get(letter);
      if (previous !== undefined) clashes.add(previous);
      else owner.set(letter, index);
    }
    for (const previous of clashes) {
      const other = sharding.ranges[previous];
      const shared = ROUTING_ALPHABET.filter(
        (_, letter) => letter >= from && letter <= to && owner.get(letter) === previous,
      );
      problems.push(
        problem(
          'error',
          'range-overlap',
          path,
          `range ${range.from}–${range.to} overlaps ranges[${previous}] (${other?.from}–${other?.to}) on ${shared.join(', ')}`,
          'Each first letter must belong to exactly one range.',
        ),
      );
    }
  });
  const uncovered = ROUTING_ALPHABET.filter((_, letter) => !owner.has(letter));
  if (uncovered.length > 0 && sharding.defaultShard === undefined) {
    problems.push(
      problem(
        'error',
        'range-gap',
        ['sharding', 'ranges'],
        `no range covers ${uncovered.join(', ')}`,
        'Extend the ranges to cover every letter A–Z and Ñ, or name sharding.defaultShard to take the rest.',
      ),
    );
  }
}

function checkServices(
  topology: Topology,
  containers: Set<string>,
  databases: DatabaseIndex,
  problems: TopologyProblem[],
): void {
  const services = new Map<string, string>();
  topology.services.forEach((service, index) => {
    const path = ['services', index];
    if (services.has(service.name)) {
      problems.push(
        problem(
          'error',
          'duplicate-service',
          [...path, 'name'],
          `service name "${service.name}" is used twice`,
          'Give every service a unique name.',
        ),
      );
    } else services.set(service.name, service.kind);
    if (!INSTANCE_NAME.test(service.name)) {
      problems.push(
        problem(
          'error',
          'invalid-service-name',
          [...path, 'name'],
          `"${service.name}" is not a valid service name`,
          'It names a systemd unit: use letters, digits and "-", starting with a letter.',
        ),
      );
    }
    checkContainerRef(containers, service.container, [...path, 'container'], problems);
  });
  topology.services.forEach((service, index) => {
    const path = ['services', index];
    if (service.kind === 'auth') {
      const kind = databases.get(service.database);
      if (kind === undefined) {
        problems.push(
          problem(
            'error',
            'unknown-database',
            [...path, 'database'],
            `database "${service.database}" is not defined`,
            `Use one of: ${[...databases.keys()].join(', ') || '(none defined under mongodb)'}.`,
          ),
        );
      } else if (kind === 'standalone') {
        problems.push(
          problem(
            'warning',
            'users-on-standalone',
            [...path, 'database'],
            `users live on standalone "${service.database}": no replica, no failover`,
            'Losing that container loses every account; consider a replica set for users.',
          ),
        );
      }
    } else {
      const authKind = services.get(service.auth);
      if (authKind !== 'auth') {
        const what =
          authKind === undefined
            ? `service "${service.auth}" is not defined`
            : `service "${service.auth}" is not an auth service`;
        const authNames = topology.services.filter((other) => other.kind === 'auth').map((other) => other.name);
        problems.push(
          problem(
            'error',
            'unknown-auth-service',
            [...path, 'auth'],
            what,
            `Name a service with kind: auth (${authNames.join(', ') || 'none defined'}).`,
          ),
        );
      }
    }
  });
}

/** One listening port per container: mongod members, standalones and services all compete for them. */
function checkPorts(topology: Topology, problems: TopologyProblem[]): void {
  const taken = new Map<string, string>();
  const claim = (container: string, port: number, what: string, path: TopologyPath): void => {
    const key = `${container}:${port}`;
    const owner = taken.get(key);
    if (owner !== undefined) {
      problems.push(
        problem(
          'error',
          'port-conflict',
          path,
          `port ${port} in container ${container} is taken twice: by ${owner} and by ${what}`,
          'Give each process in a container its own port.',
        ),
      );
    } else taken.set(key, what);
  };
  topology.mongodb.replicaSets.forEach((set, index) => {
    const seen = new Set<string>();
    set.members.forEach((member, memberIndex) => {
      const key = `${member.container}:${member.port}`;
      if (seen.has(key)) return; // reported as duplicate-member already
      seen.add(key);
      claim(member.container, member.port, `${set.name} member`, [
        'mongodb',
        'replicaSets',
        index,
        'members',
        memberIndex,
        'port',
      ]);
    });
  });
  topology.mongodb.standalones.forEach((standalone, index) => {
    claim(standalone.container, standalone.port, `standalone ${standalone.name}`, [
      'mongodb',
      'standalones',
      index,
      'port',
    ]);
  });
  topology.services.forEach((service, index) => {
    claim(service.container, service.port, `service ${service.name}`, ['services', index, 'port']);
  });
}

function checkExpose(topology: Topology, containers: Set<string>, problems: TopologyProblem[]): void {
  const listeners = new Map<string, number>();
  const served = new Set([
    ...topology.services.map((service) => `${service.container}:${service.port}`),
    ...topology.mongodb.standalones.map((standalone) => `${standalone.container}:${standalone.port}`),
    ...topology.mongodb.replicaSets.flatMap((set) => set.members.map((member) => `${member.container}:${member.port}`)),
  ]);
  topology.expose.forEach((entry, index) => {
    const path = ['expose', index];
    checkContainerRef(containers, entry.container, [...path, 'container'], problems);
    const [address = '', portText = ''] = entry.listen.split(':');
    const port = Number(portText);
    if (parseIpv4(address) === null || port < 1 || port > 65535) {
      problems.push(
        problem(
          'error',
          'invalid-listen',
          [...path, 'listen'],
          `"${entry.listen}" is not a valid host address and port`,
          'Use ADDRESS:PORT with a port 1–65535, e.g. 127.0.0.1:3000.',
        ),
      );
      return;
    }
    const first = listeners.get(entry.listen);
    if (first !== undefined) {
      problems.push(
        problem(
          'error',
          'duplicate-listen',
          [...path, 'listen'],
          `host address ${entry.listen} is already used by expose[${first}]`,
          'Each exposed port needs its own host address:port.',
        ),
      );
    } else listeners.set(entry.listen, index);
    if (!address.startsWith('127.')) {
      problems.push(
        problem(
          'warning',
          'exposed-beyond-loopback',
          [...path, 'listen'],
          `${entry.listen} makes ${entry.container}:${entry.port} reachable from other machines`,
          'Use 127.0.0.1 unless other machines must reach it.',
        ),
      );
    }
    if (containers.has(entry.container) && !served.has(`${entry.container}:${entry.port}`)) {
      problems.push(
        problem(
          'warning',
          'exposed-port-unused',
          [...path, 'port'],
          `nothing declared in this topology listens on ${entry.container}:${entry.port}`,
          'Check the port against the service or database you mean to expose.',
        ),
      );
    }
  });
}
