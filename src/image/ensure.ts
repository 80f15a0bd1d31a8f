import type { DerivedContainer } from '../derive/types.js';
import type { IncusClient } from '../incus/client.js';
import type { BuildImageOptions, BuildImageResult } from './build.js';
import type { ImageRecipe } from './recipe.js';
import { imageAliasTarget } from './store.js';

/** One image the topology asks distctl to build, with the containers that start from it. */
export interface RecipeImage {
  readonly alias: string;
  readonly recipe: ImageRecipe;
  readonly containers: readonly string[];
}

/** What happened to one recipe image: it was there already (reused by content) or it was built now. */
export interface RecipeImageOutcome {
  readonly alias: string;
  readonly outcome: 'reused' | 'built';
  readonly seconds: number | null;
}

/** The distinct recipe images of these containers (several containers share one build). */
export function recipeImages(containers: readonly DerivedContainer[]): RecipeImage[] {
  const byAlias = new Map<string, RecipeImage>();
  for (const container of containers) {
    if (container.imageBuild === null) continue;
    const known = byAlias.get(container.image);
    const containerNames = [...(known?.containers ?? []), container.name];
    byAlias.set(container.image, { alias: container.image, recipe: container.imageBuild, containers: containerNames });
  }
  return [...byAlias.values()];
}

/** The recipe images among `images` that Incus does not hold yet: one alias lookup each. */
export async function missingRecipeImages(client: IncusClient, images: readonly RecipeImage[]): Promise<RecipeImage[]> {
  const targets = await Promise.all(images.map((image) => imageAliasTarget(client, image.alias)));
  const present = targets.map((target) => target !== undefined);
  return images.filter((_, index) => !present[index]);
}

/** Builds an image; `up` and `doctor --fix` pass `buildImage` with the real runner, tests a fake. */
export type ImageBuilder = (
  request: Pick<BuildImageOptions, 'alias' | 'suite' | 'onProgress'>,
) => Promise<BuildImageResult>;

/**
 * Makes sure every recipe image the given containers start from exists: an
 * alias that is there is reused (its name is the recipe's digest, so the same
 * content is never built twice), a missing one is built, one after another.
 */
export async function ensureRecipeImages(
  containers: readonly DerivedContainer[],
  deps: { readonly client: IncusClient; readonly build: ImageBuilder; readonly onProgress?: (message: string) => void },
): Promise<RecipeImageOutcome[]> {
  const images = recipeImages(containers);
  const missing = new Set((await missingRecipeImages(deps.client, images)).map((image) => image.alias));
  const outcomes: RecipeImageOutcome[] = [];
  for (const image of images) {
    if (!missing.has(image.alias)) {
      outcomes.push({ alias: image.alias, outcome: 'reused', seconds: null });
      continue;
    }
    const label = `image ${image.alias} (${image.recipe.distro}/${image.recipe.suite})`;
    deps.onProgress?.(`${label}: building with debootstrap, once per recipe`);
    const onProgress = (step: string) => deps.onProgress?.(`${label}: ${step}`);
    const result = await deps.build({ alias: image.alias, suite: image.recipe.suite, onProgress });
    outcomes.push({ alias: image.alias, outcome: 'built', seconds: result.seconds });
  }
  return outcomes;
}
