import { createHash } from 'node:crypto';
import {
  IMAGE_PACKAGES,
  IMAGE_TEMPLATES,
  ROOTFS_REMOVED,
  imageArchitecture,
  imageMetadataYaml,
  rootfsFiles,
} from './content.js';

/**
 * Bumped when `build.ts` changes what ends up in an image in a way the content
 * below does not show (debootstrap options, chroot steps), so such a change
 * gets a new alias and a fresh build instead of reusing an older image.
 */
const BUILD_STEPS_VERSION = 1;

/** The Debian suites `image: { build: debian/SUITE }` accepts: those debootstrap on Debian 12 knows. */
export const BUILDABLE_SUITES: readonly string[] = ['bullseye', 'bookworm', 'trixie'];

/** An image distctl builds itself, as the topology names it (`{ build: debian/bookworm }`). */
export interface ImageRecipe {
  readonly distro: 'debian';
  readonly suite: string;
}

/**
 * The digest of everything that defines a built image: suite, packages, the
 * files written into it and removed from it, templates and metadata, and the
 * build steps' version. The host's mirror is left out (it only decides where
 * the same packages come from). Pure: the same recipe always names the same image.
 */
export function recipeDigest(recipe: ImageRecipe): string {
  const placeholder = { uri: 'MIRROR', signedBy: undefined, components: ['main'], origin: '' };
  const content = {
    steps: BUILD_STEPS_VERSION,
    distro: recipe.distro,
    suite: recipe.suite,
    packages: IMAGE_PACKAGES,
    removed: ROOTFS_REMOVED,
    templates: IMAGE_TEMPLATES,
    files: rootfsFiles({ suite: recipe.suite, mirror: placeholder, security: { ...placeholder, uri: 'SECURITY' } }),
    metadata: imageMetadataYaml({ arch: imageArchitecture('x64'), suite: recipe.suite, createdAt: new Date(0) }),
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/**
 * The local alias a built image lives under: `distctl-debian-bookworm-<digest>`.
 * An image is reused as long as an alias with its digest exists, and a changed
 * recipe builds a new one next to it, never over an image containers came from.
 */
export function recipeAlias(recipe: ImageRecipe): string {
  return `distctl-${recipe.distro}-${recipe.suite}-${recipeDigest(recipe).slice(0, 12)}`;
}

/** Reads `debian/bookworm` as a recipe; undefined for anything else (validation rejects it first). */
export function parseRecipe(build: string): ImageRecipe | undefined {
  const match = /^debian\/([a-z]+)$/.exec(build);
  return match && BUILDABLE_SUITES.includes(match[1]!) ? { distro: 'debian', suite: match[1]! } : undefined;
}
