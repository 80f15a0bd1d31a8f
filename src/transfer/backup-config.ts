import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { parse } from 'yaml';
import type { DerivedProxy } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';

/** The files of an `incus export` tarball that describe the instance Incus will create on import. */
const DESCRIPTORS = ['backup/index.yaml', 'backup/container/backup.yaml'];
const DESCRIPTOR_MAX_BYTES = 4 * 1024 * 1024;

/** One instance definition found in a backup (the instance itself or a snapshot). */
interface InstanceDefinition {
  readonly where: string;
  readonly type: unknown;
  readonly config: Record<string, unknown>;
  readonly devices: Record<string, Record<string, unknown>>;
}

/**
 * Reads the instance definitions an Incus backup carries — `backup/index.yaml`
 * (`config.container`, `config.snapshots`) and `backup/container/backup.yaml`
 * (`container`, `snapshots`) — scanning the whole tarball, so a second copy of
 * a descriptor later in the archive cannot hide behind the first.
 */
export async function readBackupDefinitions(tarball: string): Promise<InstanceDefinition[]> {
  const found = new Map<string, string>();
  /** What is wrong with the descriptors: repeated or oversized. */
  const duplicates: string[] = [];
  const parser = extract();
  parser.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if (!DESCRIPTORS.includes(name)) {
      stream.on('end', next).resume();
      return;
    }
    if (found.has(name)) duplicates.push(`${name}: appears more than once`);
    const chunks: Buffer[] = [];
    let bytes = 0;
    stream.on('data', (chunk: unknown) => {
      const data = chunk as Buffer;
      bytes += data.length;
      if (bytes <= DESCRIPTOR_MAX_BYTES) chunks.push(data);
      else if (!duplicates.includes(`${name}: larger than ${DESCRIPTOR_MAX_BYTES} bytes`))
        duplicates.push(`${name}: larger than ${DESCRIPTOR_MAX_BYTES} bytes`);
    });
    stream.on('end', () => {
      found.set(name, Buffer.concat(chunks).toString('utf8'));
      next();
    });
  });
  const gzipped = await startsWithGzipMagic(tarball);
  try {
    if (gzipped) await pipeline(createReadStream(tarball), createGunzip(), parser);
    else await pipeline(createReadStream(tarball), parser);
  } catch (error) {
    throw new DistctlError(
      'BUNDLE_BACKUP_UNREADABLE',
      `${tarball} is not a readable Incus backup: ${(error as Error).message}; nothing was changed`,
      { hint: 'Copy the bundle again from where it was exported.' },
    );
  }
  const missing = DESCRIPTORS.filter((name) => !found.has(name));
  if (duplicates.length > 0 || missing.length > 0) {
    throw new DistctlError(
      'BUNDLE_BACKUP_UNREADABLE',
      `${tarball} is not an Incus container backup as distctl exports it; nothing was changed`,
      {
        details: [...duplicates, ...missing.map((name) => `${name}: missing`)],
        hint: 'Copy the bundle again from where it was exported.',
      },
    );
  }
  const index = asRecord(parse(found.get(DESCRIPTORS[0]!)!));
  const backup = asRecord(parse(found.get(DESCRIPTORS[1]!)!));
  const indexConfig = asRecord(index.config);
  return [
    definition('index.yaml config.container', indexConfig.container),
    ...asArray(indexConfig.snapshots).map((snapshot, position) =>
      definition(`index.yaml config.snapshots[${position}]`, snapshot),
    ),
    definition('backup.yaml container', backup.container),
    ...asArray(backup.snapshots).map((snapshot, position) =>
      definition(`backup.yaml snapshots[${position}]`, snapshot),
    ),
    // The top-level type says what Incus creates: a container or a virtual machine.
    { where: 'index.yaml', type: index.type, config: {}, devices: {} },
  ];
}

/** What an imported instance may carry without --allow-unsafe-config. */
export interface BackupPolicy {
  /** The proxies the topology declares for this container: the only proxy devices allowed. */
  readonly proxies: readonly DerivedProxy[];
}

/** Config keys that lift the container's isolation from the host. */
const UNSAFE_CONFIG = [
  /^raw\./,
  /^security\.privileged$/,
  /^security\.nesting$/,
  /^security\.syscalls\.intercept\./,
  /^security\.idmap\.(base|size)$/,
  /^linux\.kernel_modules$/,
];
/**
 * The one `raw.lxc` distctl writes (see src/plan/static-address.ts): eth0's address and default route, set by LXC
 * inside the container's own network namespace. Nothing in it reaches the host, so it is accepted; any other line
 * (mounts, capabilities, cgroup or AppArmor settings, hooks) is not.
 */
const IPV4 = String.raw`\d{1,3}(\.\d{1,3}){3}`;
const ADDRESS_LINE = new RegExp(
  String.raw`^lxc\.net\.0\.ipv4\.(address = ${IPV4}/\d{1,2}( ${IPV4})?|gateway = ${IPV4})$`,
);

function onlyAddressLines(rawLxc: string): boolean {
  const lines = rawLxc.split('\n').filter((line) => line.trim() !== '');
  return lines.length > 0 && lines.every((line) => ADDRESS_LINE.test(line));
}

/** Device types that hand the container a piece of the host. */
const UNSAFE_DEVICE_TYPES = new Set([
  'unix-char',
  'unix-block',
  'unix-hotplug',
  'usb',
  'gpu',
  'pci',
  'infiniband',
  'tpm',
]);

/**
 * Reasons a backup's instance definitions would give the imported container
 * more of the host than distctl ever gives one: privileged or nested, raw LXC
 * or AppArmor/seccomp settings, host paths or devices, NICs on host
 * interfaces, proxies the topology does not declare, or a virtual machine.
 */
export function unsafeInstanceSettings(definitions: readonly InstanceDefinition[], policy: BackupPolicy): string[] {
  const problems: string[] = [];
  for (const { where, type, config, devices } of definitions) {
    if (type !== undefined && type !== 'container')
      problems.push(`${where}: type ${String(type)} (distctl exports containers only)`);
    for (const [key, value] of Object.entries(config)) {
      if (!UNSAFE_CONFIG.some((pattern) => pattern.test(key))) continue;
      if (key === 'raw.lxc' && onlyAddressLines(String(value))) continue;
      if (
        (key === 'security.privileged' || key === 'security.nesting' || key.startsWith('security.syscalls.')) &&
        String(value) === 'false'
      )
        continue;
      problems.push(`${where}: config ${key}=${String(value)}`);
    }
    for (const [name, device] of Object.entries(devices)) {
      const kind = String(device.type ?? '');
      const text = `${where}: device ${name} (${Object.entries(device)
        .map(([key, value]) => `${key}=${String(value)}`)
        .join(', ')})`;
      if (UNSAFE_DEVICE_TYPES.has(kind)) problems.push(`${text}: hands a host device to the container`);
      else if (kind === 'disk' && (device.source !== undefined || device.path !== '/'))
        problems.push(`${text}: only the root disk is allowed, no host path or extra volume`);
      else if (
        kind === 'nic' &&
        (device.parent !== undefined || device.nictype !== undefined || device.network === undefined)
      )
        problems.push(`${text}: a NIC must attach to a managed network, not a host interface`);
      else if (
        kind === 'proxy' &&
        !policy.proxies.some(
          (proxy) =>
            proxy.device === name &&
            proxy.listen === device.listen &&
            proxy.connect === device.connect &&
            (device.bind ?? 'host') === 'host',
        )
      ) {
        problems.push(`${text}: not a proxy the topology declares`);
      } else if (!['disk', 'nic', 'proxy', 'none'].includes(kind))
        problems.push(`${text}: device type distctl does not create`);
    }
  }
  return problems;
}

function definition(where: string, raw: unknown): InstanceDefinition {
  const record = asRecord(raw);
  const devices = Object.fromEntries(
    Object.entries(asRecord(record.devices)).map(([name, device]) => [name, asRecord(device)]),
  );
  return { where, type: undefined, config: asRecord(record.config), devices };
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

async function startsWithGzipMagic(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}
