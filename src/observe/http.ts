/** The answer of one HTTP probe of a service endpoint; a failure is a value. */
export type ProbeResult =
  | { readonly ok: boolean; readonly status: number; readonly body: unknown }
  | { readonly ok: false; readonly status: null; readonly error: string };

/** GETs `url` with a bounded timeout; parses JSON bodies. Never throws. */
export async function probeHttp(
  url: string,
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<ProbeResult> {
  const fetcher = options.fetch ?? fetch;
  try {
    const response = await fetcher(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 3_000) });
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
