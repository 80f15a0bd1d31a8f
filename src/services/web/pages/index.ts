/**
 * The web dashboard served by web-server itself: HTML pages under /app/,
 * one stylesheet and one script under /static/. Everything is embedded (the
 * service ships as a single bundle that reads no files) and nothing comes from
 * another origin (the containers have no internet).
 */
import type { Express } from 'express';
import { APP_JS } from './client-app.js';
import { DASHBOARD_PAGES } from './html.js';
import { APP_CSS } from './styles.js';

/**
 * The pages' Content-Security-Policy: scripts and styles only from files of
 * this origin (no inline code, so injected markup could not run), API calls
 * only to this origin, and no framing.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** The static assets, by path. */
export const STATIC_ASSETS: Readonly<Record<string, { readonly type: string; readonly body: string }>> = {
  '/static/app.css': { type: 'text/css; charset=utf-8', body: APP_CSS },
  '/static/app.js': { type: 'text/javascript; charset=utf-8', body: APP_JS },
};

/** Adds `GET /` (→ /app/), the dashboard pages and their static assets to web-server's app. */
export function mountDashboard(app: Express): void {
  app.get('/', (_req, res) => {
    res.redirect(302, '/app/');
  });
  for (const page of DASHBOARD_PAGES) {
    app.get(page.route, (_req, res) => {
      // no-store: the pages are tiny, and a redeploy must never leave a stale page calling a changed script.
      res
        .set({ 'Content-Security-Policy': PAGE_CSP, 'Cache-Control': 'no-store' })
        .type('text/html; charset=utf-8')
        .send(page.html);
    });
  }
  for (const [path, asset] of Object.entries(STATIC_ASSETS)) {
    app.get(path, (_req, res) => {
      // no-cache revalidates with the ETag express computes, so a new deploy is picked up at once.
      res.set({ 'Cache-Control': 'no-cache', 'Content-Type': asset.type }).send(asset.body);
    });
  }
}
