/** How long and how often to wait for something MongoDB does in the background (elections, startup). */
export interface PollOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * Calls `attempt` until it returns a value other than undefined, waiting
 * `intervalMs` between calls; returns undefined once `timeoutMs` has passed.
 * Always makes at least one attempt, and never sleeps past the deadline.
 */
export async function poll<T>(attempt: () => Promise<T | undefined>, options: PollOptions): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    // The global timer, not node:timers/promises, so tests can drive polling with fake timers.
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.intervalMs, left)));
  }
}
