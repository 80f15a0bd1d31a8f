import { stringify } from 'yaml';
import type { DerivedContainer } from '../derive/types.js';
import { onRemote, type IncusCall, type IncusScope } from '../incus/client.js';
import { createProjectCall } from '../incus/project.js';
import { OWNER_KEY, PLACEMENT_KEY, ROLE_KEY } from '../incus/types.js';
import { INTERFACES_PATH, RESOLV_CONF_PATH, staticAddressCalls, staticAddressRecord } from './static-address.js';
import type { Action } from './types.js';

/**
 * The instance config and devices distctl creates a container with (sent as YAML on stdin, one call). A
 * placed container records its member, so a later move is drift of that container, not of another.
 */
export function instanceDefinition(container: DerivedContainer, project: string, member: string | null = null): string {
  return stringify({
    config: {
      [OWNER_KEY]: project,
      [ROLE_KEY]: container.name,
      'user.distctl.image': container.image,
      ...(member === null ? {} : { [PLACEMENT_KEY]: member }),
    },
    devices: { eth0: nicDevice(container) },
  });
}

function nicDevice(container: DerivedContainer): Record<string, string> {
  return { type: 'nic', name: 'eth0', network: container.nic.network, 'ipv4.address': container.nic.ipv4Address };
}

function keyValues(config: Readonly<Record<string, string>>): string[] {
  return Object.entries(config).map(([key, value]) => `${key}=${value}`);
}

/**
 * The image `incus create` starts from: on a remote, a name without its own remote (`debian12-distctl`, a
 * fingerprint) is the remote's image; `images:debian/12` keeps naming its image server.
 */
function imageOn(remote: string | null, image: string): string {
  return image.includes(':') ? image : onRemote(remote, image);
}

/**
 * The incus calls one action makes, in order. Options come first and `--` ends
 * them, so no name or value from the topology is ever read as an option. Every
 * name is addressed on the scope's remote (`REMOTE:NAME`) when it has one.
 */
export function incusCallsFor(action: Action, scope: IncusScope | string): IncusCall[] {
  // A bare project name addresses the client's default remote.
  const { project, remote } = typeof scope === 'string' ? { project: scope, remote: null } : scope;
  const on = (name: string): string => onRemote(remote, name);
  switch (action.kind) {
    case 'create-project':
      return [createProjectCall(action.project, false, remote)];
    case 'create-network':
      // On a cluster the network is first defined on every member (`--target`: pending there), then created
      // with its config once for all; Incus refuses the final call while any member lacks its pending one.
      return [
        ...action.members.map((member) => ({
          args: ['network', 'create', '--type', 'bridge', '--target', member, '--', on(action.network.name)],
        })),
        {
          args: ['network', 'create', '--type', 'bridge', '--', on(action.network.name), ...keyValues(action.config)],
        },
      ];
    case 'update-network':
      return [{ args: ['network', 'set', '--', on(action.network), ...keyValues(action.set)] }];
    case 'create-instance': {
      const { container } = action;
      return [
        {
          args: [
            'create',
            ...(action.member === null ? [] : ['--target', action.member]),
            '--',
            imageOn(remote, container.image),
            on(container.name),
          ],
          project,
          input: instanceDefinition(container, project, action.member),
        },
      ];
    }
    case 'set-nic': {
      const { container } = action;
      const device = nicDevice(container);
      const add: IncusCall = {
        args: ['config', 'device', 'add', '--', on(container.name), 'eth0', 'nic', ...keyValues(withoutType(device))],
        project,
      };
      if (action.from === 'missing') return [add];
      if (action.replace) {
        return [{ args: ['config', 'device', 'remove', '--', on(container.name), 'eth0'], project }, add];
      }
      return [
        {
          args: [
            'config',
            'device',
            'set',
            '--',
            on(container.name),
            'eth0',
            `ipv4.address=${container.nic.ipv4Address}`,
          ],
          project,
        },
      ];
    }
    case 'write-address':
      return staticAddressCalls(on(action.container), action.address, project);
    case 'start-instance':
      return [{ args: [action.resume ? 'resume' : 'start', '--', on(action.container)], project }];
    case 'restart-instance':
      return [{ args: ['restart', '--', on(action.container)], project }];
    case 'add-proxy':
      return [
        {
          args: [
            'config',
            'device',
            'add',
            '--',
            on(action.proxy.container),
            action.proxy.device,
            'proxy',
            `listen=${action.proxy.listen}`,
            `connect=${action.proxy.connect}`,
            'bind=host',
          ],
          project,
        },
      ];
    case 'set-proxy':
      return [
        {
          args: [
            'config',
            'device',
            'set',
            '--',
            on(action.proxy.container),
            action.proxy.device,
            `listen=${action.proxy.listen}`,
            `connect=${action.proxy.connect}`,
          ],
          project,
        },
      ];
    case 'remove-proxy':
      return [{ args: ['config', 'device', 'remove', '--', on(action.container), action.device], project }];
    case 'delete-instance':
      return [{ args: ['delete', '--force', '--', on(action.container)], project }];
    case 'delete-network':
      return [{ args: ['network', 'delete', '--', on(action.network)] }];
    case 'delete-project':
      return [{ args: ['project', 'delete', '--', on(action.project)] }];
  }
}

function withoutType(device: Record<string, string>): Record<string, string> {
  const { type: _type, ...rest } = device;
  return rest;
}

/** The object an action is about, for progress lines and error messages. */
export function actionSubject(action: Action): string {
  switch (action.kind) {
    case 'create-project':
    case 'delete-project':
      return `project ${action.project}`;
    case 'create-network':
      return `network ${action.network.name}`;
    case 'update-network':
    case 'delete-network':
      return `network ${action.network}`;
    case 'create-instance':
    case 'set-nic':
      return `container ${action.container.name}`;
    case 'add-proxy':
    case 'set-proxy':
      return `container ${action.proxy.container}`;
    default:
      return `container ${action.container}`;
  }
}

/** One line per action, diff-style: `+` creates, `~` changes, `-` removes. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'create-project':
      return `+ project ${action.project}`;
    case 'create-network':
      return (
        `+ network ${action.network.name} (bridge ${action.network.ipv4Address}, NAT ${action.network.nat ? 'on' : 'off'}` +
        `${action.members.length === 0 ? '' : `, on members ${action.members.join(', ')}`})`
      );
    case 'update-network':
      return `~ network ${action.network}: ${Object.entries(action.set)
        .map(([key, value]) => `${key}=${value}`)
        .join(', ')}`;
    case 'create-instance':
      return (
        `+ container ${action.container.name} (image ${action.container.image}, ` +
        `eth0 ${action.container.nic.ipv4Address} on ${action.container.nic.network}` +
        `${action.member === null ? '' : `, on member ${action.member}`})`
      );
    case 'set-nic':
      return `~ container ${action.container.name}: eth0 ${action.from} → ${action.container.nic.ipv4Address} on ${action.container.nic.network}`;
    case 'write-address': {
      const was = action.from === null ? '' : ` (was ${action.from})`;
      const record = staticAddressRecord(action.address);
      const where = `raw.lxc, ${INTERFACES_PATH}, ${RESOLV_CONF_PATH}`;
      return `~ container ${action.container}: eth0 static ${record} (${where})${was}`;
    }
    case 'start-instance':
      return `~ container ${action.container}: ${action.resume ? 'resume (frozen)' : 'start'}`;
    case 'restart-instance':
      return `~ container ${action.container}: restart (${action.reason})`;
    case 'add-proxy':
      return `+ proxy ${action.proxy.listen} on the host → ${action.proxy.container} ${action.proxy.connect}`;
    case 'set-proxy':
      return (
        `~ proxy ${action.proxy.container}/${action.proxy.device}: was ${action.from}, ` +
        `now ${action.proxy.listen} → ${action.proxy.connect}`
      );
    case 'remove-proxy':
      return `- proxy ${action.container}/${action.device}`;
    case 'delete-instance':
      return `- container ${action.container} (${action.reason})`;
    case 'delete-network':
      return `- network ${action.network}`;
    case 'delete-project':
      return `- project ${action.project}`;
  }
}
