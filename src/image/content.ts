import { stringify } from 'yaml';
import { DistctlError } from '../errors/index.js';
import type { MirrorChoice } from './apt-sources.js';

/** One architecture under the names the two tools want: Debian's for debootstrap, the kernel's for Incus. */
export interface ImageArchitecture {
  readonly debian: string;
  readonly incus: string;
}

const ARCHITECTURES: Readonly<Record<string, ImageArchitecture>> = {
  x64: { debian: 'amd64', incus: 'x86_64' },
  arm64: { debian: 'arm64', incus: 'aarch64' },
};

/** Maps Node's `process.arch` to the names debootstrap and Incus use; throws for anything else. */
export function imageArchitecture(nodeArch: string): ImageArchitecture {
  const arch = ARCHITECTURES[nodeArch];
  if (arch === undefined) {
    throw new DistctlError('IMAGE_ARCH_UNSUPPORTED', `Cannot build an image for host architecture \`${nodeArch}\`.`, {
      hint:
        `distctl image build supports ${Object.keys(ARCHITECTURES).join(', ')}; ` +
        'import an image built elsewhere instead.',
    });
  }
  return arch;
}

/** A file to place in the image, relative to its root. */
export interface ImageFile {
  readonly path: string;
  readonly content: string;
}

/**
 * Incus renders these on instance create/copy, exactly as the official images do,
 * so each container gets its own name in /etc/hostname and /etc/hosts.
 */
export const IMAGE_TEMPLATES: readonly ImageFile[] = [
  { path: 'hostname.tpl', content: '{{ instance.name }}\n' },
  {
    path: 'hosts.tpl',
    content: [
      '127.0.0.1\tlocalhost',
      '127.0.1.1\t{{ instance.name }}',
      '',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'ff02::1\tip6-allnodes',
      'ff02::2\tip6-allrouters',
      '',
    ].join('\n'),
  },
];

/** `metadata.yaml` for a unified image tarball: architecture, creation date, properties, templates. */
export function imageMetadataYaml(options: { arch: ImageArchitecture; suite: string; createdAt: Date }): string {
  const template = (file: string) => ({ when: ['create', 'copy'], create_only: false, template: file, properties: {} });
  return stringify({
    architecture: options.arch.incus,
    creation_date: Math.floor(options.createdAt.getTime() / 1000),
    properties: {
      architecture: options.arch.debian,
      description: `Debian ${options.suite} ${options.arch.debian} (distctl, debootstrap minbase + systemd)`,
      os: 'debian',
      release: options.suite,
      variant: 'distctl',
      serial: options.createdAt.toISOString().replace(/[-:]/g, '').slice(0, 13),
    },
    templates: {
      '/etc/hostname': template('hostname.tpl'),
      '/etc/hosts': template('hosts.tpl'),
    },
  });
}

/**
 * Files written into the root filesystem after debootstrap. eth0 is brought up by
 * ifupdown + dhclient because systemd-networkd in a container waits for udev and
 * never configures it; on an Incus bridge the DHCP lease is the NIC's reserved
 * `ipv4.address`. apt points at the mirror the image was built from (plus the
 * host's security source when it has one), in deb822 form.
 */
export function rootfsFiles(options: {
  suite: string;
  mirror: MirrorChoice;
  security: MirrorChoice | undefined;
}): ImageFile[] {
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  const stanza = (uri: string, suites: string, components: readonly string[]) =>
    [
      `Types: deb`,
      `URIs: ${uri}`,
      `Suites: ${suites}`,
      `Components: ${components.length > 0 ? components.join(' ') : 'main'}`,
      `Signed-By: ${keyring}`,
    ].join('\n');
  const stanzas = [stanza(options.mirror.uri, `${options.suite} ${options.suite}-updates`, options.mirror.components)];
  if (options.security !== undefined)
    stanzas.push(stanza(options.security.uri, `${options.suite}-security`, options.security.components));
  return [
    {
      path: 'etc/network/interfaces',
      content: [
        '# Written by distctl image build.',
        'auto lo',
        'iface lo inet loopback',
        '',
        'auto eth0',
        'iface eth0 inet dhcp',
        '',
      ].join('\n'),
    },
    { path: 'etc/apt/sources.list.d/debian.sources', content: `${stanzas.join('\n\n')}\n` },
    // Replaced per instance by the templates; a neutral value until then instead of the build host's name.
    { path: 'etc/hostname', content: 'debian\n' },
    { path: 'etc/hosts', content: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' },
    // Empty, so systemd generates a distinct machine-id on each instance's first boot.
    { path: 'etc/machine-id', content: '' },
  ];
}

/**
 * Files removed from the root filesystem: the one-line source debootstrap wrote
 * (superseded by debian.sources), the build host's resolver (dhclient writes the
 * container's own), and dbus' copy of the machine-id.
 */
export const ROOTFS_REMOVED: readonly string[] = ['etc/apt/sources.list', 'etc/resolv.conf', 'var/lib/dbus/machine-id'];

/**
 * Packages on top of debootstrap's minbase: systemd as PID 1, DHCP networking via ifupdown, and the zone database
 * mongod needs.
 */
export const IMAGE_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'iproute2',
  'ifupdown',
  'isc-dhcp-client',
  'ca-certificates',
  // mongod refuses to start without the zone database its config names (processManagement.timeZoneInfo).
  'tzdata',
];
