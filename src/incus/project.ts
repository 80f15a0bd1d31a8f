import { onRemote, type IncusCall } from './client.js';
import { OWNER_KEY } from './types.js';

/**
 * The one `incus project create` distctl makes: images from the default project, networks shared, the project
 * marked as distctl's. `ownProfiles` gives it profiles of its own, as `import` needs (Incus restricts only such
 * projects). They must be there from creation: turned on later in the still empty project, Incus 6.0 makes the
 * project's `default` profile, but `incus create` without `-p` then finds no root disk (measured). On a remote the
 * project is addressed as `REMOTE:NAME`.
 */
export function createProjectCall(project: string, ownProfiles: boolean, remote: string | null = null): IncusCall {
  return {
    args: [
      'project',
      'create',
      '-c',
      'features.images=false',
      '-c',
      `features.profiles=${ownProfiles}`,
      '-c',
      'features.networks=false',
      '-c',
      `${OWNER_KEY}=${project}`,
      '--',
      onRemote(remote, project),
    ],
  };
}
