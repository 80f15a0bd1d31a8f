/** The answer of one HTTP probe of a service endpoint; a failure is a value. */
export type ProbeResult =
  | { readonly ok: boolean; readonly status: number; readonly body: unknown }
  | { readonly ok: false; readonly status: null; readonly error: string };

/**
 * How long a status probe waits for an answer, connection included: 1 s, as
 * Kubernetes' probes. A refused connection answers at once; an endpoint that
 * takes longer is reported as timed out, which for /ready means not ready.
 */
export const PROBE_TIMEOUT_MS = 1_000;

/** GETs `url` with a bounded timeout; parses JSON bodies. Never throws. */
export async function probeHttp(
  url: string,
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<ProbeResult> {
  const fetcher = options.fetch ?? fetch;
  try {
    const response = await fetcher(url, { signal: AbortSignal.timeout(options.timeoutMs ?? PROBE_TIMEOUT_MS) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { ok: response.ok, status: response.status, body };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    const name = (error as Error).name;
    return {
      ok: false,
      status: null,
      error: name === 'TimeoutError' ? 'timed out' : (cause ?? (error as Error).message),
    };
  }
}
