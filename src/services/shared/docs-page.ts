/**
 * The human-readable API page both services serve (`GET /` on auth-server,
 * `GET /docs` on web-server), generated from the same endpoint table the
 * apps register, so it cannot drift out of the bundle or out of date.
 */

import { createHash } from 'node:crypto';

/** The page's only style, inline; the CSP allows exactly this text by its hash. */
const DOCS_STYLE =
  'body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse;width:100%}' +
  'td,th{border:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}' +
  'code{background:#f4f4f4;padding:0 .2rem}';

/** The API page's Content-Security-Policy: no script at all, its one style by hash, no framing. */
export const DOCS_CSP =
  `default-src 'none'; style-src 'sha256-${createHash('sha256').update(DOCS_STYLE).digest('base64')}'; ` +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** One documented endpoint. */
export interface EndpointDoc {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  /** Who may call it: `public`, `token` (any logged-in user) or `admin`. */
  readonly access: 'public' | 'token' | 'admin';
  readonly summary: string;
  /** Example JSON body, when the endpoint takes one. */
  readonly body?: string;
  /** What a successful call answers. */
  readonly returns: string;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** A complete HTML page documenting `endpoints`. */
export function renderApiDocs(title: string, intro: string, endpoints: readonly EndpointDoc[]): string {
  const rows = endpoints
    .map(
      (e) =>
        `<tr><td><code>${e.method}</code></td><td><code>${escapeHtml(e.path)}</code></td><td>${e.access}</td>` +
        `<td>${escapeHtml(e.summary)}${e.body ? `<br>Body: <code>${escapeHtml(e.body)}</code>` : ''}</td>` +
        `<td>${escapeHtml(e.returns)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${DOCS_STYLE}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(intro)}</p>
<p>Errors are JSON: <code>{"error": {"code": "...", "message": "...", "field": "..."}}</code>.
Authenticated calls send <code>Authorization: Bearer &lt;token&gt;</code> (HS256 JWT, 1 hour).</p>
<table><thead><tr><th>Method</th><th>Path</th><th>Access</th><th>What</th><th>Returns</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
