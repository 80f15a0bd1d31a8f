// `distctl image build` and the image helpers other commands need (doctor, up).
export { buildImage, type BuildImageOptions } from './build.js';
export { IMAGE_PROJECT, imageAliasTarget, imageExists } from './store.js';
export { findSuiteSource, parseDeb822Sources, parseOneLineSources, pickMirror, readAptSources } from './apt-sources.js';
export {
  ensureRecipeImages,
  missingRecipeImages,
  recipeImages,
  type ImageBuilder,
  type RecipeImage,
  type RecipeImageOutcome,
} from './ensure.js';
