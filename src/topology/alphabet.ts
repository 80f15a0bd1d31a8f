/**
 * The routing alphabet and letter, as topology checks (range overlap and
 * coverage) use them: the one definition lives in the routing contract the
 * web service imports too, so the CLI and the service cannot disagree.
 */
export { ROUTING_ALPHABET, letterIndex, routingLetter } from '../services/shared/routing.js';
