/**
 * Body validation: a zod schema per request body, and one translation of its
 * first problem into the 400 `{code, message, field}` the clients see. Unknown
 * fields are refused (strict objects) so typos like `prize` never pass silently.
 */
import type { z } from 'zod';
import { validationError } from './errors.js';

/** The parsed body, or a 400 naming the first offending field and the rule it breaks. */
export function parseBody<S extends z.ZodType>(schema: S, body: Record<string, unknown>): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw validationError('body', 'is invalid');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? 'body';
    return fail(key, 'is not a known field');
  }
  const field = issue.path.map(String).join('.') || 'body';
  const top = issue.path[0];
  if (issue.code === 'invalid_type' && typeof top === 'string' && body[top] === undefined)
    return fail(field, 'is required');
  return fail(field, issue.message);
}

function fail(field: string, rule: string): never {
  throw validationError(field, rule);
}
