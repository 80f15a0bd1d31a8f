// `distctl image build` and the image helpers other commands need (doctor, up).
export { buildImage, type BuildImageOptions, type BuildImageResult } from './build.js';
export { IMAGE_PROJECT, imageAliasTarget, imageExists, type ImageRecord } from './store.js';
export {
  findSuiteSource,
  parseAptSourceFile,
  parseDeb822Sources,
  parseOneLineSources,
  pickMirror,
  readAptSources,
  type AptSource,
  type AptSourceFile,
  type MirrorChoice,
} from './apt-sources.js';
export { BUILDABLE_SUITES, parseRecipe, recipeAlias, recipeDigest, type ImageRecipe } from './recipe.js';
export {
  ensureRecipeImages,
  missingRecipeImages,
  recipeImages,
  type ImageBuilder,
  type RecipeImage,
  type RecipeImageOutcome,
} from './ensure.js';
