/**
 * A small deployment for the deploy tests: auth and web services in their own containers, one
 * replica set and the users standalone on a third; each caller names its own project, bridge and
 * subnet (`10.x.y`, without the last octet) so no two tests share one.
 */
export function servicesTopology(names: { project: string; bridge: string; subnet: string }): string {
  const { project, bridge, subnet } = names;
  return `
version: 1
project: ${project}
image: debian12-distctl
network: { name: ${bridge}, subnet: ${subnet}.0/24, gateway: ${subnet}.1 }
containers:
  - { name: auth, ipv4: ${subnet}.10 }
  - { name: web, ipv4: ${subnet}.11 }
  - { name: db, ipv4: ${subnet}.12 }
mongodb:
  source: image
  replicaSets:
    - { name: rsA, database: products_db, env: DB1_URL, members: [{ container: db, port: 27017 }] }
  standalones:
    - { name: users, container: db, port: 27019, database: auth_db, env: DB3_URL }
sharding:
  defaultShard: rsA
  ranges: [{ from: A, to: Z, replicaSet: rsA }]
services:
  - { name: auth-server, kind: auth, container: auth, port: 5000, database: users }
  - { name: web-server, kind: web, container: web, port: 3000, auth: auth-server }
`;
}
