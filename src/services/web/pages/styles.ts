/** /static/app.css: system fonts only (the containers have no internet), visible focus, readable notices. */
export const APP_CSS = `
:root { --ink: #1d2330; --muted: #5b6475; --line: #d5d9e0; --accent: #1f5fbf; --bg: #f6f7f9;
  --error: #a4161a; --error-bg: #fdecec; --warn: #7a4d00; --warn-bg: #fff4d6; --ok: #1b6e3a; --ok-bg: #e7f6ec; --info-bg: #e8f0fc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); background: var(--bg); }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; padding: .6rem 1.5rem; background: #fff; border-bottom: 1px solid var(--line); }
.top nav { display: flex; gap: 1rem; flex: 1; }
.brand { font-weight: 700; color: var(--ink); text-decoration: none; }
.who { color: var(--muted); }
main { max-width: 64rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .75rem; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #7aa7ef; outline-offset: 2px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.25rem; max-width: 28rem; }
.field { display: flex; flex-direction: column; margin-bottom: .75rem; }
.toolbar { display: flex; flex-wrap: wrap; align-items: flex-end; gap: .75rem; margin-bottom: 1rem; }
.toolbar .field { margin-bottom: 0; }
label { font-weight: 600; font-size: .9rem; margin-bottom: .2rem; }
input, select { font: inherit; padding: .4rem .5rem; border: 1px solid #aab2bf; border-radius: 4px; background: #fff; }
input[aria-invalid=true] { border-color: var(--error); box-shadow: 0 0 0 2px var(--error-bg); }
button, .button { font: inherit; padding: .45rem .9rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
button.link { background: none; border: none; padding: 0; color: var(--accent); text-decoration: underline; }
button.danger { color: var(--error); }
button.sort { background: none; border: none; padding: 0; color: inherit; font-weight: 700; }
th[aria-sort=ascending] button.sort::after { content: " ▲"; }
th[aria-sort=descending] button.sort::after { content: " ▼"; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
caption { caption-side: bottom; text-align: left; padding: .5rem 0; color: var(--muted); }
th, td { padding: .45rem .7rem; border-bottom: 1px solid var(--line); text-align: left; }
th { background: #eef0f4; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.empty { text-align: center; color: var(--muted); padding: 1.5rem; }
.shard { display: inline-block; padding: 0 .45rem; border-radius: 999px; background: #e3e8f2; font-family: ui-monospace, monospace; font-size: .85rem; }
.pager { display: flex; gap: .5rem; margin-top: .25rem; }
.notice { padding: .6rem .9rem; border-radius: 4px; border: 1px solid; margin: 0 0 1rem; }
.notice-error { color: var(--error); background: var(--error-bg); }
.notice-warning { color: var(--warn); background: var(--warn-bg); font-weight: 600; }
.notice-success { color: var(--ok); background: var(--ok-bg); }
.notice-info { color: var(--accent); background: var(--info-bg); }
.hint { color: var(--muted); max-width: 40rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
[hidden] { display: none !important; }
`;
