import { z } from 'zod';
import { BUILDABLE_SUITES } from '../image/recipe.js';

/**
 * Shape of `topology.yaml`. Every object is strict: an unknown key is an error
 * (a typo must never be silently dropped). Cross-field rules (IPs in subnet,
 * references, ranges) live in `semantic.ts`, so that all of them are reported
 * at once rather than one per run.
 */

const name = z.string().min(1, 'must not be empty');

const port = z.number().int('must be a whole number').min(1, 'must be at least 1').max(65535, 'must be at most 65535');

const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'must be a dotted IPv4 address such as 10.10.10.12');

const cidr = z
  .string()
  .regex(
    /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/,
    'must be an IPv4 network in CIDR form such as 10.10.10.0/24',
  );

const letter = z.string().regex(/^[A-ZÑ]$/u, 'must be one capital letter A–Z or Ñ');

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name such as DB1_URL');

const buildableSuite = new RegExp(`^debian/(${BUILDABLE_SUITES.join('|')})$`);
const buildableNames = BUILDABLE_SUITES.map((suite) => `debian/${suite}`).join(', ');

/**
 * Where containers start from: an image Incus has or fetches (`images:ubuntu/22.04`,
 * a local alias), or one distctl builds itself with debootstrap (`{ build: debian/bookworm }`).
 */
export const imageSchema = z.union(
  [
    z.string().min(1, 'must name an image, such as images:ubuntu/22.04 or a local alias'),
    z.strictObject({
      build: z.string().regex(buildableSuite, `must be debian/SUITE, one of ${buildableNames}`),
    }),
  ],
  { error: 'must be an image name (images:ubuntu/22.04, a local alias) or { build: debian/bookworm }' },
);

/**
 * The VXLAN tunnel joining the bridges of an Incus cluster's members into one
 * layer-2 segment (Incus bridge `tunnel.NAME.*` keys). Multicast needs no
 * per-member settings: every member's bridge carries the same keys.
 */
export const tunnelSchema = z.strictObject({
  /** VXLAN network identifier; must be unique among the VXLAN segments of the members' network. */
  id: z.number().int('must be a whole number').min(1, 'must be at least 1').max(16_777_215, 'must be at most 16777215'),
  /** Multicast group the members' tunnel endpoints join. */
  group: ipv4.default('239.0.0.1'),
  /** The member's interface the VXLAN traffic leaves by (default: the one of the default route). */
  interface: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,14}$/, 'must be an interface name such as eth0')
    .optional(),
});

export const networkSchema = z.strictObject({
  name,
  subnet: cidr,
  gateway: ipv4,
  nat: z.boolean().default(true),
  /** Only for an Incus cluster: how the members' bridges are joined (see docs/cluster.md). */
  tunnel: tunnelSchema.optional(),
});

/** Which Incus distctl talks to: a remote name from `incus remote list` (a cluster, or a single server). */
export const incusSchema = z.strictObject({
  remote: z
    .string()
    .regex(
      /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/,
      'must be a remote name from `incus remote list`: letters, digits, ".", "-" and "_"',
    ),
});

export const containerSchema = z.strictObject({
  name,
  ipv4,
  /** Image for this container only; defaults to the top-level image. */
  image: imageSchema.optional(),
  /** Cluster member to place the container on (`incus create --target`); needs a clustered Incus. */
  target: z.string().min(1, 'must name a cluster member').optional(),
});

export const memberSchema = z.strictObject({
  container: name,
  port,
  priority: z.number().min(0, 'must be between 0 and 1000').max(1000, 'must be between 0 and 1000').default(1),
});

export const replicaSetSchema = z.strictObject({
  name,
  database: name,
  env: envName,
  members: z.array(memberSchema).min(1, 'a replica set needs at least one member'),
  /** Place each member's container on a different cluster member (needs a clustered Incus). */
  spread: z.boolean().default(false),
});

export const standaloneSchema = z.strictObject({
  name,
  container: name,
  port,
  database: name,
  env: envName,
});

const mongoSourceSchema = z.union(
  [
    z.literal('repository'),
    z.literal('image'),
    z.strictObject({ archive: z.string().min(1, 'must be the path of a MongoDB server .tgz') }),
  ],
  { error: 'must be `repository`, `image`, or `{ archive: PATH }`' },
);

export const mongodbSchema = z.strictObject({
  version: z
    .string()
    .regex(/^\d+\.\d+(\.\d+)?$/, 'must be a MongoDB version such as "7.0" (quote it in YAML)')
    .default('7.0'),
  source: mongoSourceSchema.default('repository'),
  // WiredTiger cache per mongod, overriding the share of the container's memory distctl computes.
  cacheSizeGB: z.number().min(0.25, "must be at least 0.25 (MongoDB's minimum)").max(10_000).optional(),
  replicaSets: z.array(replicaSetSchema).default([]),
  standalones: z.array(standaloneSchema).default([]),
});

export const rangeSchema = z.strictObject({
  from: letter,
  to: letter,
  replicaSet: name,
});

export const shardingSchema = z.strictObject({
  defaultShard: name.optional(),
  ranges: z.array(rangeSchema).min(1, 'list at least one range'),
});

export const serviceSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      name,
      kind: z.literal('auth'),
      container: name,
      port,
      /** A standalone or replica set holding the users collection. */
      database: name,
    }),
    z.strictObject({
      name,
      kind: z.literal('web'),
      container: name,
      port,
      /** The auth service this web service proxies registration/login to. */
      auth: name,
    }),
  ],
  { error: 'must have `kind: auth` or `kind: web`' },
);

export const exposeSchema = z.strictObject({
  container: name,
  port,
  listen: z
    .string()
    .regex(
      /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/,
      'must be ADDRESS:PORT on the host, such as 127.0.0.1:3000',
    ),
});

export const topologySchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1 (the only topology format this distctl reads)' }),
  project: z
    .string()
    .regex(
      /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$/,
      'must be an Incus project name: letters, digits, - and _, at most 63 characters',
    )
    .default('distctl'),
  /** The Incus to talk to; absent: the client's default remote (normally the local daemon). */
  incus: incusSchema.optional(),
  image: imageSchema,
  network: networkSchema,
  containers: z.array(containerSchema).min(1, 'list at least one container'),
  mongodb: mongodbSchema.default({ version: '7.0', source: 'repository', replicaSets: [], standalones: [] }),
  sharding: shardingSchema.optional(),
  services: z.array(serviceSchema).default([]),
  expose: z.array(exposeSchema).default([]),
});

/** A topology after shape validation (defaults applied). */
export type Topology = z.infer<typeof topologySchema>;
export type ImageSpec = Topology['image'];
