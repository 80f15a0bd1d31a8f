import { NotOnHostNetworkError, hostFetch } from '../exec/reach.js';

/** The answer of one HTTP probe of a service endpoint; a failure is a value. */
export type ProbeResult =
  | { readonly ok: boolean; readonly status: number; readonly body: unknown }
  | { readonly ok: false; readonly status: null; readonly error: string };

/**
 * How long a status probe waits for an answer, connection included. A refused
 * connection answers at once; the bound is for an answer, and stays at 3 s
 * because on a loaded host a healthy service's /ready (a database ping) can
 * take longer than a second.
 */
export const PROBE_TIMEOUT_MS = 3_000;

/**
 * GETs `url` with a bounded timeout; parses JSON bodies. Never throws. By default through `hostFetch`, so an
 * address this host reaches only through a gateway is not probed.
 */
export async function probeHttp(
  url: string,
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<ProbeResult> {
  const fetcher = options.fetch ?? hostFetch;
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
    if (error instanceof NotOnHostNetworkError) return { ok: false, status: null, error: error.message };
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    const name = (error as Error).name;
    return {
      ok: false,
      status: null,
      error: name === 'TimeoutError' ? 'timed out' : (cause ?? (error as Error).message),
    };
  }
}
