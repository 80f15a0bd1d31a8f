import { DistctlError } from '../errors/index.js';

/**
 * Runs `work` for every item at once and waits for all of them, so one container's failure neither hides
 * nor interrupts another's. When some fail, one error names every failing container with its cause:
 * containers failing for the same reason are said once, together, as the containers stage of `up` does
 * ("containers db1, db2: …"); each further cause follows in `details` ("also failed: …").
 *
 * A failure that is not a DistctlError (a server's unexpected answer, or a bug) is rethrown as it is:
 * the caller reports those on its own terms, and a bug keeps its stack.
 */
export async function inEveryContainer<Item, Result>(
  items: readonly Item[],
  containerOf: (item: Item) => string,
  work: (item: Item) => Promise<Result>,
): Promise<Result[]> {
  const outcomes = await Promise.allSettled(items.map((item) => work(item)));
  const failures = outcomes.flatMap((outcome, index) =>
    outcome.status === 'rejected' ? [{ container: containerOf(items[index]!), error: outcome.reason as unknown }] : [],
  );
  if (failures.length === 0) return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<Result>).value);
  const foreign = failures.find((failure) => !(failure.error instanceof DistctlError));
  if (foreign !== undefined) throw foreign.error;

  const groups = new Map<string, { containers: string[]; error: DistctlError }>();
  for (const { container, error } of failures as { container: string; error: DistctlError }[]) {
    const group = groups.get(error.message) ?? { containers: [], error };
    if (!group.containers.includes(container)) group.containers.push(container);
    groups.set(error.message, group);
  }
  const [first, ...others] = [...groups.values()];
  // One container whose error already names it needs no relabelling: it is passed on unchanged.
  if (others.length === 0 && failures.length === 1 && names(first!.error.message, first!.containers[0]!))
    throw first!.error;
  throw new DistctlError(first!.error.code, describe(first!), {
    hint: first!.error.hint,
    details: [...first!.error.details, ...others.map((group) => `also failed: ${describe(group)}`)],
    cause: first!.error,
  });
}

/** `container db1: why`, `containers db1, db3: why`, or just `why` when it names its only container. */
function describe(group: { containers: readonly string[]; error: DistctlError }): string {
  const { containers, error } = group;
  if (containers.length === 1 && names(error.message, containers[0]!)) return error.message;
  return `${containers.length === 1 ? 'container' : 'containers'} ${containers.join(', ')}: ${error.message}`;
}

/** Whether `message` mentions `container` as a word of its own (db1 is not named by "db10"). */
function names(message: string, container: string): boolean {
  return message.split(/[^\w.-]+/).some((word) => word.replace(/[.-]+$/, '') === container);
}
